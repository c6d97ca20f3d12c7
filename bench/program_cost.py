"""4. Program cost: time to build the Pulumi graph under mocks, against its size.

Beside each kindreg graph, a control: a program that registers the same number of bare
resources under the same mocks, so the SDK's own cost per resource is measured in the same run.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pulumi

from bench.common import median
from tests.mocks.harness import KindregMocks, RecordingMonitor, fake_host, run_stack

REPEATS = 5


def _mirrors(n: int) -> list[dict]:
    # Fixed addresses: addresses derived from 64 made-up names can collide (validation refuses).
    return [{"name": f"m{i}", "url": f"https://m{i}.example.com", "address": f"10.125.200.{2 + i}"} for i in range(n)]


def _median_seconds(fn) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


def _control(count: int) -> None:
    mocks = KindregMocks()
    pulumi.runtime.set_mocks(mocks, project="kindreg", stack="control", monitor=RecordingMonitor(mocks))

    @pulumi.runtime.test
    def program():
        things = [pulumi.CustomResource("control:index:Thing", f"thing{i}", {"value": i}) for i in range(count)]
        return pulumi.Output.all(*[t.urn for t in things])

    program()


def _row(params: dict, seconds: float, resources: int) -> dict:
    control = _median_seconds(lambda: _control(resources))
    return {"measurement": "program_cost", "params": params,
            "raw": {"seconds": round(seconds, 4), "resources": resources, "control_seconds": round(control, 4)},
            "ratios": {"ms_per_resource": round(1000 * seconds / resources, 3),
                       "control_ms_per_resource": round(1000 * control / resources, 3),
                       "to_control": round(seconds / control, 2)}}


def measure(mirror_counts=(1, 4, 16, 64), node_counts=(1, 3, 9)) -> list[dict]:
    host = fake_host(Path(tempfile.mkdtemp()))
    results = []
    for m in mirror_counts:
        shared = {"kindreg:shared": {"mirrors": _mirrors(m)}}
        outputs = run_stack("shared", shared, host).outputs
        project = {"kindreg:cluster": {"nodes": {"workers": 0}}}
        seconds = _median_seconds(lambda: (run_stack("shared", shared, host),
                                           run_stack("dev", project, host, stack_outputs={"shared": outputs})))
        count = len(run_stack("shared", shared, host).resources) + \
            len(run_stack("dev", project, host, stack_outputs={"shared": outputs}).resources)
        results.append(_row({"stacks": "shared + project", "mirrors": m, "nodes": 1}, seconds, count))
    outputs = run_stack("shared", {"kindreg:shared": {"mirrors": _mirrors(4)}}, host).outputs
    for n in node_counts:
        project = {"kindreg:cluster": {"nodes": {"controlPlanes": 1, "workers": n - 1}}}
        seconds = _median_seconds(lambda: run_stack("dev", project, host, stack_outputs={"shared": outputs}))
        count = len(run_stack("dev", project, host, stack_outputs={"shared": outputs}).resources)
        results.append(_row({"stacks": "project", "mirrors": 4, "nodes": n}, seconds, count))
    return results


# Where a program's time goes, by whose code runs (self time of each function, grouped by file).
GROUPS = (("kindreg's components", ("/components/",)), ("kindreg's core", ("/kindreg/",)),
          ("provider SDKs (pulumi_docker, pulumi_command)", ("/pulumi_docker/", "/pulumi_command/")),
          ("Pulumi SDK: serialising inputs", ("/pulumi/runtime/rpc.py",)),
          ("Pulumi SDK: stack traces of each resource", ("traceback.py", "linecache.py")),
          ("Pulumi SDK: outputs and registration", ("/pulumi/",)),
          ("asyncio", ("/asyncio/",)), ("protobuf and grpc", ("/google/", "/grpc/")),
          ("the mocks (not under the engine)", ("/tests/",)))


def profile(mirrors: int = 64) -> dict:
    """The shared + project program at `mirrors` mirrors under cProfile: share of the time per group."""
    import cProfile
    import pstats
    host = fake_host(Path(tempfile.mkdtemp()))
    shared = {"kindreg:shared": {"mirrors": _mirrors(mirrors)}}
    outputs = run_stack("shared", shared, host).outputs
    project = {"kindreg:cluster": {"nodes": {"workers": 0}}}
    prof = cProfile.Profile()
    prof.enable()
    run_stack("shared", shared, host)
    run_stack("dev", project, host, stack_outputs={"shared": outputs})
    prof.disable()
    totals: dict[str, float] = {}
    for (path, _, _), (_, _, self_time, _, _) in pstats.Stats(prof).stats.items():
        group = next((g for g, marks in GROUPS if any(m in path for m in marks)), "other (Python itself)")
        totals[group] = totals.get(group, 0.0) + self_time
    whole = sum(totals.values())
    return {"measurement": "program_cost_profile", "params": {"mirrors": mirrors},
            "shares": {g: round(t / whole, 3) for g, t in sorted(totals.items(), key=lambda kv: -kv[1])}}
