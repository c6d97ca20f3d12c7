"""6. A CI runner started warm: `kindreg cache save` on one machine, `restore` where the mirrors'
volumes are gone, then the node pulls the same images through the mirrors.

Side by side in each run, through the benchmark's rate-limited upstream: the cold pull that
filled the mirrors, the save, the restore (checking every digest, then placing), and the pull
after the restore with the bytes the upstream sent for it. The restoring machine is this engine
with the stacks destroyed and their volumes deleted (`deleteVolumes: true`): what a fresh runner
has of the mirrors. A restore into a second engine of its own runs in the tests
(tests/engine/test_warm_ci.py), where no upstream is reachable at all.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import IMAGE_SET, Bench, Upstream, median, project_stack, shared_stack, unique_bytes, wait_filled
from bench.coldwarm import DIGESTS, MIRROR, REFS, time_set
from kindreg.adapters.engine import DockerCli
from kindreg.core.config import SharedStackConfig
from kindreg.core.plan import plan_shared
from kindreg.ops import archive, prune

TARGET_RATIO = 0.25  # restore at most this share of the cold pull it saves


def _up(bench: Bench) -> str:
    bench.up("shared", shared_stack(bench))
    return bench.up("p0", project_stack(bench, 0, shared=True))["nodes"][0]


def measure(bench: Bench, upstream: Upstream, runs: int = 3) -> dict:
    config = shared_stack(bench)["kindreg:shared"]
    targets = prune.targets([plan_shared(SharedStackConfig.model_validate(config), "shared")])
    engine = DockerCli()
    quiet = lambda line: None  # noqa: E731 - the figures are the output
    raw: dict[str, list[float]] = {k: [] for k in ("coldPullSeconds", "saveSeconds", "restoreSeconds",
                                                   "pullAfterRestoreSeconds", "upstreamBytesCold",
                                                   "upstreamBytesAfterRestore", "archiveBytes")}
    with tempfile.TemporaryDirectory(prefix="kindreg-bench-archive-") as tmp:
        file = Path(tmp) / "mirrors.tgz"
        for _ in range(runs):
            node = _up(bench)
            since = upstream.mark()
            raw["coldPullSeconds"].append(time_set(bench, node, REFS))
            wait_filled(bench.client, MIRROR, DIGESTS)
            raw["upstreamBytesCold"].append(upstream.settled(since, settle=1.0)[0])
            start = time.monotonic()
            saved = archive.save(engine, targets, file, out=quiet)
            raw["saveSeconds"].append(time.monotonic() - start)
            raw["archiveBytes"].append(saved.size)
            bench.destroy_all()  # the mirrors' volumes go too
            start = time.monotonic()
            done = archive.restore(engine, targets, file, out=quiet)
            raw["restoreSeconds"].append(time.monotonic() - start)
            if not all(r.done for r in done):
                raise RuntimeError(f"restore failed: {[r.detail for r in done]}")
            node = _up(bench)
            since = upstream.mark()
            raw["pullAfterRestoreSeconds"].append(time_set(bench, node, REFS))
            raw["upstreamBytesAfterRestore"].append(upstream.settled(since, settle=1.0)[0])
            bench.destroy_all()
    m = {k: median(v) for k, v in raw.items()}
    return {
        "measurement": "ci-restore",
        "upstreamBytesAfterRestore": int(m["upstreamBytesAfterRestore"]),
        "restoreSeconds": round(m["restoreSeconds"], 2),
        "coldPullSeconds": round(m["coldPullSeconds"], 2),
        "restoreToColdPullRatio": round(m["restoreSeconds"] / m["coldPullSeconds"], 3),
        "targetRatio": TARGET_RATIO,
        "saveSeconds": round(m["saveSeconds"], 2),
        "pullAfterRestoreSeconds": round(m["pullAfterRestoreSeconds"], 2),
        "upstreamBytesCold": int(m["upstreamBytesCold"]),
        "archiveBytes": int(m["archiveBytes"]),
        "params": {"runs": runs, "images": len(IMAGE_SET), "image_set_bytes": unique_bytes(IMAGE_SET),
                   "restoringMachine": "this engine, stacks destroyed with their volumes"},
        "raw": {k: [round(x, 3) for x in v] for k, v in raw.items()},
    }
