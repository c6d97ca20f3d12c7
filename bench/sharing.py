"""1. Upstream traffic and disk for P projects: shared mirrors versus one set per project."""
from __future__ import annotations

from bench.common import (IMAGE_SET, Bench, Upstream, disk_kib, layer_digests, memory_bytes, mirrors,
                          project_stack, pull, registries, shared_stack, unique_bytes, wait_filled)

REFS = [f"docker.io/{name}" for name in IMAGE_SET]
DIGESTS = sorted({d for layers in IMAGE_SET.values() for d in layer_digests(layers)})


def run_mode(bench: Bench, upstream: Upstream, projects: int, shared: bool) -> dict:
    since = upstream.mark()
    if shared:
        bench.up("shared", shared_stack(bench))
    for i in range(projects):
        out = bench.up(f"p{i}", project_stack(bench, i, shared))
        for ref in REFS:  # each cluster pulls the image set, one after another
            pull(bench.client, out["nodes"][0], ref)
        for mirror in mirrors(bench.client):  # the cache is complete before the next cluster pulls
            wait_filled(bench.client, mirror, DIGESTS)
    fetched, requests = upstream.settled(since, settle=1.0)
    regs = registries(bench.client)
    figures = {
        "upstream_bytes": fetched,
        "upstream_blob_requests": requests,
        "mirror_disk_bytes": sum(disk_kib(bench.client, m) for m in mirrors(bench.client)) * 1024,
        "registry_containers": len(regs),
        "registry_memory_bytes": sum(memory_bytes(bench.client, r) for r in regs),
    }
    bench.destroy_all()
    return figures


def measure(bench: Bench, upstream: Upstream, counts=(1, 2, 4, 8)) -> list[dict]:
    results = []
    image_bytes = unique_bytes(IMAGE_SET)
    for p in counts:
        shared = run_mode(bench, upstream, p, shared=True)
        own = run_mode(bench, upstream, p, shared=False)
        results.append({
            "measurement": "sharing",
            "params": {"projects": p, "image_set_bytes": image_bytes, "images": len(IMAGE_SET)},
            "raw": {"shared": shared, "own_mirrors": own},
            "ratios": {k: round(shared[k] / own[k], 3) if own[k] else None for k in shared},
            "copies_of_the_image_set": {
                "fetched_shared": round(shared["upstream_bytes"] / image_bytes, 2),
                "fetched_own": round(own["upstream_bytes"] / image_bytes, 2),
                "on_disk_shared": round(shared["mirror_disk_bytes"] / image_bytes, 2),
                "on_disk_own": round(own["mirror_disk_bytes"] / image_bytes, 2),
            },
        })
    return results
