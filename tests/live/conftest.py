"""Live topology fixtures: a real Docker engine, offline-built images, an upstream, the double."""
from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from components.program import Host
from tests.doubles import ownership
from tests.images import oci_layout
from tests.live import images
from tests.live.provider_double import Machine, command_environment
from tests.requirements import need_tools, unavailable

BIN = Path(__file__).parent / "bin"
TEST_REPO = "library/kindreg-test"


@pytest.fixture(scope="session")
def engine():
    need_tools("docker", "docker-registry", "containerd", "skopeo", "busybox")
    import docker
    try:
        client = docker.from_env()
        client.ping()
    except Exception as err:  # noqa: BLE001 - any failure means no engine
        unavailable(f"no reachable Docker engine ({err}); `bash tests/run` starts one")
    return client


@pytest.fixture(scope="session")
def test_images(engine):
    try:
        return images.built()
    except FileNotFoundError as err:
        unavailable(str(err))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


class Upstream:
    """A registry standing in for docker.io & co., on the host network so that every
    bridge network reaches it through its own gateway address."""

    def __init__(self, client, image: str, name: str, workdir: Path):
        self.client, self.name, self.port, self.workdir = client, name, free_port(), workdir
        self.container = client.containers.run(
            image, name=name, network_mode="host", detach=True,
            environment={"REGISTRY_HTTP_ADDR": f"0.0.0.0:{self.port}"},
            labels={"kindreg.test-double": "upstream", **ownership.labels()})
        wait_http(f"http://127.0.0.1:{self.port}/v2/")

    def url(self, gateway: str) -> str:
        return f"http://{gateway}:{self.port}"

    def push(self, repo: str, tag: str, layers: list[dict]) -> str:
        layout = self.workdir / f"oci-{repo.replace('/', '-')}"
        digest = oci_layout(layout, tag, layers)
        subprocess.run(["skopeo", "copy", "--insecure-policy", "--dest-tls-verify=false",
                        f"oci:{layout}:{tag}", f"docker://127.0.0.1:{self.port}/{repo}:{tag}"],
                       check=True, capture_output=True)
        return digest

    def blob_fetches(self, repo: str = TEST_REPO, settle: float = 2.0) -> int:
        """GETs of blobs of `repo` in the access log: what pulling an image costs the upstream.

        Waits until the count holds still for `settle` seconds: a pull-through mirror fills its
        cache in the background after the client already has its bytes."""
        def count() -> int:
            logs = self.container.logs().decode(errors="replace")
            return len(re.findall(rf'"GET /v2/{re.escape(repo)}/blobs/sha256:', logs))
        last, since = count(), time.time()
        while time.time() - since < settle:
            time.sleep(0.25)
            now = count()
            if now != last:
                last, since = now, time.time()
        return last

    def stop(self) -> None:
        self.container.stop(timeout=2)

    def start(self) -> None:
        self.container.start()
        wait_http(f"http://127.0.0.1:{self.port}/v2/")

    def remove(self) -> None:
        """Gone already is fine: a module's final sweep removes everything this run labelled."""
        import docker.errors
        try:
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass


def wait_http(url: str, timeout: float = 20, context=None) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=3, context=context)
            return
        except Exception:  # noqa: BLE001 - retried until the deadline
            if time.time() > deadline:
                raise
            time.sleep(0.3)


def http_status(url: str, context=None) -> int:
    try:
        return urllib.request.urlopen(url, timeout=5, context=context).status
    except urllib.error.HTTPError as err:
        return err.code


TEST_LAYERS = {
    "1": [{"kindreg.txt": b"image one\n"}, {"payload.bin": bytes(range(256)) * 4096}],
    "2": [{"kindreg.txt": b"image two\n"}, {"payload2.bin": bytes(reversed(range(256))) * 4096}],
}


@pytest.fixture(scope="module")
def upstream(engine, test_images, tmp_path_factory):
    up = Upstream(engine, test_images[0], f"kindreg-up-{free_port()}", tmp_path_factory.mktemp("upstream"))
    for tag, layers in TEST_LAYERS.items():
        up.push(TEST_REPO, tag, layers)
    yield up
    if os.environ.get("KINDREG_KEEP_LIVE") != "1":
        up.remove()


@dataclass
class Live:
    machine: Machine
    host: Host
    images: tuple[str, str]
    workdir: Path

    def up(self, stack: str, config: dict, **kw) -> dict:
        return self.machine.up(stack, config, self.host, **kw)


@contextlib.contextmanager
def live_machine(engine, test_images, workdir: Path, extra_env: Optional[dict] = None):
    """A machine for one module's scenarios; destroyed afterwards, even after a failure."""
    sweep(engine)  # leftovers of an interrupted earlier run would be adopted (kept volumes)
    env = {**command_environment(BIN, test_images[1], sys.executable), **(extra_env or {})}
    host = Host(project_dir=workdir, env=env, which=lambda tool: shutil.which(tool, path=env["PATH"]))
    machine = Machine(client=engine, command_env=env, workdir=workdir)
    yield Live(machine, host, test_images, workdir)
    if os.environ.get("KINDREG_KEEP_LIVE") == "1":  # to look at a failure; `sweep` by hand later
        print(f"KINDREG_KEEP_LIVE=1: leaving the live machine up ({workdir})", file=sys.stderr)
        return
    # Projects first (a shared stack's guard insists), then the shared stacks.
    for stack in sorted(machine.stacks, key=lambda s: "project" not in machine.outputs.get(s, {})):
        try:
            machine.destroy(stack)
        except Exception as err:  # noqa: BLE001 - keep cleaning
            print(f"cleanup of stack {stack}: {err}", file=sys.stderr)
    sweep(engine)


@pytest.fixture(scope="module")
def live(engine, test_images, tmp_path_factory):
    with live_machine(engine, test_images, tmp_path_factory.mktemp("project")) as machine:
        yield machine


def sweep(client) -> None:
    """Remove what this run (or a dead earlier one) left behind: by its run label, never by name."""
    ownership.sweep(client)


def node_networks(client, node: str) -> dict[str, str]:
    """Network name -> the node's address on it."""
    attrs = client.containers.get(node).attrs["NetworkSettings"]["Networks"]
    return {name: info["IPAddress"] for name, info in attrs.items()}


def in_range(ip: str, cidr: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)


def node_pull(client, node: str, ref: str) -> tuple[int, str]:
    """A node pulls as kubelet would make containerd pull: through /etc/containerd/certs.d."""
    result = client.containers.get(node).exec_run(
        ["ctr", "images", "pull", "--hosts-dir", "/etc/containerd/certs.d", ref])
    return result.exit_code, result.output.decode(errors="replace")


def node_forget(client, node: str, ref: str) -> None:
    c = client.containers.get(node)
    c.exec_run(["ctr", "images", "rm", "--sync", ref])
    c.exec_run(["ctr", "content", "prune", "references"])


def stack_configs(images_: tuple[str, str], upstream_port: int, names: str = "kindreg-live",
                  projects: str = "live", net: str = "10.213", tls: bool = False,
                  mirror_url: Optional[str] = None, host_ports: Optional[dict] = None) -> dict[str, dict]:
    """Shared, dev (slot 125), qa (60) and alt (50, own mirrors) for the live scenarios."""
    registry_image, node_image = images_

    def upstream_at(slot: int) -> str:
        return mirror_url or f"http://{net}.{slot}.1:{upstream_port}"

    def mirrors(slot: int) -> list[dict]:
        return [{"name": "io-docker", "url": upstream_at(slot), "host": "docker.io"},
                {"name": "io-quay", "url": upstream_at(slot), "host": "quay.io"}]

    def project(name: str, slot: int, shared: bool = True) -> dict:
        regs = {"image": registry_image, "tls": tls, "frontCache": images.front_cache(),
                "shared": {"enabled": shared, **({"stack": "shared"} if shared else {})},
                **({"hostPort": host_ports[name]} if name in (host_ports or {}) else {})}
        if not shared:
            regs["mirrors"] = mirrors(slot)
        return {"kindreg:cluster": {
            "name": f"{projects}-{name}", "network": {"name": f"{names}-{name}", "cidr": f"{net}.{slot}.0/24"},
            "registries": regs, "nodes": {"workers": 1, "image": node_image}}}

    return {
        "shared": {"kindreg:shared": {"network": {"name": f"{names}-registries", "cidr": f"{net}.200.0/24"},
                                      "prefix": names, "image": registry_image, "tls": tls,
                                      "frontCache": images.front_cache(),
                                      "mirrors": mirrors(200)}},
        "dev": project("dev", 125),
        "qa": project("qa", 60),
        "alt": project("alt", 50, shared=False),
    }


# ---------------------------------------------------------------- checks shared by the scenarios

def endpoints(outputs: dict) -> list[dict]:
    return outputs.get("registries", []) + outputs.get("mirrors", [])


def check_every_registry_answers(world: dict, context=None) -> set[str]:
    """Scenario 1: each registry answers /v2/ at its planned URL; returns the containers seen."""
    seen = set()
    for stack, out in world.items():
        for reg in endpoints(out):
            seen.add(reg["container"])
            assert http_status(f"{reg['url']}/v2/", context) == 200, (stack, reg)
    return seen


def check_node_networks(client, world: dict, own_mirrors: tuple = ("alt",)) -> None:
    """Scenario 1: shared-mode nodes on both networks, others on their own; dynamic addresses."""
    shared_net = world["shared"]["network"]
    for stack, out in world.items():
        if stack == "shared":
            continue
        assert len(out["nodes"]) == 2
        for node in out["nodes"]:
            nets = node_networks(client, node)
            expected = {out["network"]["name"]} | (set() if stack in own_mirrors else {shared_net["name"]})
            assert set(nets) == expected, (node, nets)
            assert in_range(nets[out["network"]["name"]], out["network"]["ipRange"])
            if stack not in own_mirrors:
                assert in_range(nets[shared_net["name"]], shared_net["ipRange"])


def check_pulls_share_the_mirror(client, world: dict, upstream: "Upstream", image: str) -> None:
    """Scenario 2: dev fills the shared cache, qa is served from it, alt's own mirror fetches again."""
    before = upstream.blob_fetches()
    code, out = node_pull(client, world["dev"]["nodes"][0], image)
    assert code == 0, out
    first = upstream.blob_fetches() - before
    # distribution's proxy fetches a cold blob twice (one stream to the client, one to fill the
    # cache; measured in bench/): this image is 3 blobs (config + 2 layers), so 3 to 6 fetches.
    assert 3 <= first <= 6, first
    code, out = node_pull(client, world["qa"]["nodes"][0], image)
    assert code == 0, out
    assert upstream.blob_fetches() - before == first, "qa's pull must be served from the shared cache"
    code, out = node_pull(client, world["alt"]["nodes"][0], image)
    assert code == 0, out
    assert upstream.blob_fetches() - before > first, "alt's own mirror fetches again: what sharing saves"


def write_stack_files(workdir: Path, configs: dict[str, dict]) -> None:
    """Pulumi.<stack>.yaml files, so the CLI (plan, doctor) sees the stacks the tests run."""
    import yaml
    for stack, config in configs.items():
        (workdir / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))


def kindreg_cli(*args: str, env: Optional[dict] = None) -> subprocess.CompletedProcess:
    from tests.helpers import ROOT
    # kind, for the commands that look for it (doctor), is the kind double of this level.
    path = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run([sys.executable, "-m", "kindreg", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PATH": path, **(env or {})})
