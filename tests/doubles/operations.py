"""What the providers do for each operation, for real: Docker API calls and local commands.

Docker: the calls pulumi-docker (kreuzwerker/terraform-provider-docker) makes for Network,
Volume, Container and RemoteImage, with its behaviour where kindreg depends on it:
- a volume created under an existing name is that volume (Docker hands it back), so a kept
  cache is adopted by the next create;
- deleting a network or a volume still in use is retried for up to 30 s, then fails
  (resource_docker_{network,volume}.go: the "in use" refresh loops);
- containers start after their uploads, and `wait` waits for the health check;
- deleting a container that is already gone succeeds (resourceDockerContainerDelete in
  resource_docker_container_funcs.go ignores "No such container"), which the drift-only
  replacement of a removed container relies on.
Command: pulumi-command's local `run` (provider/pkg/provider/local/commandOutputs.go): the
script under `/bin/sh -c` (or `interpreter`), in `dir` or the provider's working directory,
with the provider's environment plus `environment` plus, unless addPreviousOutputInEnv is
false, the previous PULUMI_COMMAND_STDOUT/STDERR; stdin when not empty; stdout and stderr
with one trailing newline trimmed; a failure reports the script and its combined output.
"""
from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Callable, Optional

import docker
import docker.errors

from tests.doubles import ownership

IN_USE_RETRY_SECONDS = 30


class ProviderError(Exception):
    """An operation failed the way the provider's would: the engine reports the message."""


# ---------------------------------------------------------------- docker

class Docker:
    def __init__(self, client: docker.DockerClient):
        self.client = client
        self.api = client.api

    def create(self, typ: str, i: dict) -> tuple[str, dict]:
        return getattr(self, f"_create_{typ.split(':')[-1]}")(i)

    def delete(self, typ: str, rid: str, state: dict) -> None:
        getattr(self, f"_delete_{typ.split(':')[-1]}")(rid, state)

    def update(self, typ: str, rid: str, i: dict) -> dict:
        if typ.endswith(":Container"):
            # resourceDockerContainerUpdate (resource_docker_container_funcs.go, v4.5.0): a stopped
            # container whose must_run comes back true is started (lines 997-1010); restart
            # policy (and resource limits) change in place (lines 1053-1068).
            if i.get("mustRun") and not self.api.inspect_container(rid)["State"]["Running"]:
                self.api.start(rid)
            if i.get("restart"):
                self.api.update_container(rid, restart_policy={"Name": i["restart"]})
        return {**i, "id": rid}

    def exists(self, typ: str, rid: str) -> bool:
        getter = {"Network": self.client.networks.get, "Volume": self.client.volumes.get,
                  "Container": self.client.containers.get, "RemoteImage": self.client.images.get}
        try:
            getter[typ.split(":")[-1]](rid)
            return True
        except docker.errors.NotFound:
            return False

    # -------------------------------------------------------------- network
    def _create_Network(self, i: dict) -> tuple[str, dict]:
        pools = [docker.types.IPAMPool(subnet=c.get("subnet"), gateway=c.get("gateway"),
                                       iprange=c.get("ipRange")) for c in i.get("ipamConfigs", [])]
        try:
            net = self.client.networks.create(
                i["name"], driver=i.get("driver", "bridge"), ipam=docker.types.IPAMConfig(pool_configs=pools),
                options=i.get("options"), labels=labels(i), check_duplicate=True)
        except docker.errors.APIError as err:
            raise ProviderError(f"Unable to create network: {err.explanation or err}") from None
        return net.id, {**i, "id": net.id, "scope": "local"}

    def _delete_Network(self, rid: str, state: dict) -> None:
        self._retry_in_use(lambda: self.client.networks.get(rid).remove(), "network", rid)

    # -------------------------------------------------------------- volume
    def _create_Volume(self, i: dict) -> tuple[str, dict]:
        vol = self.client.volumes.create(name=i["name"], labels=labels(i))  # an existing one is handed back
        return vol.name, {**i, "driver": vol.attrs.get("Driver"), "mountpoint": vol.attrs.get("Mountpoint")}

    def _delete_Volume(self, rid: str, state: dict) -> None:
        self._retry_in_use(lambda: self.client.volumes.get(rid).remove(force=True), "volume", rid)

    def _retry_in_use(self, remove: Callable[[], None], what: str, rid: str) -> None:
        deadline = time.time() + IN_USE_RETRY_SECONDS
        while True:
            try:
                remove()
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as err:
                text = str(err.explanation or err)
                if not re.search(r"in use|active endpoints", text) or time.time() > deadline:
                    raise ProviderError(f"Error removing {what} {rid}: {text}") from None
                time.sleep(1)

    # -------------------------------------------------------------- image
    def _create_RemoteImage(self, i: dict) -> tuple[str, dict]:
        try:
            image = self.client.images.get(i["name"])
        except docker.errors.ImageNotFound:
            try:
                image = self.client.images.pull(i["name"])
            except docker.errors.APIError as err:
                raise ProviderError(f"Unable to pull image {i['name']}: {err.explanation or err}") from None
        return f"{image.id}{i['name']}", {**i, "imageId": image.id, "repoDigest": ""}

    def _delete_RemoteImage(self, rid: str, state: dict) -> None:
        if not state.get("keepLocally"):
            try:
                self.client.images.remove(state.get("imageId", rid))
            except docker.errors.NotFound:
                pass

    # -------------------------------------------------------------- container
    def _create_Container(self, i: dict) -> tuple[str, dict]:
        nets = i.get("networksAdvanced", [])
        endpoint = {n["name"]: self.api.create_endpoint_config(
            ipv4_address=n.get("ipv4Address"), aliases=n.get("aliases")) for n in nets[:1]}
        ports = {p["internal"]: (p.get("ip", "0.0.0.0"), p.get("external")) for p in i.get("ports", [])}
        host_config = self.api.create_host_config(
            restart_policy={"Name": i.get("restart", "no")}, port_bindings=ports or None,
            mounts=[docker.types.Mount(v["containerPath"], v["volumeName"], type="volume")
                    for v in i.get("volumes", [])],
            cap_add=(i.get("capabilities") or {}).get("adds"))
        try:
            created = self.api.create_container(
                i["image"], name=i["name"], hostname=i.get("hostname"), entrypoint=i.get("entrypoints"),
                command=i.get("command"), environment=i.get("envs"), labels=labels(i),
                ports=list(ports) or None, healthcheck=_healthcheck(i.get("healthcheck")),
                host_config=host_config, networking_config=self.api.create_networking_config(endpoint))
        except docker.errors.APIError as err:
            raise ProviderError(f"Unable to create container: {err.explanation or err}") from None
        cid = created["Id"]
        for extra in nets[1:]:
            self.client.networks.get(extra["name"]).connect(cid, ipv4_address=extra.get("ipv4Address"))
        if i.get("uploads"):
            self.api.put_archive(cid, "/", upload_tar(i["uploads"]))
        self.api.start(cid)
        if i.get("wait"):
            self._wait_healthy(cid, int(i.get("waitTimeout") or 60))
        return cid, {**i, "id": cid, **self._published(cid, i.get("ports"))}

    def _published(self, cid: str, ports: Optional[list]) -> dict:
        """A port with no `external` gets "a free random port" (the SDK's ContainerPort docs); the
        provider reads the container back, so state holds the port the engine chose."""
        if not ports:
            return {}
        bound = self.api.inspect_container(cid)["NetworkSettings"]["Ports"] or {}
        return {"ports": [{**p, "external": p.get("external") or int(bound[f"{p['internal']}/tcp"][0]["HostPort"])}
                          for p in ports]}

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
        raise ProviderError(f"container {cid[:12]} not healthy within {timeout}s:\n{logs}")

    def _delete_Container(self, rid: str, state: dict) -> None:
        try:
            self.api.remove_container(rid, force=True, v=state.get("removeVolumes", True))
        except docker.errors.NotFound:
            pass


def labels(i: dict) -> dict:
    # The program's labels, plus the test run's own (tests/doubles/ownership.py): clean-up
    # removes only what carries it.
    return {**{x["label"]: x["value"] for x in i.get("labels", [])}, **ownership.labels()}


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


def upload_tar(uploads: list[dict]) -> bytes:
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


# ---------------------------------------------------------------- local commands

def run_command(script: str, i: dict, previous: Optional[dict] = None,
                base_env: Optional[dict] = None, cwd: Optional[str] = None) -> tuple[str, str]:
    """(stdout, stderr) of one of a Command's scripts, or ProviderError as the provider reports it."""
    env = {**(base_env if base_env is not None else os.environ), **(i.get("environment") or {})}
    if i.get("addPreviousOutputInEnv", True) and previous:
        for key, out in (("PULUMI_COMMAND_STDOUT", "stdout"), ("PULUMI_COMMAND_STDERR", "stderr")):
            if previous.get(out):
                env[key] = previous[out]
    argv = [*(i.get("interpreter") or ["/bin/sh", "-c"]), script]
    proc = subprocess.run(argv, input=i.get("stdin") or None, env=env, text=True,
                          cwd=i.get("dir") or cwd or os.getcwd(), capture_output=True)
    if proc.returncode != 0:
        raise ProviderError(f"exit status {proc.returncode}: running {script!r}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout.removesuffix("\n"), proc.stderr.removesuffix("\n")
