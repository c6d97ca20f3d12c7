"""2. Cold versus warm pulls through a constrained upstream; 3. concurrent cold pulls."""
from __future__ import annotations

import subprocess
import time

from bench.common import (IMAGE_SET, MiB, UPSTREAM_IP, UPSTREAM_PORT, Bench, Upstream, exec_in, layer_digests,
                          median, project_stack, pull, pull_all, random_bytes, shared_stack, unique_bytes,
                          wait_filled)

REFS = [f"docker.io/{name}" for name in IMAGE_SET]
DIGESTS = sorted({d for layers in IMAGE_SET.values() for d in layer_digests(layers)})
MIRROR = "kindreg-bench-registry-io-docker"


def wipe_mirror(bench: Bench) -> None:
    """An empty cache: delete the mirror's storage and restart it (as after a fresh volume)."""
    exec_in(bench.client, MIRROR, ["rm", "-rf", "/var/lib/registry/docker"])
    bench.client.containers.get(MIRROR).restart(timeout=5)
    deadline = time.time() + 60
    while bench.client.containers.get(MIRROR).attrs["State"].get("Health", {}).get("Status") != "healthy":
        if time.time() > deadline:
            raise RuntimeError("mirror not healthy after a restart")
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
        since = upstream.log_lines()
        times["direct"].append(time_set(bench, node, [f"{UPSTREAM_IP}:{UPSTREAM_PORT}/{n}" for n in IMAGE_SET],
                                        plain_http=True))
        upstream_bytes["direct"].append(upstream.settled(since)[0])
        wipe_mirror(bench)
        since = upstream.log_lines()
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
            since = upstream.log_lines()
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


def measure_concurrent(bench: Bench, upstream: Upstream, counts=(1, 3, 9), size_mib: int = 24) -> list[dict]:
    bench.up("shared", shared_stack(bench))
    results = []
    for n in counts:
        project = bench.up("p0", project_stack(bench, 0, shared=True, nodes=n))
        name = f"bench/concurrent{n}:1"  # never pulled before: cold for everyone
        layers = [{"payload.bin": random_bytes(100 + n, size_mib * MiB)}]
        upstream.push(name, layers)
        since = upstream.log_lines()
        elapsed = pull_all(bench.client, project["nodes"], [f"docker.io/{name}"])
        wait_filled(bench.client, MIRROR, layer_digests(layers))
        fetched, requests = upstream.settled(since, settle=1.0)
        results.append({
            "measurement": "concurrent_cold",
            "params": {"nodes": n, "image_bytes": size_mib * MiB},
            "raw": {"seconds_to_last_node": round(elapsed, 2), "upstream_bytes": fetched,
                    "upstream_blob_requests": requests},
            "ratios": {"upstream_bytes_per_image": round(fetched / (size_mib * MiB), 2)},
        })
    bench.destroy_all()
    return results
