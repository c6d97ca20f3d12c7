"""The Docker Desktop case on the real engine: a host that cannot reach container addresses,
and an engine on a socket of its own.

On Docker Desktop (and Colima, rootless engines) the containers live in a VM or another network
namespace, and only ports published on 127.0.0.1 are forwarded to the host. Here the "host" is a
network namespace with nothing but loopback, and a forwarder per published port stands in for
Desktop's port forwarding. As on Desktop, the engine answers on a non-default socket: the
stack's `docker:host` names it for everything the program runs (kind, the containerd tree, here
in a volume as a remote engine gets it) and for the commands, which run with /run, where the
default socket lives, hidden under an empty tmpfs. The nodes stay where they are and keep
pulling by in-network address.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest
import yaml

from kindreg.adapters.reach import published_port
from tests.helpers import ROOT
from tests.live.conftest import BIN, TEST_REPO, node_pull, stack_configs, write_stack_files
from tests.netns import Netns
from tests.requirements import need_root, need_tools

pytestmark = pytest.mark.live

FORWARDER = Path(__file__).parent.parent / "portfwd.py"
STACK = "alt"


@pytest.fixture(scope="module")
def engine_socket(live):
    """The engine on a socket of its own (a forwarder to the real one, started and stopped here)."""
    sock = live.workdir / "engine" / "docker.sock"
    sock.parent.mkdir()
    real = (os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock").removeprefix("unix://")
    proc = subprocess.Popen([sys.executable, str(FORWARDER), f"unix:{sock}", f"unix:{real}"],
                            stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout.readline().strip() == b"ready"
    yield f"unix://{sock}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def world(live, upstream, engine_socket):
    config = stack_configs(live.images, upstream.port, names="kindreg-desk", projects="desk", net="10.214")[STACK]
    config["kindreg:cluster"]["registries"]["publishMirrors"] = True
    # As with a remote engine: the containerd tree in a volume written through the engine.
    config["kindreg:cluster"]["nodes"]["certsTree"] = "volume"
    # The engine on its own socket for everything the program runs (kind, the tree, the
    # connect step) and for the commands that read the stack file.
    config = {**config, "docker:host": engine_socket}
    write_stack_files(live.workdir, {STACK: config})
    return live.up(STACK, config)


class Desktop:
    """A namespace with only loopback, where the given ports of this host's 127.0.0.1 answer."""

    def __init__(self, workdir: Path, ports: list[int]):
        self.ns = Netns(f"kindreg-desk-{os.getpid()}", [])
        self.host_side: list[subprocess.Popen] = []
        sockets = workdir / "forward"
        sockets.mkdir(exist_ok=True)
        for port in ports:
            sock = sockets / f"{port}.sock"
            self.host_side.append(self._ready(subprocess.Popen(
                [sys.executable, str(FORWARDER), f"unix:{sock}", f"tcp:127.0.0.1:{port}"],
                stdout=subprocess.PIPE, start_new_session=True)))
            self.ns.start([sys.executable, str(FORWARDER), f"tcp:127.0.0.1:{port}", f"unix:{sock}"],
                          workdir / f"forward-{port}.log")
        for port in ports:
            self._wait_port(port)

    @staticmethod
    def _ready(proc: subprocess.Popen) -> subprocess.Popen:
        assert proc.stdout.readline().strip() == b"ready"
        return proc

    def _wait_port(self, port: int) -> None:
        deadline = time.time() + 10
        while self.ns.run(f"curl -s -o /dev/null http://127.0.0.1:{port}/", check=False).returncode == 7:
            assert time.time() < deadline, f"forwarder for {port} did not start"
            time.sleep(0.1)

    def run(self, *argv: str, docker_host: Optional[str] = None) -> subprocess.CompletedProcess:
        """argv in the namespace, with the default engine socket hidden and DOCKER_HOST only if given."""
        env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
        env.update(PYTHONPATH=str(ROOT), PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
        if docker_host:
            env["DOCKER_HOST"] = docker_host
        hide = 'mount -t tmpfs kindreg-no-default-engine /run && exec "$0" "$@"'
        return subprocess.run(["ip", "netns", "exec", self.ns.name, "unshare", "-m", "--propagation", "private",
                               "sh", "-c", hide, *argv], cwd=ROOT, env=env, capture_output=True, text=True)

    def kindreg(self, *args: str, docker_host: Optional[str] = None) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "kindreg", *args, docker_host=docker_host)

    def close(self) -> None:
        for proc in self.host_side:  # only the forwarders this test started, by their PIDs
            proc.terminate()
            proc.wait(10)
        self.ns.close()


@pytest.fixture(scope="module")
def desktop(live, world, upstream):
    need_tools("ip", "unshare", "curl")
    need_root("network and mount namespaces")
    client = live.machine.client
    containers = [client.api.inspect_container(r["container"]) for r in world["registries"]]
    ports = [published_port(c, 80) for c in containers]
    assert all(ports), "every registry of the stack is published (build, cache; mirrors with publishMirrors)"
    host = Desktop(live.workdir, [*ports, upstream.port])
    yield host
    host.close()


def registries(world) -> dict[str, dict]:
    return {r["name"]: r for r in world["registries"]}


def test_the_tree_is_a_volume_and_no_host_directory(world, live):
    assert world["certsVolume"] == "kindreg-desk-alt-containerd-certs"
    mountpoint = live.machine.client.volumes.get(world["certsVolume"]).attrs["Mountpoint"]
    assert world["certsDir"] == mountpoint
    assert not (live.workdir / ".kindreg" / STACK / "certs.d").exists()
    node = live.machine.client.containers.get(world["nodes"][0])
    mounts = {m["Destination"]: m["Source"] for m in node.attrs["Mounts"]}
    assert mounts["/etc/containerd/certs.d"] == mountpoint


def test_only_the_stacks_docker_host_reaches_the_engine_there(desktop, engine_socket):
    assert desktop.run("docker", "version").returncode != 0
    assert desktop.run("docker", "-H", engine_socket, "version").returncode == 0


def test_without_docker_host_in_the_stack_the_commands_use_DOCKER_HOST(world, desktop, live, engine_socket, tmp_path):
    config = yaml.safe_load((live.workdir / f"Pulumi.{STACK}.yaml").read_text())["config"]
    del config["docker:host"]
    write_stack_files(tmp_path, {STACK: config})
    assert desktop.kindreg("status", "--project-dir", str(tmp_path), "--stack", STACK).returncode == 1
    out = desktop.kindreg("status", "--json", "--project-dir", str(tmp_path), "--stack", STACK,
                          docker_host=engine_socket)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["projects"][STACK]) == len(world["registries"])


def test_container_addresses_are_unreachable_there_and_published_ports_answer(world, desktop, live):
    build = registries(world)["build"]
    assert desktop.ns.run(f"curl -s -m 2 -o /dev/null {build['url']}/v2/", check=False).returncode != 0
    port = published_port(live.machine.client.api.inspect_container(build["container"]), 80)
    assert desktop.ns.run(f"curl -sf -m 5 -o /dev/null http://127.0.0.1:{port}/v2/", check=False).returncode == 0


def test_status_reaches_every_registry_through_its_published_port(world, desktop, live):
    out = desktop.kindreg("status", "--json", "--project-dir", str(live.workdir), "--stack", STACK)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)["projects"][STACK]
    assert sorted(r["name"] for r in found) == sorted(registries(world))
    for r in found:
        assert r["published"].startswith("127.0.0.1:"), r
        assert r["catalog"] == f"http://{r['published']}/v2/_catalog", r
        assert r["ip"] == registries(world)[r["name"]]["ip"], "the nodes' address is still reported"


def test_doctor_says_what_it_changes(world, desktop, live):
    out = desktop.kindreg("doctor", "--project-dir", str(live.workdir), "--stack", STACK)
    assert "ok    container addresses are not reachable from this host (Docker Desktop, Colima or a rootless " \
           "engine): cache, push and status go through the ports published on 127.0.0.1 (" in out.stdout, out.stdout
    assert "cannot be reached from this host" not in out.stdout, out.stdout


def test_cache_copies_through_the_published_port_and_nodes_pull_by_address(world, desktop, live, upstream):
    image = f"127.0.0.1:{upstream.port}/{TEST_REPO}:2"
    out = desktop.kindreg("cache", "--project-dir", str(live.workdir), "--stack", STACK, "--insecure-source", image)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[0].startswith("caching 1 image(s) in 127.0.0.1:"), out.stdout
    code, pulled = node_pull(live.machine.client, world["nodes"][0], f"lok8s.cache/{TEST_REPO}:2")
    assert code == 0, pulled


def test_push_goes_through_the_published_port_and_lands_where_nodes_pull(world, desktop, live):
    k8s = live.workdir / "k8s-desktop"
    k8s.mkdir()
    (k8s / "deployment.yaml").write_text("kind: Deployment\nmetadata: {name: desk}\n")
    out = desktop.kindreg("push", "--project-dir", str(live.workdir), "--stack", STACK, str(k8s))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "to 127.0.0.1:" in out.stdout and "/k8s:dev (registry from the stack's build registry)" in out.stdout
    build = registries(world)["build"]
    tags = live.machine.client.containers.get(world["nodes"][0]).exec_run(
        ["wget", "-qO-", f"{build['url']}/v2/k8s/tags/list"])
    assert tags.exit_code == 0 and json.loads(tags.output)["tags"] == ["dev"], tags.output
