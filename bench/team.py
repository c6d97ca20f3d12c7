"""8. A team's cold pull: M machines (shared stacks on their own networks, as M laptops have), N
nodes each, all pulling one cold image at the same moment through the rate-limited upstream.

Side by side in one run:
- plain: each machine's own mirrors (with their front caches) straight to the upstream, as
  kindreg runs on one machine;
- team: the same machines chained (`via`) to one team mirror stack storing on S3 (SeaweedFS built
  from its Go module), with TLS from a fresh mkcert CA and basic auth.

Reported: the upstream's bytes for the image over its size (copies per cold image for the whole
team), and the time to the last node over one node's direct pull from the upstream.
"""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

from bench.common import (MiB, NAMES, Bench, Upstream, front_cache, layer_digests, median,
                          pull, pull_all, random_bytes, wait_filled)
from tests.live.seaweed import SeaweedS3, bridge_gateway, weed_binary

NET = "10.226"
IMAGE = {"bench/team:1": [{"base.bin": random_bytes(60, 16 * MiB)}, {"app.bin": random_bytes(70, 8 * MiB)}]}
TEAM_NAME, USER, PASSWORD = "kindreg-bench-team.test", "bench", "bench-team-password"
SECRETS = ("kindreg:s3Credentials", "kindreg:authPasswords", "kindreg:mirrorCredentials")
TEAM_REGISTRY = f"{NAMES}-team-registry-io-docker"


def _machine(bench: Bench, index: int, upstream: Upstream, via: bool) -> dict:
    stack = f"m{index}"
    mirror = {"name": "io-docker", "url": upstream.url, "host": "docker.io"}
    shared = {"network": {"name": f"{NAMES}-{stack}-registries", "cidr": f"{NET}.{200 + index}.0/24"},
              "prefix": f"{NAMES}-{stack}", "image": bench.registry_image, "deleteVolumes": True,
              "frontCache": front_cache(True), "mirrors": [{**mirror, **({"via": f"https://{TEAM_NAME}"} if via else {})}]}
    config = {"kindreg:shared": shared}
    if via:
        shared["viaCa"] = "team-ca.pem"
        config["kindreg:mirrorCredentials"] = {"io-docker": {"username": USER, "password": PASSWORD}}
    return config


def _project(bench: Bench, index: int, nodes: int) -> dict:
    return {"kindreg:cluster": {
        "name": f"bench-t{index}", "network": {"name": f"{NAMES}-t{index}", "cidr": f"{NET}.{10 + index}.0/24"},
        "registries": {"image": bench.registry_image, "deleteVolumes": True, "frontCache": front_cache(True),
                       "shared": {"stack": f"m{index}"}},
        "nodes": {"workers": nodes - 1, "image": bench.node_image}}}


def _team(bench: Bench, upstream: Upstream, store: SeaweedS3, bucket: str, gateway: str) -> dict:
    return {"kindreg:shared": {
        "network": {"name": f"{NAMES}-team-registries", "cidr": f"{NET}.199.0/24"}, "prefix": f"{NAMES}-team",
        "image": bench.registry_image, "deleteVolumes": True, "frontCache": front_cache(True), "tls": True,
        "publishMirrors": True, "publishAddress": gateway, "publishNames": [TEAM_NAME],
        "mirrors": [{"name": "io-docker", "url": upstream.url, "host": "docker.io"}],
        "storage": {"s3": {"bucket": bucket, "endpoint": store.endpoint}}, "auth": {"users": [USER]}},
        "kindreg:s3Credentials": {"accessKey": store.access_key, "secretKey": store.secret_key},
        "kindreg:authPasswords": {USER: PASSWORD}}


def _run(bench: Bench, upstream: Upstream, machines: int, nodes: int, ref: str, digests: list[str],
         team: dict | None, host) -> tuple[float, int]:
    """Bring the machines (and the team) up, pull `ref` on every node at once: (seconds to the
    last node, upstream bytes for the image's blobs once every cache has filled)."""
    if team:
        bench.machine.up("team", team, host, SECRETS)
    all_nodes = []
    for i in range(machines):
        bench.machine.up(f"m{i}", _machine(bench, i, upstream, via=team is not None), host, SECRETS)
        if team:  # Docker's DNS stands in for the team host's name on each machine's network
            bench.client.networks.get(f"{NAMES}-m{i}-registries").connect(
                bench.client.containers.get(TEAM_REGISTRY), aliases=[TEAM_NAME])
        all_nodes += bench.machine.up(f"t{i}", _project(bench, i, nodes), host)["nodes"]
    if team:
        for i in range(machines):
            _wait_pull_through(bench, f"{NAMES}-m{i}-registry-io-docker")
    since = upstream.mark()
    seconds = pull_all(bench.client, all_nodes, [ref])
    for i in range(machines):
        wait_filled(bench.client, f"{NAMES}-m{i}-registry-io-docker", digests)
    upstream.settled(since, settle=1.0)
    fetched = upstream.bytes_of(digests, since)
    _destroy(bench)
    return seconds, fetched


def _wait_pull_through(bench: Bench, mirror: str, timeout: float = 30) -> None:
    import time
    deadline = time.time() + timeout
    while bench.client.containers.get(mirror).exec_run(["cat", "/tmp/kindreg-mode"]).output.decode().strip() \
            != "pull-through":
        if time.time() > deadline:
            raise RuntimeError(f"{mirror} does not fill from the team mirror")
        time.sleep(0.5)


def _destroy(bench: Bench) -> None:
    """Projects first (a shared stack's guard insists), then machines, then the team."""
    order = sorted(bench.machine.stacks, key=lambda s: (not s.startswith("t"), s == "team"))
    for stack in order:
        bench.machine.destroy(stack)
    bench.destroy_all()


def _image_bytes(layers: list[dict]) -> int:
    from tests.images import layer
    return sum(len(layer(files)[0]) for files in layers)


def measure(bench: Bench, upstream: Upstream, counts=(2, 4), nodes: int = 2, runs: int = 1) -> list[dict]:
    workdir = bench.machine.workdir
    caroot = workdir / "team-caroot"
    caroot.mkdir(exist_ok=True)
    subprocess.run(["mkcert", "-CAROOT"], env={"CAROOT": str(caroot), "PATH": "/usr/bin:/bin"}, check=True,
                   capture_output=True)
    host = dataclasses.replace(bench.host, env={**bench.host.env, "CAROOT": str(caroot)})
    gateway = bridge_gateway(bench.client)
    store = SeaweedS3(weed_binary(), gateway, workdir / "seaweed")
    store.start()
    results = []
    try:
        for m in counts:
            ref, layers = next(iter(IMAGE.items()))
            upstream.push(ref, layers)
            digests, size = layer_digests(layers), _image_bytes(layers)
            direct, plain, team = [], [], []
            for run in range(runs):
                direct.append(_direct(bench, upstream, ref, host))
                plain.append(_run(bench, upstream, m, nodes, f"docker.io/{ref}", digests, None, host))
                bucket = f"kindreg-bench-m{m}-r{run}"
                store.create_bucket(bucket)
                if not (caroot / "rootCA.pem").exists():
                    raise RuntimeError("mkcert made no CA")
                shutil.copy(caroot / "rootCA.pem", workdir / "team-ca.pem")
                team.append(_run(bench, upstream, m, nodes, f"docker.io/{ref}", digests,
                                 _team(bench, upstream, store, bucket, gateway), host))
            d = median(direct)
            results.append(_entry(m, nodes, size, d, team, runs, "s3"))
            results.append(_entry(m, nodes, size, d, plain, runs, "plain"))
    finally:
        store.remove()
    return results


def _entry(machines: int, nodes: int, size: int, direct: float, runs_of: list[tuple[float, int]], runs: int,
           storage: str) -> dict:
    seconds = median([s for s, _ in runs_of])
    fetched = median([b for _, b in runs_of])
    return {"measurement": "team-cold-pull", "storage": storage, "machines": machines, "nodesPerMachine": nodes,
            "upstreamBytesPerImage": int(fetched), "imageBytes": size,
            "upstreamCopiesPerImage": round(fetched / size, 3), "timeRatioToDirect": round(seconds / direct, 3),
            "raw": {"runs": runs, "direct_seconds": round(direct, 2),
                    "seconds": [round(s, 2) for s, _ in runs_of], "upstream_bytes": [b for _, b in runs_of]}}


def _direct(bench: Bench, upstream: Upstream, ref: str, host) -> float:
    """One node pulling the image straight from the upstream: the floor every figure is over."""
    node = bench.machine.up("t0", {"kindreg:cluster": {
        "name": "bench-direct", "network": {"name": f"{NAMES}-direct", "cidr": f"{NET}.9.0/24"},
        "registries": {"image": bench.registry_image, "deleteVolumes": True, "shared": {"enabled": False},
                       "mirrors": []},
        "nodes": {"workers": 0, "image": bench.node_image}}}, host)["nodes"][0]
    seconds = pull(bench.client, node, f"{upstream.url.removeprefix('http://')}/{ref}", plain_http=True)
    bench.machine.destroy("t0")
    bench.destroy_all()
    return seconds

