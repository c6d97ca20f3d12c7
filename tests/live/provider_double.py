"""Provider DOUBLE for kindreg's live tests: not `pulumi up`, a stand-in for its providers.

The unmodified program runs under `pulumi.runtime.Mocks`; this double's `new_resource` makes
the Docker API calls pulumi-docker would make (Network, Volume, Container, RemoteImage) and
runs pulumi-command's scripts for real (local.Command). It keeps a small state per stack so a
second `up` changes only what changed (replace, or a Command's update script) and deletes
what the program no longer declares, and `destroy` deletes a stack's resources in reverse
creation order, running delete scripts and honouring retain_on_delete.

What it does not prove: the Pulumi engine's own diffing, parallelism and state handling, and
the real providers' code. The program's graph is what it exercises, for real.
"""
from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import docker
import docker.errors
from pulumi.runtime import mocks as pmocks

from components import program
from tests.mocks.harness import run_program, unwrap as plain

_STATE_LOCK = threading.Lock()  # guards the double's state; Docker work runs in parallel, as the engine's does
_CLIENTS = threading.local()


def _client() -> docker.DockerClient:
    """One Docker client per thread: the mocks call new_resource from a thread pool."""
    if not hasattr(_CLIENTS, "client"):
        _CLIENTS.client = docker.from_env()
    return _CLIENTS.client


@dataclass
class Record:
    type: str
    name: str
    id: str
    inputs: dict
    outputs: dict
    retain_on_delete: bool
    seq: int


class DestroyRefused(Exception):
    """A delete script failed: the destroy stopped there, as the engine stops."""


@dataclass
class Machine:
    """What the double knows across stacks, like a Pulumi backend plus the providers."""

    client: docker.DockerClient
    command_env: dict  # environment of local.Command scripts (PATH with the kind double)
    workdir: Path
    stacks: dict[str, dict[str, Record]] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    seq: int = 0

    def up(self, stack: str, config: dict, host: program.Host, secret_keys: tuple = ()) -> dict:
        double = ProviderDouble(self, stack)
        outputs = run_program(double, DoubleMonitor(double), stack, config, host, secret_keys)
        double.delete_undeclared()
        self.outputs[stack] = outputs
        return outputs

    def destroy(self, stack: str) -> None:
        records = self.stacks.get(stack, {})
        for key, rec in sorted(records.items(), key=lambda kv: -kv[1].seq):
            Provider(self).delete(rec)
            del records[key]
        self.outputs.pop(stack, None)


class DoubleMonitor(pmocks.MockMonitor):
    """Hands the double the resource options the mocks API leaves out."""

    def RegisterResource(self, request):
        self.mocks.options[(request.type, request.name)] = {"retain_on_delete": request.retainOnDelete}
        return super().RegisterResource(request)


class ProviderDouble(pmocks.Mocks):
    def __init__(self, machine: Machine, stack: str):
        self.machine, self.stack = machine, stack
        self.state = machine.stacks.setdefault(stack, {})
        self.options: dict = {}
        self.seen: set[str] = set()

    def new_resource(self, args: pmocks.MockResourceArgs):
        if args.typ == "pulumi:pulumi:StackReference":
            name = args.inputs["name"]
            if name not in self.machine.outputs:
                raise Exception(f"unknown stack {name!r}")
            return name, {"name": name, "outputs": self.machine.outputs[name], "secretOutputNames": []}
        if not args.custom:
            return args.name, {}
        return self._apply(args)

    def _apply(self, args: pmocks.MockResourceArgs):
        key = f"{args.typ}::{args.name}"
        inputs = plain(args.inputs)
        with _STATE_LOCK:
            self.seen.add(key)
            old = self.state.get(key)
        provider = Provider(self.machine)
        if old and old.inputs == inputs:
            return old.id, old.outputs
        if old and provider.updates_in_place(old, inputs):
            rid, outputs = provider.update(old, inputs)
        else:
            if old:
                provider.delete(old)  # fixed names: the old one goes first
            rid, outputs = provider.create(args.typ, args.name, inputs)
        retain = self.options.get((args.typ, args.name), {}).get("retain_on_delete", False)
        with _STATE_LOCK:
            # Creation order respects dependencies (a resource registers after its inputs
            # resolve), so reverse order is a safe delete order.
            self.machine.seq += 1
            self.state[key] = Record(args.typ, args.name, rid, inputs, outputs, retain, self.machine.seq)
        return rid, outputs

    def delete_undeclared(self) -> None:
        gone = [(k, r) for k, r in self.state.items() if k not in self.seen]
        for key, rec in sorted(gone, key=lambda kv: -kv[1].seq):
            Provider(self.machine).delete(rec)
            del self.state[key]

    def call(self, args: pmocks.MockCallArgs):
        return {}


class Provider:
    """The Docker and command operations, by resource type."""

    def __init__(self, machine: Machine):
        self.m = machine
        self.client = _client()
        self.api = self.client.api

    # -------------------------------------------------------------- dispatch
    def create(self, typ: str, name: str, inputs: dict) -> tuple[str, dict]:
        kind = typ.split(":")[-1]
        return getattr(self, f"_create_{kind}")(name, inputs)

    def delete(self, rec: Record) -> None:
        getattr(self, f"_delete_{rec.type.split(':')[-1]}")(rec)

    def updates_in_place(self, old: Record, inputs: dict) -> bool:
        # pulumi-command: a Command with an `update` script is updated, not replaced.
        return old.type == "command:local:Command" and bool(inputs.get("update"))

    def update(self, old: Record, inputs: dict) -> tuple[str, dict]:
        out = self._run(inputs.get("update") or inputs["create"], inputs, old.name)
        return old.id, {**inputs, "stdout": out.stdout.rstrip("\n"), "stderr": out.stderr}

    # -------------------------------------------------------------- docker
    def _create_Network(self, name: str, i: dict) -> tuple[str, dict]:
        pools = [docker.types.IPAMPool(subnet=c.get("subnet"), gateway=c.get("gateway"),
                                       iprange=c.get("ipRange")) for c in i.get("ipamConfigs", [])]
        net = self.client.networks.create(
            i["name"], driver=i.get("driver", "bridge"), ipam=docker.types.IPAMConfig(pool_configs=pools),
            options=i.get("options"), labels=_labels(i), check_duplicate=True)
        return net.id, {**i, "id": net.id}

    def _delete_Network(self, rec: Record) -> None:
        _ignore_missing(lambda: self.client.networks.get(rec.id).remove())

    def _create_Volume(self, name: str, i: dict) -> tuple[str, dict]:
        vol = self.client.volumes.create(name=i["name"], labels=_labels(i))  # existing: adopted
        return vol.name, {**i, "mountpoint": vol.attrs.get("Mountpoint")}

    def _delete_Volume(self, rec: Record) -> None:
        if not rec.retain_on_delete:
            _ignore_missing(lambda: self.client.volumes.get(rec.id).remove(force=True))

    def _create_RemoteImage(self, name: str, i: dict) -> tuple[str, dict]:
        try:
            image = self.client.images.get(i["name"])
        except docker.errors.ImageNotFound:
            image = self.client.images.pull(i["name"])  # fails offline, as the provider would
        return image.id, {**i, "imageId": image.id}

    def _delete_RemoteImage(self, rec: Record) -> None:
        if not rec.inputs.get("keepLocally"):
            _ignore_missing(lambda: self.client.images.remove(rec.id))

    def _create_Container(self, name: str, i: dict) -> tuple[str, dict]:
        nets = i.get("networksAdvanced", [])
        endpoint = {n["name"]: self.api.create_endpoint_config(
            ipv4_address=n.get("ipv4Address"), aliases=n.get("aliases")) for n in nets[:1]}
        ports = {p["internal"]: (p.get("ip", "0.0.0.0"), p.get("external")) for p in i.get("ports", [])}
        host_config = self.api.create_host_config(
            restart_policy={"Name": i.get("restart", "no")}, port_bindings=ports or None,
            mounts=[docker.types.Mount(v["containerPath"], v["volumeName"], type="volume")
                    for v in i.get("volumes", [])],
            cap_add=(i.get("capabilities") or {}).get("adds"))
        created = self.api.create_container(
            i["image"], name=i["name"], hostname=i.get("hostname"), entrypoint=i.get("entrypoints"),
            command=i.get("command"), environment=i.get("envs"), labels=_labels(i),
            ports=list(ports) or None, healthcheck=_healthcheck(i.get("healthcheck")),
            host_config=host_config, networking_config=self.api.create_networking_config(endpoint))
        cid = created["Id"]
        for extra in nets[1:]:
            self.client.networks.get(extra["name"]).connect(cid, ipv4_address=extra.get("ipv4Address"))
        if i.get("uploads"):
            self.api.put_archive(cid, "/", _upload_tar(i["uploads"]))
        self.api.start(cid)
        if i.get("wait"):
            self._wait_healthy(cid, i.get("wait_timeout") or i.get("waitTimeout") or 60)
        return cid, {**i, "id": cid}

    def _wait_healthy(self, cid: str, timeout: int) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = self.api.inspect_container(cid)["State"]
            health = (state.get("Health") or {}).get("Status", "healthy" if state["Running"] else "")
            if health == "healthy":
                return
            if not state["Running"] and state.get("Status") == "exited":
                break
            time.sleep(0.5)
        logs = self.api.logs(cid, tail=30).decode(errors="replace")
        raise Exception(f"container {cid[:12]} not healthy within {timeout}s:\n{logs}")

    def _delete_Container(self, rec: Record) -> None:
        _ignore_missing(lambda: self.api.remove_container(rec.id, force=True, v=False))

    # -------------------------------------------------------------- commands
    def _create_Command(self, name: str, i: dict) -> tuple[str, dict]:
        out = self._run(i["create"], i, name) if i.get("create") else None
        return f"{name}-{time.monotonic_ns()}", {**i, "stdout": out.stdout.rstrip("\n") if out else "",
                                         "stderr": out.stderr if out else ""}

    def _delete_Command(self, rec: Record) -> None:
        if rec.inputs.get("delete"):
            out = self._run(rec.inputs["delete"], rec.inputs, rec.name, check=False)
            if out.returncode != 0:
                raise DestroyRefused(f"delete of {rec.name} failed:\n{out.stderr}")

    def _run(self, script: str, i: dict, name: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**self.m.command_env, **(i.get("environment") or {})}
        out = subprocess.run(["/bin/sh", "-c", script], input=i.get("stdin"), env=env, text=True,
                             cwd=i.get("dir") or self.m.workdir, capture_output=True)
        if check and out.returncode != 0:
            raise Exception(f"command {name} failed ({out.returncode}):\n{out.stderr}")
        return out


def _labels(i: dict) -> dict:
    return {x["label"]: x["value"] for x in i.get("labels", [])}


def _ignore_missing(fn) -> None:
    try:
        fn()
    except docker.errors.NotFound:
        pass


def _seconds_ns(text: Optional[str]) -> Optional[int]:
    if not text:
        return None
    total = 0.0
    for amount, unit in re.findall(r"([0-9.]+)(ms|s|m|h)", text):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return int(total * 1e9)


def _healthcheck(hc: Optional[dict]) -> Optional[dict]:
    if not hc:
        return None
    return {"test": hc["tests"], "interval": _seconds_ns(hc.get("interval")),
            "timeout": _seconds_ns(hc.get("timeout")), "retries": hc.get("retries"),
            "start_period": _seconds_ns(hc.get("startPeriod"))}


def _upload_tar(uploads: list[dict]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs: set[str] = set()
        for up in uploads:
            path = up["file"].lstrip("/")
            parts = path.split("/")[:-1]
            for n in range(1, len(parts) + 1):
                d = "/".join(parts[:n])
                if d not in dirs:
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                    dirs.add(d)
            data = _upload_data(up)
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o755 if up.get("executable") else int(up.get("permissions") or "0644", 8)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _upload_data(up: dict) -> bytes:
    if up.get("content") is not None:
        return up["content"].encode()
    if up.get("contentBase64") is not None:
        return base64.b64decode(up["contentBase64"])
    return Path(up["source"]).read_bytes()


def command_environment(bin_dir: Path, node_image: str, python: str) -> dict:
    """What the Command scripts see: the kind double first on PATH."""
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "KINDREG_TEST_NODE_IMAGE": node_image, "KINDREG_TEST_PYTHON": python}
