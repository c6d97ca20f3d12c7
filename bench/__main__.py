"""`python -m bench`: kindreg's benchmarks, side by side in one run; a table and bench/results.json."""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from bench import cirestore, coldwarm, diskbound, engine_ops, program_cost, report, sharing
from bench.common import Upstream, make_bench

RESULTS = Path(__file__).parent / "results.json"
ALL = ["sharing", "cold_warm", "concurrent", "ci_restore", "disk_bound", "program_cost", "engine"]
SLOW = {"cold_warm", "concurrent", "ci_restore", "disk_bound"}  # through the rate-limited upstream


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", choices=ALL, action="append")
    parser.add_argument("--rate", default="20mbit", help="the upstream link (tc tbf rate)")
    parser.add_argument("--runs", type=int, default=3, help="runs per cold/warm figure (medians)")
    args = parser.parse_args()
    only = set(args.only or ALL)
    started = time.time()
    results: list[dict] = []
    if "program_cost" in only:
        results += program_cost.measure()
        results.append(program_cost.profile())
    if "engine" in only:
        results += engine_ops.measure(runs=args.runs)
    if only & ({"sharing"} | SLOW):
        workdir = Path(tempfile.mkdtemp(prefix="kindreg-bench-"))
        bench = make_bench(workdir)
        # Sharing is about bytes, not time: an unshaped link keeps it quick.
        if "sharing" in only:
            upstream = Upstream(workdir / "fast", rate=None)
            try:
                for name, layers in sharing.IMAGE_SET.items():
                    upstream.push(name, layers)
                results += sharing.measure(bench, upstream)
            finally:
                try:
                    bench.destroy_all()
                finally:  # the namespace, its link and route go even when a destroy fails
                    upstream.close()
        if only & SLOW:
            upstream = Upstream(workdir / "slow", rate=args.rate)
            try:
                for name, layers in {**sharing.IMAGE_SET, **diskbound.IMAGE_SET}.items():
                    upstream.push(name, layers)
                if "cold_warm" in only:
                    cold_warm = coldwarm.measure_cold_warm(bench, upstream, args.runs)
                    results += [cold_warm, coldwarm.warm_pull(cold_warm)]
                if "concurrent" in only:
                    results += coldwarm.measure_concurrent(bench, upstream, runs=args.runs)
                if "ci_restore" in only:
                    results.append(cirestore.measure(bench, upstream, runs=args.runs))
                if "disk_bound" in only:
                    results.append(diskbound.measure(bench, upstream, runs=args.runs))
            finally:
                try:
                    bench.destroy_all()
                finally:  # the namespace, its link and route go even when a destroy fails
                    upstream.close()
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
               "docker": _docker_version(), "upstream_link": args.rate}
    document = {"machine": machine, "seconds": round(time.time() - started, 1), "results": _kept(results)}
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(report.render(document))
    print(f"\nwritten: {RESULTS}")
    return 0


def _kept(results: list[dict]) -> list[dict]:
    """This run's results, and the previous document's for measurements this run did not make
    (an `--only` run refreshes its own entries and keeps the others)."""
    try:
        previous = json.loads(RESULTS.read_text())["results"]
    except (OSError, ValueError, KeyError):
        previous = []
    made = {r["measurement"] for r in results}
    return [r for r in previous if r.get("measurement") not in made] + results


def _docker_version() -> str:
    import subprocess
    out = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True)
    return out.stdout.strip()


if __name__ == "__main__":
    raise SystemExit(main())
