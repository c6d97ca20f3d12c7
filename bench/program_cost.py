"""4. Program cost: time to build the Pulumi graph under mocks, against its size."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import median
from tests.mocks.harness import fake_host, run_stack


def _mirrors(n: int) -> list[str]:
    return [f"m{i}.example.com" for i in range(n)]


def _time(stack: str, config: dict, host, stack_outputs=None, repeats: int = 5) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        run = run_stack(stack, config, host, stack_outputs=stack_outputs)
        times.append(time.perf_counter() - start)
        count = len(run.resources)
    return median(times), count


def measure(mirror_counts=(1, 4, 16, 64), node_counts=(1, 3, 9)) -> list[dict]:
    host = fake_host(Path(tempfile.mkdtemp()))
    results = []
    base = None
    for m in mirror_counts:
        shared = {"kindreg:shared": {"mirrors": _mirrors(m)}}
        seconds, count = _time("shared", shared, host)
        outputs = run_stack("shared", shared, host).outputs
        project = {"kindreg:cluster": {"nodes": {"workers": 0}}}
        p_seconds, p_count = _time("dev", project, host, {"shared": outputs})
        base = base or (p_seconds + seconds) / (p_count + count)
        results.append({"measurement": "program_cost", "params": {"mirrors": m, "nodes": 1},
                        "raw": {"shared_seconds": round(seconds, 4), "shared_resources": count,
                                "project_seconds": round(p_seconds, 4), "project_resources": p_count},
                        "ratios": {"ms_per_resource": round(1000 * (seconds + p_seconds) / (count + p_count), 3),
                                   "per_resource_vs_smallest": round((seconds + p_seconds) / (count + p_count) / base, 2)}})
    outputs = run_stack("shared", {"kindreg:shared": {"mirrors": _mirrors(4)}}, host).outputs
    for n in node_counts:
        project = {"kindreg:cluster": {"nodes": {"controlPlanes": 1, "workers": n - 1}}}
        seconds, count = _time("dev", project, host, {"shared": outputs})
        results.append({"measurement": "program_cost", "params": {"mirrors": 4, "nodes": n},
                        "raw": {"project_seconds": round(seconds, 4), "project_resources": count},
                        "ratios": {"ms_per_resource": round(1000 * seconds / count, 3)}})
    return results
