"""7. A bounded mirror: more than its bound pulled through it, at the benchmark's upstream rate.

Side by side in each run, the same sequence of pulls (ten images of a 10 MiB layer each over a
4 MiB base they share, 104 MiB in all) through the shared stack's one mirror twice: bounded
(`mirrors: {maxSize: 64MiB}`), and unbounded. Measured: the peak of the mirror's volume (its
front cache's part included), sampled every 0.25 s, against the bound; the pull time of the
sequence, bounded against unbounded; and what the upstream sends when the images read last are
pulled again after the sequence (they must still be cached: 0 bytes).

`inUseFor` is 2 s here, shorter than the default minute, so that the images read a few pulls
ago may go: a pull here takes a few seconds.
"""
from __future__ import annotations

import threading
import time

from bench.common import Bench, MiB, Upstream, disk_kib, median, project_stack, pull, random_bytes, shared_stack
from bench.coldwarm import MIRROR

BOUND = 64 * MiB
BOUND_TEXT = "64MiB"
IN_USE = "2s"
TARGET_DISK_RATIO = 1.05
TARGET_RATE_RATIO = 1.2
IMAGE_SET = {
    f"bench/bound{i}:1": [{"base.bin": random_bytes(101, 4 * MiB)}, {f"own{i}.bin": random_bytes(110 + i, 10 * MiB)}]
    for i in range(10)
}
REFS = [f"docker.io/{name}" for name in IMAGE_SET]
KEPT = REFS[-2:]  # read last: still cached after the sequence


def _shared(bench: Bench, bounded: bool) -> dict:
    config = shared_stack(bench)
    if bounded:
        shared = config["kindreg:shared"]
        shared["mirrors"] = {"maxSize": BOUND_TEXT, "inUseFor": IN_USE, "list": shared["mirrors"]}
    return config


class Peak(threading.Thread):
    """The mirror's volume on disk (`du -k`), sampled until stopped."""

    def __init__(self, bench: Bench):
        super().__init__(daemon=True)
        self.client = bench.client
        self.peak, self.done = 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, disk_kib(self.client, MIRROR) * 1024)
            time.sleep(0.25)

    def stop(self) -> int:
        self.done.set()
        self.join()
        return self.peak


def _sequence(bench: Bench, upstream: Upstream, bounded: bool) -> dict:
    bench.up("shared", _shared(bench, bounded))
    node = bench.up("p0", project_stack(bench, 0, shared=True))["nodes"][0]
    peak = Peak(bench)
    peak.start()
    try:
        seconds = sum(pull(bench.client, node, ref) for ref in REFS)
        time.sleep(3)  # the keeper's round after the last pull
    finally:
        disk = peak.stop()
    since = upstream.mark()
    for ref in KEPT:
        pull(bench.client, node, ref)
    again = upstream.settled(since, settle=1.0)[0]
    bench.destroy_all()  # volumes too: the next sequence starts empty
    return {"seconds": seconds, "peakBytes": disk, "upstreamBytesKept": again}


def measure(bench: Bench, upstream: Upstream, runs: int = 3) -> dict:
    raw: dict[str, list[float]] = {k: [] for k in ("boundedSeconds", "unboundedSeconds", "peakBytes",
                                                   "unboundedPeakBytes", "upstreamBytesKept")}
    for _ in range(runs):
        bounded = _sequence(bench, upstream, bounded=True)
        unbounded = _sequence(bench, upstream, bounded=False)
        raw["boundedSeconds"].append(bounded["seconds"])
        raw["unboundedSeconds"].append(unbounded["seconds"])
        raw["peakBytes"].append(bounded["peakBytes"])
        raw["unboundedPeakBytes"].append(unbounded["peakBytes"])
        raw["upstreamBytesKept"].append(bounded["upstreamBytesKept"])
    m = {k: median(v) for k, v in raw.items()}
    pulled = sum(len(d) for layers in IMAGE_SET.values() for f in layers[1:] for d in f.values()) + 4 * MiB
    return {
        "measurement": "disk-bound",
        "boundBytes": BOUND,
        "peakBytes": int(max(raw["peakBytes"])),
        "diskToBoundRatio": round(max(raw["peakBytes"]) / BOUND, 3),
        "targetDiskRatio": TARGET_DISK_RATIO,
        "upstreamBytesRecentlyUsed": int(max(raw["upstreamBytesKept"])),
        "pullSecondsBounded": round(m["boundedSeconds"], 2),
        "pullSecondsUnbounded": round(m["unboundedSeconds"], 2),
        "pullTimeRatioToUnbounded": round(m["boundedSeconds"] / m["unboundedSeconds"], 3),
        "targetRateRatio": TARGET_RATE_RATIO,
        "unboundedPeakBytes": int(m["unboundedPeakBytes"]),
        "params": {"runs": runs, "images": len(IMAGE_SET), "pulledBytes": pulled, "inUseFor": IN_USE,
                   "recentlyUsed": KEPT, "sampleSeconds": 0.25,
                   "peak": "the largest of the runs: the volume, with the front cache's part in it when bounded "
                           "(unbounded, the front cache is outside the volume)"},
        "raw": {k: [round(x, 3) for x in v] for k, v in raw.items()},
    }
