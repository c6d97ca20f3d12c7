"""Bring the machine back to the plan: what differs (before the engine), what the engine cannot
fix itself, and the checks after it.

The comparison is kindreg.core.drift's, on the observed model kindreg.adapters.world reads; the
engine's refresh covers what the docker provider can read (a container gone or stopped, a network
or volume gone). The rest is acted on here or handed to the engine as a replacement:
- a container kindreg labelled its own that was changed or recreated outside it: removed here
  (never its volume), then the engine creates it anew;
- a node off one of its networks: connected here; a stopped node: started here;
- a file in the nodes, the TLS pair, the ConfigMap: their Command is replaced (pulumi-command
  has no read of the world, so a refresh cannot see them).
"""
from __future__ import annotations

import re
import time
from datetime import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence, Union

from kindreg.adapters import reach, world as world_reader
from kindreg.adapters.engine import Engine, EngineError, Snapshot, by_name
from kindreg.adapters.mkcert import LocalCA
from kindreg.core import drift, frontcache, render, storage
from kindreg.core.drift import Difference, Fix
from kindreg.core.expected import Expected, Thing, expected
from kindreg.core.plan import ProjectPlan, SharedPlan
from kindreg.core.sources import KEY_S3_CREDENTIALS
from kindreg.core.world import Recorded, World

Plan = Union[SharedPlan, ProjectPlan]
Out = Callable[[str], None]
# How long a registry or front cache the engine has just started may take to answer: the bound
# the docker provider's `wait_timeout` set while the engine waited for health checks.
READY_SECONDS = 60.0


@dataclass
class Machine:
    """The world around a project directory's stacks: its Docker engine and this host."""

    engine: Engine
    project_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ca = LocalCA(self.env)
        self._snapshot: Optional[Snapshot] = None

    def expected(self, plan: Plan) -> Expected:
        tls_dir = str((self.project_dir / plan.state_dir / "tls").resolve()) if plan.tls else None
        ca_pem = None
        if isinstance(plan, ProjectPlan) and plan.needs_ca and (ca := self._ca.file()):
            ca_pem = Path(ca).read_text(encoding="utf-8")
        return expected(plan, tls_dir, ca_pem)

    def observe(self, wanted: Sequence[Expected], again: bool = False) -> World:
        """The world now; `again`: nothing has acted since the previous observation, whose
        engine listings are used again (the files inside containers are always read)."""
        if not (again and self._snapshot):
            self._snapshot = Snapshot(self.engine)
        return world_reader.observe(self._snapshot, wanted)

    def differences(self, plan: Plan, recorded: Recorded) -> list[Difference]:
        return self.look(plan, recorded)[2]

    def look(self, plan: Plan, recorded: Recorded, again: bool = False) -> tuple[Expected, World, list[Difference]]:
        """What the plan expects, what is there, and what differs (`again`: as `observe`)."""
        want = self.expected(plan)
        seen = self.observe([want], again)
        return want, seen, drift.compare(want, seen, recorded)

    # -------------------------------------------------------------- acting
    def before(self, found: Sequence[Difference], out: Out) -> None:
        """What kindreg does itself before the engine runs: remove what the engine must make
        anew, detach nodes from removed networks (they cannot start otherwise), start nodes."""
        steps = [*((d, self._remove) for d in found if d.fix is Fix.REMOVE),
                 *((d, self._detach) for d in found if d.fix is Fix.RECONNECT),
                 *((d, self._start) for d in found if d.fix is Fix.START)]
        for d, step in steps:
            out(f"  {step(d)}")

    def after(self, found: Sequence[Difference], out: Out) -> None:
        """After the engine (which makes any network that was missing): join nodes to their networks."""
        for d in found:
            if d.fix in (Fix.CONNECT, Fix.RECONNECT):
                out(f"  {self._connect(d)}")

    def _remove(self, d: Difference) -> str:
        if d.thing is Thing.NETWORK:
            self.engine.network_remove(d.name)
            return f"removed network {d.name} (nothing attached); up creates it as planned"
        self.engine.remove(d.name)
        return f"removed container {d.name} (its volume stays); up creates it as planned"

    def _detach(self, d: Difference) -> str:
        node = _node_of(d)
        self.engine.network_disconnect(d.network, node)
        return f"detached node {node} from the removed network {d.network}"

    def _connect(self, d: Difference) -> str:
        node = _node_of(d)
        self.engine.network_connect(d.network, node)
        return f"connected node {node} to {d.network}"

    def _start(self, d: Difference) -> str:
        self.engine.start(d.name)
        return f"started node {d.name}"

    def verify(self, plan: Plan, recorded: Recorded, looked: Optional[tuple[Expected, World]] = None
               ) -> tuple[list["Check"], Expected, World]:
        """The checks, and the expected model and world they judged. `looked`: an observation
        made since the engine last ran (none is made again); without one the engine has just
        run, and what it started is given READY_SECONDS to answer."""
        want, seen = looked or (None, None)
        settle = 0.0 if looked else READY_SECONDS
        if want is None:
            want = self.expected(plan)
            seen = self.observe([want])
        return verify(self, plan, recorded, want=want, seen=seen, settle=settle), want, seen


def _node_of(d: Difference) -> str:
    return d.name.split(" on ", 1)[0]


def report(found: Sequence[Difference], stack: str, out: Out) -> None:
    if not found:
        return
    out(f"stack {stack}: {len(found)} thing(s) differ from the plan:")
    for d in found:
        out(f"  {d.line()}: {d.remedy()}")


# ---------------------------------------------------------------- after the engine

@dataclass(frozen=True)
class Check:
    ok: bool
    text: str
    fix: str = ""

    def render(self) -> str:
        return f"  {'ok  ' if self.ok else 'FAIL'}  {self.text}" + (f"\n        fix: {self.fix}" if not self.ok and self.fix else "")


def verify(machine: Machine, plan: Plan, recorded: Recorded, routes: Optional[reach.HostRoutes] = None,
           want: Optional[Expected] = None, seen: Optional[World] = None, settle: float = 0.0) -> list[Check]:
    """What the user depends on, checked for real: the registry API of each registry at its
    address, each front cache from its mirror, each node's files and networks, and nothing
    left differing from the plan (in `seen`, else in the world observed now). `settle`: for
    this many seconds a registry or front cache that does not answer yet is asked again (the
    engine has just started it; it does not wait for health checks, see components/registry.py)."""
    want = want or machine.expected(plan)
    seen = seen or machine.observe([want])
    found = drift.compare(want, seen, recorded)
    routes = routes or reach.HostRoutes(machine.engine.endpoint())
    inspected = by_name(machine.engine.containers())  # one inspection for every probe
    answers = _settled([*_registries(machine, plan, routes, inspected), *_fronts(machine, plan),
                        *_storage(machine, plan, inspected)], settle)
    checks = [*answers, *_nodes(want, found)]
    checks += [Check(False, d.line(), d.remedy()) for d in found if not _covered(d, checks)]
    return checks


Probe = Callable[[], "Check"]
SETTLE_STEP = 0.1  # seconds between two asks of a service that did not answer yet


def _settled(probes: Sequence[Probe], seconds: float) -> list[Check]:
    """Each probe's check; the failing ones asked again until they pass or `seconds` have gone."""
    deadline = time.monotonic() + seconds
    checks = [p() for p in probes]
    while not all(c.ok for c in checks) and time.monotonic() < deadline:
        time.sleep(SETTLE_STEP)
        checks = [c if c.ok else p() for p, c in zip(probes, checks)]
    return checks


def _covered(d: Difference, checks: list[Check]) -> bool:
    return any(not c.ok and d.name in c.text for c in checks)


def _registries(machine: Machine, plan: Plan, routes: reach.HostRoutes, inspected: Mapping[str, dict]) -> list[Probe]:
    ca = machine._ca.file() if plan.tls else None
    return [_registry_probe(plan, reg, inspected.get(reg.container), routes, ca) for reg in plan.registries]


def _registry_probe(plan: Plan, reg, container: Optional[dict], routes: reach.HostRoutes, ca: Optional[str]) -> Probe:
    route = routes.route(container) if container else None
    url = f"{reg.url}/v2/"
    fix = f"kindreg up --stack {plan.stack}; if it persists, `docker logs {reg.container}`"
    if route is None:
        return lambda: Check(False, f"{reg.role} registry {reg.container}: no route from this host to {url}",
                             f"kindreg up --stack {plan.stack}")
    via = "" if not route.published else f" (through {route.address} on this host)"

    def probe() -> Check:
        problem = reach.registry_api(f"{route.url(reg.scheme)}/v2/", ca)
        return Check(problem is None, f"{reg.role} registry {reg.container} answers the registry API at {url}{via}"
                     if problem is None else f"{reg.role} registry {reg.container} at {url}: {problem}", fix)
    return probe


def _fronts(machine: Machine, plan: Plan) -> list[Probe]:
    return [_front_probe(machine, plan, reg) for reg in plan.registries if reg.front is not None]


def _front_probe(machine: Machine, plan: Plan, reg) -> Probe:
    def probe() -> Check:
        try:
            code, text = machine.engine.exec(reg.container, frontcache.probe_from_registry(reg))
        except EngineError as err:
            code, text = 1, str(err)
        return Check(code == 0, f"front cache {reg.front.container} answers {reg.container} at {reg.front.url}"
                     if code == 0 else f"front cache {reg.front.container} does not answer {reg.container} "
                     f"at {reg.front.url}: {text.strip()[:120] or f'exit {code}'}",
                     f"kindreg up --stack {plan.stack}; if it persists, `docker logs {reg.front.container}`")
    return probe


def storage_checks(machine: Machine, plan: Plan) -> list[Check]:
    """Whether each S3-backed mirror of the plan reaches its bucket, asked once (as `up` asks)."""
    return [probe() for probe in _storage(machine, plan, by_name(machine.engine.containers()))]


def _storage(machine: Machine, plan: Plan, inspected: Mapping[str, dict]) -> list[Probe]:
    return [_storage_probe(machine, reg, inspected.get(reg.container)) for reg in plan.registries if reg.s3]


def _storage_probe(machine: Machine, reg, container: Optional[dict]) -> Probe:
    """The registry's own storage check (kindreg.core.storage), asked once it has run."""
    started = started_at(container) if container else None

    def probe() -> Check:
        if started is None:
            return Check(False, f"mirror {reg.container} is not running: its storage {reg.s3.where} was not checked")
        time.sleep(max(0.0, storage.SETTLE_SECONDS - (time.time() - started)))
        try:
            code, _ = machine.engine.exec(reg.container, ["wget", "-q", "-O", "/dev/null", render.HEALTH_URL])
        except EngineError:
            code = 1
        if code == 0:
            return Check(True, f"mirror {reg.container} reaches its storage {reg.s3.where}")
        lines = [line for _, line in machine.engine.logs(reg.container, since=started)]
        text, fix = storage.explain(reg.s3, storage.failure(lines), KEY_S3_CREDENTIALS)
        return Check(False, f"mirror {reg.container}: {text}", fix)
    return probe


def started_at(container: dict) -> Optional[float]:
    """When a running container last started (a Unix time), from its `docker inspect`."""
    state = container.get("State") or {}
    if not state.get("Running"):
        return None
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", str(state.get("StartedAt", ""))).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def _nodes(want: Expected, found: Sequence[Difference]) -> list[Check]:
    out = []
    for node in want.nodes:
        wrong = [d for d in found if d.name == node.name or d.name.startswith(f"{node.name}:")
                 or d.name.startswith(f"{node.name} on ")]
        if wrong:
            out += [Check(False, d.line(), d.remedy()) for d in wrong]
        else:
            files = f"{len(node.files)} containerd file(s) as written, " if node.files else ""
            out.append(Check(True, f"node {node.name}: {files}on {' and '.join(node.networks)}"))
    return out


# ---------------------------------------------------------------- the verdict of status and doctor

def verdict(machine: Machine, plans: Sequence[Plan], recorded_of: Callable[[str], Recorded]) -> dict[str, list[Difference]]:
    """stack -> what differs, for every stack that is up (one observation for all of them). A
    stack whose state cannot be read counts as up when its network exists."""
    wanted = []
    for plan in plans:
        recorded = recorded_of(plan.stack)
        wanted.append((plan, machine.expected(plan), recorded))
    seen = machine.observe([w for _, w, _ in wanted])
    out = {}
    for plan, want, recorded in wanted:
        if recorded.up or (not recorded.read and plan.network.name in seen.networks):
            out[plan.stack] = drift.compare(want, seen, recorded)
    return out
