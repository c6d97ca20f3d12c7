"""2. Cold versus warm pulls through a constrained upstream; 3. concurrent cold pulls, kindreg's
mirrors (with their front caches) side by side with the plain registry:3 proxy every peer runs."""
from __future__ import annotations

import subprocess
import time

from bench.common import (IMAGE_SET, MiB, UPSTREAM_IP, UPSTREAM_PORT, Bench, Upstream, exec_in, layer_digests,
                          median, project_stack, pull, pull_all, random_bytes, registry_version, shared_stack,
                          unique_bytes, wait_filled)
from kindreg.core import frontcache

REFS = [f"docker.io/{name}" for name in IMAGE_SET]
DIGESTS = sorted({d for layers in IMAGE_SET.values() for d in layer_digests(layers)})
MIRROR = "kindreg-bench-registry-io-docker"
FRONT = f"{MIRROR}-front"


def wipe_mirror(bench: Bench) -> None:
    """Empty caches: the mirror's storage and its front cache's, each restarted (as after a fresh
    volume, and past the front's short keep time)."""
    exec_in(bench.client, MIRROR, ["rm", "-rf", "/var/lib/registry/docker"])
    exec_in(bench.client, FRONT, ["sh", "-c", f"rm -rf {frontcache.CACHE_DIR}/*"])
    for name in (FRONT, MIRROR):
        bench.client.containers.get(name).restart(timeout=5)
        deadline = time.time() + 60
        while bench.client.containers.get(name).attrs["State"].get("Health", {}).get("Status") != "healthy":
            if time.time() > deadline:
                raise RuntimeError(f"{name} not healthy after a restart")
            time.sleep(0.5)


def time_set(bench: Bench, node: str, refs: list[str], plain_http: bool = False) -> float:
    return sum(pull(bench.client, node, ref, plain_http) for ref in refs)


def measure_cold_warm(bench: Bench, upstream: Upstream, runs: int = 3) -> dict:
    bench.up("shared", shared_stack(bench))
    project = bench.up("p0", project_stack(bench, 0, shared=True))
    node, build = project["nodes"][0], project["registries"][0]["ip"]
    # The same image set in the project's build registry: a plain registry on this machine.
    for name in IMAGE_SET:
        subprocess.run(["skopeo", "copy", "--insecure-policy", "--src-tls-verify=false", "--dest-tls-verify=false",
                        f"docker://{UPSTREAM_IP}:{UPSTREAM_PORT}/{name}", f"docker://{build}/{name}"],
                       check=True, capture_output=True)
    steps = ("direct", "cold_mirror", "warm_mirror", "warm_mirror_again", "local_registry")
    times: dict[str, list[float]] = {k: [] for k in steps}
    upstream_bytes: dict[str, list[int]] = {k: [] for k in steps}
    fill_after: list[float] = []
    for _ in range(runs):
        since = upstream.mark()
        times["direct"].append(time_set(bench, node, [f"{UPSTREAM_IP}:{UPSTREAM_PORT}/{n}" for n in IMAGE_SET],
                                        plain_http=True))
        upstream_bytes["direct"].append(upstream.settled(since)[0])
        wipe_mirror(bench)
        since = upstream.mark()
        times["cold_mirror"].append(time_set(bench, node, REFS))
        # The cache fills in the background after the client is done; until it has, a pull
        # would go to the upstream again. Measure how long that is, then count the bytes.
        fill_after.append(round(wait_filled(bench.client, MIRROR, DIGESTS), 2))
        upstream_bytes["cold_mirror"].append(upstream.settled(since, settle=1.0)[0])
        # The first warm pull can still fetch layers the proxy never linked to that repository
        # (a shared layer asked for while another repository's fill of it was in flight);
        # the second shows the steady state.
        for step, refs in (("warm_mirror", REFS), ("warm_mirror_again", REFS),
                           ("local_registry", [f"lok8s.local/{n}" for n in IMAGE_SET])):
            since = upstream.mark()
            times[step].append(time_set(bench, node, refs))
            wait_filled(bench.client, MIRROR, DIGESTS)
            upstream_bytes[step].append(upstream.settled(since, settle=1.0)[0])
    bench.destroy_all()
    medians = {k: round(median(v), 2) for k, v in times.items()}
    direct = medians["direct"]
    return {
        "measurement": "cold_warm",
        "params": {"runs": runs, "image_set_bytes": unique_bytes(IMAGE_SET), "link": "tbf"},
        "raw": {"seconds": times, "upstream_bytes": upstream_bytes,
                "cache_filled_seconds_after_cold_pull": fill_after},
        "medians_seconds": medians,
        "ratios": {k: round(v / direct, 3) for k, v in medians.items()},
        "upstream_bytes_ratio_cold_to_direct": round(median(upstream_bytes["cold_mirror"]) /
                                                     median(upstream_bytes["direct"]), 3),
        "upstream_bytes_medians": {k: median(v) for k, v in upstream_bytes.items()},
    }


def warm_pull(cold_warm: dict) -> dict:
    """The issue's figure: a warm pull through the mirror against the same pull from a plain
    local registry (the project's build registry), medians of the cold/warm runs."""
    m = cold_warm["medians_seconds"]
    return {"measurement": "warm-pull", "seconds": m["warm_mirror"], "localRegistrySeconds": m["local_registry"],
            "timeRatioToLocalRegistry": round(m["warm_mirror"] / m["local_registry"], 3),
            "steadyStateRatio": round(m["warm_mirror_again"] / m["local_registry"], 3)}


VARIANTS = {"plain-registry-proxy": False, "kindreg": True}  # name -> front cache


def image_blobs(upstream: Upstream, name: str) -> list[tuple[str, int]]:
    """(digest hex, size) of an image's config and layers, as the hub holds them."""
    import json
    repo, tag = name.split(":")
    _, body = upstream.hub.content.manifest(repo, tag)
    manifest = json.loads(body)
    return [(d["digest"].split(":")[1], d["size"]) for d in [manifest["config"], *manifest["layers"]]]


def cold_image(upstream: Upstream, name: str, seed: int, size_mib: int) -> tuple[str, list[str], int]:
    """A never-pulled image of one incompressible layer: its reference, blob digests, bytes."""
    layers = [{"payload.bin": random_bytes(seed, size_mib * MiB)}]
    upstream.push(name, layers)
    blobs = image_blobs(upstream, name)
    return name, [d for d, _ in blobs], sum(size for _, size in blobs)


def direct_seconds(bench: Bench, upstream: Upstream, node: str, runs: int, size_mib: int) -> list[float]:
    """One node pulling a cold image straight from the upstream: the figure to beat."""
    out = []
    for run in range(runs):
        name, _, _ = cold_image(upstream, f"bench/direct{run}:1", 5000 + run, size_mib)
        out.append(pull(bench.client, node, f"{UPSTREAM_IP}:{UPSTREAM_PORT}/{name}", plain_http=True))
    return out


def measure_concurrent(bench: Bench, upstream: Upstream, counts=(1, 3, 9), size_mib: int = 24,
                       runs: int = 3) -> list[dict]:
    """N nodes pulling the same cold image at once, through kindreg's mirror and through the
    plain proxy: upstream bytes per image and the time to the last node, against a direct pull."""
    version = registry_version(bench.client, bench.registry_image)
    results, direct = [], None
    for index, (variant, front) in enumerate(VARIANTS.items()):
        bench.up("shared", shared_stack(bench, front))
        nodes = bench.up("p0", project_stack(bench, 0, shared=True, nodes=max(counts)))["nodes"]
        if direct is None:
            direct = median(direct_seconds(bench, upstream, nodes[0], runs, size_mib))
        for n in counts:
            times, per_image = [], []
            for run in range(runs):
                name, digests, image_bytes = cold_image(
                    upstream, f"bench/cold-{variant}-{n}-{run}:1", 1000 + 100 * index + 10 * n + run, size_mib)
                mark = upstream.mark()
                times.append(pull_all(bench.client, nodes[:n], [f"docker.io/{name}"]))
                wait_filled(bench.client, MIRROR, digests[1:])
                upstream.settled(mark, settle=1.0)
                per_image.append(upstream.bytes_of(digests, mark) / image_bytes)
            results.append({
                "measurement": "concurrent-cold-pull", "proxy": variant, "n": n, "registryVersion": version,
                "frontCache": front, "runs": runs, "imageBytes": image_bytes,
                "upstreamBytesPerImage": round(median(per_image), 3),
                "secondsToLastNode": round(median(times), 2), "directSeconds": round(direct, 2),
                "timeRatioToDirect": round(median(times) / direct, 3),
                "raw": {"seconds": [round(t, 2) for t in times], "upstreamBytesPerImage": [round(x, 3) for x in per_image]},
            })
        bench.destroy_all()
    return results
