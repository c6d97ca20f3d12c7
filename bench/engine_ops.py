"""5. kindreg's commands under the real Pulumi engine, against the engine's own floor.

The set-up of tests/engine (the Pulumi CLI and Python host built from Go modules, a local file
backend, the provider plugin doubles, the kind double, the test images) runs a shared stack and
a project `dev`; beside it, in the same run and on the same CLI and backend kind, the floor: an
empty Python Pulumi program. Each figure is a median of `runs` runs:

- `noop-up` / `noop-preview`: `kindreg up --yes` / `kindreg preview` with nothing changed,
  against the floor's `pulumi up --yes` / `pulumi preview`;
- `drift-up`: an up that heals one container removed by hand, against the floor's `pulumi up`;
- `first-up`: the first up of shared + dev, against the same containers, networks and volumes
  created by the docker CLI one after another;
- `many-stacks`: a no-op `kindreg up --stack dev` with 10 and 30 project stacks in the
  directory, against the same with the project alone; with the peak RSS of kindreg's processes.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

from bench.common import median
from kindreg.core.vocabulary import Label
from tests.doubles import ownership
from tests.engine.conftest import EngineProject, PASSPHRASE, engine_environment
from tests.engine import test_lifecycle
from tests.engine.test_lifecycle import User
from tests.live import images
from tests.live.conftest import TEST_LAYERS, TEST_REPO, Upstream

# Names and subnets of their own: the benchmark can run beside the tests on one engine.
NET, PREFIX = "10.222", "krbe"
CACHE = f"{PREFIX}-dev-registry-cache"


def shared_config(registry_image: str, port: int) -> dict:
    return test_lifecycle.shared_config(registry_image, port, prefix=PREFIX, net=NET)


def project_config(name: str, slot: int, registry_image: str, node_image: str) -> dict:
    return test_lifecycle.project_config(name, slot, registry_image, node_image, prefix=PREFIX, net=NET, cluster="be")
FLOOR_PROGRAM = "import pulumi\n"


# Runs a command and reports its peak RSS: a small process of its own forks the command, so the
# figure is the command's (and what it waited for), not the pages of the benchmark process that
# a fork from it would count until the exec.
MEASURE = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
           "print(f'peak-rss-kib={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}'); sys.exit(code)")


def _run(argv: list[str], env: dict, cwd: Path | None = None) -> tuple[float, int, list[tuple[float, str]]]:
    """Seconds; the peak RSS (KiB) of the process and of the processes it waited for; each
    output line with the second it came at."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", MEASURE, *argv], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    lines = [(time.perf_counter() - start, line.rstrip("\n")) for line in proc.stdout]
    code = proc.wait()
    seconds = time.perf_counter() - start
    rss = next((int(line.split("=", 1)[1]) for _, line in lines if line.startswith("peak-rss-kib=")), 0)
    if code != 0:
        tail = "\n".join(line for _, line in lines[-60:])
        raise RuntimeError(f"{' '.join(argv[:4])} exited {code}:\n{tail}")
    return seconds, rss, lines


def _timed(argv: list[str], env: dict, cwd: Path | None = None) -> tuple[float, int]:
    seconds, rss, _ = _run(argv, env, cwd)
    return seconds, rss


# `+  docker:index:Container dev-cache created (1.52s)`: the engine's own time for each step.
STEP = re.compile(r"^\s*[+~-]+\s+(\S+:\S+:\S+)\s+\S+\s+(?:created|updated|replaced|read)\s+\(([\d.]+)s\)")


def phases(lines: list[tuple[float, str]], total: float) -> dict:
    """Where a first `up` spends its time, from its timed output: per stack, the CLI's start
    until the engine prints its update header, the program and plugins until the first step,
    the steps (the engine's time per resource type, summed: steps run in parallel, so the
    sum can exceed the wall time), and kindreg's own checks after the engine."""
    out: dict = {"totalSeconds": round(total, 2), "stacks": {}}
    current, marks = None, {}
    for t, line in lines:
        if line.startswith("== stack ") and line.endswith(": up"):
            current = line.split()[2].rstrip(":")
            marks[current] = {"start": t, "steps": {}}
        elif current is None:
            continue
        elif line.startswith(("Updating (", "Previewing update (")):
            marks[current].setdefault("header", t)
        elif (m := STEP.match(line)):
            marks[current].setdefault("firstStep", t)
            kind = m.group(1)
            marks[current]["steps"][kind] = marks[current]["steps"].get(kind, 0.0) + float(m.group(2))
        elif line.startswith("checks of stack"):
            marks[current]["checks"] = t
        elif line.startswith(f"stack {current} is up"):
            marks[current]["end"] = t
    for name, m in marks.items():
        header, first = m.get("header", m["start"]), m.get("firstStep", m.get("checks", m["start"]))
        checks = m.get("checks", first)
        out["stacks"][name] = {
            "cliStartSeconds": round(header - m["start"], 2),
            "programAndPluginsSeconds": round(first - header, 2),
            "stepsSecondsByType": {k: round(v, 2) for k, v in sorted(m["steps"].items(), key=lambda kv: -kv[1])},
            "engineWallSeconds": round(checks - header, 2),
            "checksSeconds": round(m.get("end", checks) - checks, 2)}
    return out


class Floor:
    """An empty Python Pulumi program on the same CLI, plugins and kind of backend."""

    def __init__(self, workdir: Path, env: dict):
        self.dir = workdir / "floor"
        self.dir.mkdir()
        (self.dir / "Pulumi.yaml").write_text("name: floor\nruntime:\n  name: python\n  options:\n"
                                              f"    virtualenv: {Path(sys.executable).parent.parent}\n")
        (self.dir / "__main__.py").write_text(FLOOR_PROGRAM)
        state = workdir / "floor-state"
        state.mkdir()
        self.env = {**os.environ, **env, "PULUMI_BACKEND_URL": f"file://{state}",
                    "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE, "PULUMI_HOME": str(workdir / "pulumi-home"),
                    "PULUMI_SKIP_UPDATE_CHECK": "true"}
        subprocess.run(["pulumi", "stack", "init", "floor"], cwd=self.dir, env=self.env, check=True, capture_output=True)
        self.run("up", "--yes")

    def run(self, *args: str) -> float:
        return _timed(["pulumi", *args, "--non-interactive", "--stack", "floor"], self.env, self.dir)[0]


def _medians(fn, runs: int) -> float:
    return median([fn() for _ in range(runs)])


def _ratio(seconds: float, floor: float) -> float:
    return round(seconds / floor, 2)


def _entry(measurement: str, seconds: float, floor: float, **extra) -> dict:
    return {"measurement": measurement, "seconds": round(seconds, 3), "floorSeconds": round(floor, 3),
            "ratioToFloor": _ratio(seconds, floor), **extra}


def _docker_floor(client, workdir: Path) -> float:
    """The containers, networks and volumes kindreg made, made again by the docker CLI in
    sequence (same images, same networks and volumes), under other names; then removed."""
    mine = {"label": f"{Label.TEST_RUN.value}={ownership.RUN_ID}"}
    networks = [n for n in client.networks.list(filters=mine) if n.name.startswith(f"{PREFIX}-")]
    volumes = [v for v in client.volumes.list(filters=mine) if v.name.startswith(f"{PREFIX}-")]
    containers = [c for c in client.containers.list(all=True, filters=mine)
                  if c.name.startswith((f"{PREFIX}-", "be-"))]
    label = ["--label", f"{Label.TEST_RUN.value}={ownership.RUN_ID}"]
    commands = []
    for n in networks:
        subnet = n.attrs["IPAM"]["Config"][0]["Subnet"].split(".")
        commands.append(["docker", "network", "create", *label, "--subnet",
                         ".".join(["10", "223", subnet[2], "0"]) + "/24", f"floor-{n.name}"])
    commands += [["docker", "volume", "create", *label, f"floor-{v.name}"] for v in volumes]
    for c in containers:
        net = next(iter(c.attrs["NetworkSettings"]["Networks"]), None)
        commands.append(["docker", "run", "-d", *label, "--name", f"floor-{c.name}",
                         *(["--network", f"floor-{net}"] if net and net.startswith(f"{PREFIX}-") else []),
                         c.attrs["Config"]["Image"]])
    start = time.perf_counter()
    for argv in commands:
        subprocess.run(argv, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    for c in containers:
        subprocess.run(["docker", "rm", "-f", f"floor-{c.name}"], capture_output=True)
    for v in volumes:
        subprocess.run(["docker", "volume", "rm", f"floor-{v.name}"], capture_output=True)
    for n in networks:
        subprocess.run(["docker", "network", "rm", f"floor-{n.name}"], capture_output=True)
    return seconds


def _drift_phases(total: float, lines: list[tuple[float, str]]) -> dict:
    """The seconds between the lines of a healing up that mark its phases."""
    marks = [("beforeEngine", "== stack dev: up"), ("engine", "checks of stack dev:"), ("checks", "stack dev is up")]
    out, last = {}, 0.0
    for name, prefix in marks:
        t = next((t for t, line in lines if line.startswith(prefix)), None)
        if t is not None:
            out[f"{name}Seconds"] = round(t - last, 2)
            last = t
    out["restSeconds"] = round(total - last, 2)
    return out


def _many(user: User, registry: str, node: str, counts=(10, 30), runs: int = 3) -> dict:
    """No-op `up --stack dev` with the project alone, then with `count - 1` other project stacks
    beside it (written, not up: a directory of projects, most of them idle)."""
    def noop() -> tuple[float, int]:
        return _timed(user.argv("up", "--stack", "dev", "--yes"), user.env)

    def measured() -> tuple[float, int]:
        samples = [noop() for _ in range(runs)]
        return median([s for s, _ in samples]), max(r for _, r in samples)
    alone, alone_rss = measured()
    out = {"measurement": "many-stacks", "stacksAlone": 1, "secondsAlone": round(alone, 3), "peakRssKiBAlone": alone_rss}
    written: list[Path] = []
    for count in counts:
        for i in range(len(written), count - 1):
            name = f"p{i}"
            user.project.write(name, project_config(name, 10 + i, registry, node))
            written.append(user.project.dir / f"Pulumi.{name}.yaml")
        seconds, rss = measured()
        out[f"seconds{count}"] = round(seconds, 3)
        out[f"peakRssKiB{count}"] = rss
        out[f"ratio{count}"] = _ratio(seconds, alone)
    for path in written:
        path.unlink()
    return out


def measure(runs: int = 3) -> list[dict]:
    os.environ.setdefault("KINDREG_TEST_RUN", ownership.RUN_ID)
    client = docker.from_env()
    built = images.built()
    workdir = Path(tempfile.mkdtemp(prefix="kindreg-bench-engine-"))
    upstream = Upstream(client, built[0], f"kindreg-bench-up-{os.getpid()}", workdir)
    results: list[dict] = []
    try:
        for tag, layers in TEST_LAYERS.items():
            upstream.push(TEST_REPO, tag, layers)
        env = engine_environment(built)
        project = EngineProject(workdir, env)
        registry, node = built
        project.write("shared", shared_config(registry, upstream.port))
        project.write("dev", project_config("dev", 125, registry, node))
        (workdir / "config-home").mkdir()
        user = User(project, workdir / "config-home")
        floor = Floor(workdir, env)

        first, _, lines = _run(user.argv("up", "--stack", "dev", "--yes"), user.env)
        results.append(_entry("first-up", first, _docker_floor(client, workdir), floorWhat="docker CLI, in sequence",
                              phases=phases(lines, first)))

        def up() -> float:
            return _timed(user.argv("up", "--stack", "dev", "--yes"), user.env)[0]

        def preview() -> float:
            return _timed(user.argv("preview", "--stack", "dev"), user.env)[0]
        floor_up = _medians(lambda: floor.run("up", "--yes"), runs)
        floor_preview = _medians(lambda: floor.run("preview"), runs)
        results.append(_entry("noop-up", _medians(up, runs), floor_up, floorWhat="pulumi up, empty Python program"))
        results.append(_entry("noop-preview", _medians(preview, runs), floor_preview,
                              floorWhat="pulumi preview, empty Python program"))

        drifts: list[tuple[float, list]] = []

        def drift() -> float:
            client.containers.get(CACHE).remove(force=True)
            seconds, _, lines = _run(user.argv("up", "--stack", "dev", "--yes"), user.env)
            drifts.append((seconds, lines))
            return seconds
        drift_seconds = _medians(drift, runs)
        last = drifts[-1]
        results.append(_entry("drift-up", drift_seconds, floor_up, floorWhat="pulumi up, empty Python program",
                              drift="the project's cache registry removed", phases=_drift_phases(*last)))
        results.append(_many(user, registry, node, runs=runs))
        for stack in ("dev", "shared"):
            user.run("down", "--stack", stack, "--yes")
    finally:
        upstream.remove()
        from tests.doubles.ownership import sweep
        sweep(client)
    return results


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
