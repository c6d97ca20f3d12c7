"""What every measurement uses: the image set, the upstream, the machine, and how to read them."""
from __future__ import annotations

import random
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from components.program import Host
from kindreg.core.vocabulary import MANAGED_VALUE, Label, Role
from tests.live import images as test_images
from tests.live.conftest import BIN, sweep
from tests.live.provider_double import Machine, command_environment
from tests.hub import HubProcess
from tests.netns import Netns, link_to_host

UPSTREAM_IP, HOST_SIDE = "10.216.250.2", "10.216.250.1"
# The CDN on another address of the namespace: another host, as Docker Hub's is. (Go's HTTP
# client keeps the Authorization header on a redirect to the same host name, whatever the port,
# and the CDN refuses a request that carries one.)
CDN_IP = "10.216.251.2"
UPSTREAM_PORT, CDN_PORT = 5000, 5002
NAMES, PROJECTS, NET = "kindreg-bench", "bench", "10.216"
MiB = 1024 * 1024


def random_bytes(seed: int, size: int) -> bytes:
    """Incompressible and reproducible: layer sizes are what crosses the link."""
    return random.Random(seed).randbytes(size)


# Three images sharing a base layer, as real images do: 16 + 3 x (8 + 4) MiB = 52 MiB unique.
IMAGE_SET = {
    f"bench/app{i}:1": [{"base.bin": random_bytes(1, 16 * MiB)},
                        {f"lib{i}.bin": random_bytes(10 + i, 8 * MiB)},
                        {f"app{i}.bin": random_bytes(20 + i, 4 * MiB)}]
    for i in range(3)
}


def unique_bytes(image_set: dict) -> int:
    seen = {}
    for layers in image_set.values():
        for layer in layers:
            for name, data in layer.items():
                seen[name] = len(data)
    return sum(seen.values())


class Upstream:
    """The Docker-Hub-like test upstream (tests/hub.py: bearer tokens, 307 to a CDN origin,
    Range) in its own network namespace, behind a veth link shaped with tbf: what crosses the
    link is counted by the hub's CDN, per blob, as it sends it."""

    def __init__(self, workdir: Path, rate: Optional[str]):
        self.ns = Netns(f"kindreg-bench-up-{int(time.time()) % 100000}", [])
        self.link = link_to_host(self.ns, HOST_SIDE, UPSTREAM_IP, rate=rate)
        self.ns.run(f"ip addr add {CDN_IP}/32 dev kr0")
        subprocess.run(["ip", "route", "add", f"{CDN_IP}/32", "dev", self.link], check=True)
        self.hub = HubProcess(workdir / "hub", workdir / "hub.log", UPSTREAM_IP, (UPSTREAM_PORT, CDN_PORT),
                              prefix=("ip", "netns", "exec", self.ns.name),
                              extra=("--cdn-listen", CDN_IP, "--cdn-origin", f"http://{CDN_IP}:{CDN_PORT}"))
        self.workdir = workdir

    @property
    def url(self) -> str:
        return f"http://{UPSTREAM_IP}:{UPSTREAM_PORT}"

    def push(self, name: str, layers: list[dict]) -> None:
        repo, tag = name.split(":")
        self.hub.content.push(repo, tag, layers)

    def mark(self) -> dict:
        return self.hub.stats()

    def blob_bytes(self, since: dict) -> tuple[int, int]:
        """(bytes, requests) the CDN sent since `since` (a mark)."""
        now = self.hub.stats()
        return now["cdn_bytes"] - since["cdn_bytes"], now["cdn_requests"] - since["cdn_requests"]

    def bytes_of(self, digests: list[str], since: Optional[dict] = None) -> int:
        """CDN bytes sent for these blobs (since a mark)."""
        now, before = self.hub.stats()["cdn_by_blob"], (since or {}).get("cdn_by_blob", {})
        return sum(now.get(d, 0) - before.get(d, 0) for d in digests)

    def settled(self, since: dict, settle: float = 3.0) -> tuple[int, int]:
        """CDN bytes once they have been still for `settle` seconds (proxies keep filling their
        caches in the background after the client has its bytes)."""
        last, stable_since = self.blob_bytes(since), time.time()
        while time.time() - stable_since < settle:
            time.sleep(0.25)
            now = self.blob_bytes(since)
            if now != last:
                last, stable_since = now, time.time()
        return last

    def close(self) -> None:
        self.hub.stop()
        self.ns.close()
        subprocess.run(["ip", "link", "del", self.link], capture_output=True)


@dataclass
class Bench:
    machine: Machine
    host: Host
    registry_image: str
    node_image: str

    @property
    def client(self):
        return self.machine.client

    def up(self, stack: str, config: dict) -> dict:
        return self.machine.up(stack, config, self.host)

    def destroy_all(self) -> None:
        for stack in sorted(self.machine.stacks, key=lambda s: s.startswith("shared")):
            self.machine.destroy(stack)
        sweep_bench(self.client)


def sweep_bench(client) -> None:
    sweep(client)


def make_bench(workdir: Path) -> Bench:
    import docker
    import shutil

    registry_image, node_image = test_images.built()
    env = command_environment(BIN, node_image, sys.executable)
    host = Host(project_dir=workdir, env=env, which=lambda tool: shutil.which(tool, path=env["PATH"]))
    client = docker.from_env()
    sweep_bench(client)
    return Bench(Machine(client=client, command_env=env, workdir=workdir), host, registry_image, node_image)


def front_cache(front: bool) -> dict:
    """kindreg's front cache (the test image of the nginx users get), or none: the plain proxy
    every peer runs."""
    return {"image": test_images.front_image()} if front else {"enabled": False}


def shared_stack(bench: Bench, front: bool = True) -> dict:
    return {"kindreg:shared": {"network": {"name": f"{NAMES}-registries", "cidr": f"{NET}.200.0/24"},
                               "prefix": NAMES, "image": bench.registry_image, "deleteVolumes": True,
                               "frontCache": front_cache(front),
                               "mirrors": [{"name": "io-docker", "url": f"http://{UPSTREAM_IP}:{UPSTREAM_PORT}",
                                            "host": "docker.io"}]}}


def project_stack(bench: Bench, index: int, shared: bool, nodes: int = 1) -> dict:
    regs = {"image": bench.registry_image, "deleteVolumes": True, "shared": {"enabled": shared},
            "frontCache": front_cache(True)}
    if not shared:
        regs["mirrors"] = [{"name": "io-docker", "url": f"http://{UPSTREAM_IP}:{UPSTREAM_PORT}", "host": "docker.io"}]
    return {"kindreg:cluster": {
        "name": f"{PROJECTS}-p{index}", "network": {"name": f"{NAMES}-p{index}", "cidr": f"{NET}.{10 + index}.0/24"},
        "registries": regs, "nodes": {"workers": nodes - 1, "image": bench.node_image}}}


def exec_in(client, container: str, argv: list[str], stderr: bool = True) -> tuple[int, str]:
    r = client.containers.get(container).exec_run(argv, stderr=stderr)
    return r.exit_code, r.output.decode(errors="replace")


def pull(client, node: str, ref: str, plain_http: bool = False) -> float:
    """Seconds for `node` to pull `ref`, starting from an empty content store (no image of an
    earlier measurement can lend it a layer), so every byte is fetched."""
    forget_all(client, node)
    argv = ["ctr", "images", "pull"] + (["--plain-http"] if plain_http else
                                        ["--hosts-dir", "/etc/containerd/certs.d"]) + [ref]
    start = time.monotonic()
    code, out = exec_in(client, node, argv)
    elapsed = time.monotonic() - start
    if code != 0:
        raise RuntimeError(f"{node} could not pull {ref}:\n{out[-500:]}")
    return elapsed


def forget_all(client, node: str) -> None:
    exec_in(client, node, ["sh", "-c", "ctr images ls -q | while read -r ref; do ctr images rm --sync \"$ref\"; done; "
                                       "ctr content prune references"])
    # stdout alone: containerd 2.2 warns on stderr (cgroup v1 deprecation) with every command.
    code, out = exec_in(client, node, ["ctr", "content", "ls", "-q"], stderr=False)
    if out.strip():
        raise RuntimeError(f"{node} still holds content after forgetting everything:\n{out[:300]}")


def pull_all(client, nodes: list[str], refs: list[str]) -> float:
    """All nodes pull all refs at the same moment; seconds until the last is done."""
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(lambda n: [pull(client, n, r) for r in refs], nodes))
    return time.monotonic() - start


def layer_digests(layers: list[dict]) -> list[str]:
    """Digests of the gzipped layers, as tests.images writes them (reproducible)."""
    import hashlib

    from tests.images import layer
    return [hashlib.sha256(layer(files)[0]).hexdigest() for files in layers]


def registry_version(client, image: str) -> str:
    """The distribution version inside the registry image (`registry --version`): 3.1.2."""
    out = client.containers.run(image, ["--version"], entrypoint="registry", remove=True).decode()
    found = re.search(r"v(\d+\.\d+\.\d+)", out)
    return found.group(1) if found else out.strip()


def wait_filled(client, mirror: str, digests: list[str], timeout: float = 300) -> float:
    """Seconds until the mirror's storage holds every blob: distribution moves a blob into place
    only when its background fetch completes, so then no fill is in flight."""
    paths = [f"/var/lib/registry/docker/registry/v2/blobs/sha256/{d[:2]}/{d}/data" for d in digests]
    check = " && ".join(f"test -f {p}" for p in paths)
    start = time.monotonic()
    while exec_in(client, mirror, ["sh", "-c", check])[0] != 0:
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{mirror} did not cache {len(digests)} blobs within {timeout}s")
        time.sleep(0.2)
    return time.monotonic() - start


def disk_kib(client, container: str) -> int:
    code, out = exec_in(client, container, ["du", "-sk", "/var/lib/registry"])
    return int(out.split()[0]) if code == 0 else 0


def memory_bytes(client, container: str) -> int:
    stats = client.api.stats(container, stream=False)
    mem = stats.get("memory_stats", {})
    return int(mem.get("usage", 0) - (mem.get("stats", {}) or {}).get("inactive_file", 0))


def registries(client) -> list[str]:
    return sorted(c.name for c in client.containers.list() if c.labels.get(Label.MANAGED) == MANAGED_VALUE
                  and c.labels.get(Label.ROLE) in tuple(Role))


def mirrors(client) -> list[str]:
    return [n for n in registries(client) if client.containers.get(n).labels.get(Label.ROLE) == Role.MIRROR]


def median(values: list[float]) -> float:
    return statistics.median(values)
