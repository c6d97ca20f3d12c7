"""`kindreg status`: what is running, read from the engine (labels), not from state."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

from kindreg.adapters.engine import Engine, addresses, env_value, is_registry, label, name_of, running, state_of
from kindreg.core.keeper import KEEP_BYTES_ENV
from kindreg.adapters.reach import HostRoutes, published_port, registry_port
from kindreg.core.render import DATA_DIR, MODE_FILE
from kindreg.core.text import table
from kindreg.core.traffic import DEBUG_VARS_COMMAND, DISK_COMMAND, MirrorTraffic, human_bytes, parse_debug_vars, parse_du
from kindreg.core.vocabulary import KIND_CLUSTER_LABEL, PUBLISH_ADDRESS, Label, Role, Scope
# A repository is a directory holding _manifests under the registry's storage.
COUNT_REPOSITORIES = ["sh", "-c", f"find {DATA_DIR}/docker/registry/v2/repositories -type d "
                      "-name _manifests 2>/dev/null | wc -l"]


@dataclass
class RegistryStatus:
    container: str
    role: str
    name: str
    stack: str
    scope: str
    network: str
    ip: str
    state: str
    scheme: str
    host: str
    upstream: Optional[str]
    published: Optional[str]  # 127.0.0.1:<port> the engine published it on, if any
    catalog: Optional[str]  # as this host reaches it (its address, else the published port)
    repositories: Optional[int]
    mode: Optional[str]  # mirrors: pull-through | cache-only
    traffic: Optional[MirrorTraffic] = None  # mirrors: the registry's own counters since its start
    # A bounded mirror's share of mirrors.maxSize, as its container holds it (its keeper's budget;
    # traffic.disk_bytes is what its volume, front cache's part included, uses of it).
    bound_bytes: Optional[int] = None


@dataclass
class NodeStatus:
    name: str
    cluster: str
    state: str
    networks: dict[str, str]


@dataclass
class Status:
    shared: list[RegistryStatus] = field(default_factory=list)
    projects: dict[str, list[RegistryStatus]] = field(default_factory=dict)
    nodes: dict[str, list[NodeStatus]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.shared or self.projects or self.nodes)

    def to_json(self) -> dict:
        return {"shared": [asdict(r) for r in self.shared],
                "projects": {k: [asdict(r) for r in v] for k, v in self.projects.items()},
                "nodes": {k: [asdict(n) for n in v] for k, v in self.nodes.items()}}


def collect(engine: Engine, routes: Optional[HostRoutes] = None) -> Status:
    engine.ping()
    routes = routes or HostRoutes(engine.endpoint())
    containers = engine.containers()
    status = Status()
    for c in sorted(containers, key=name_of):
        if is_registry(c):
            reg = _registry(engine, c, routes)
            if reg.scope == Scope.SHARED:
                status.shared.append(reg)
            else:
                status.projects.setdefault(reg.stack, []).append(reg)
    kindreg_networks = {r.network for rs in [status.shared, *status.projects.values()] for r in rs}
    for c in sorted(containers, key=name_of):
        cluster = label(c, KIND_CLUSTER_LABEL)
        nets = addresses(c)
        if cluster and set(nets) & kindreg_networks:
            status.nodes.setdefault(cluster, []).append(NodeStatus(name_of(c), cluster, state_of(c), nets))
    return status


def _registry(engine: Engine, c: dict, routes: HostRoutes) -> RegistryStatus:
    ip = label(c, Label.IP) or ""
    nets = addresses(c)
    network = next((n for n, a in nets.items() if a == ip), next(iter(nets), ""))
    scheme = label(c, Label.SCHEME) or "http"
    up = running(c)
    role = label(c, Label.ROLE) or ""
    return RegistryStatus(
        container=name_of(c), role=role, name=label(c, Label.NAME) or "",
        stack=label(c, Label.STACK) or "", scope=label(c, Label.SCOPE) or "",
        network=network, ip=nets.get(network) or ip, state=state_of(c), scheme=scheme,
        host=label(c, Label.HOST) or "", upstream=label(c, Label.UPSTREAM), **_reached(c, scheme, routes),
        repositories=_count(engine, name_of(c)) if up else None,
        mode=_mode(engine, name_of(c)) if up and role == Role.MIRROR else None,
        traffic=read_traffic(engine, name_of(c)) if up and role == Role.MIRROR else None,
        bound_bytes=_bound(c),
    )


def _bound(c: dict) -> Optional[int]:
    value = env_value(c, KEEP_BYTES_ENV)
    return int(value) if value and value.isdigit() else None


def read_traffic(engine: Engine, container: str) -> Optional[MirrorTraffic]:
    """A running mirror's counters and disk use, read inside its container (any engine, any host)."""
    code, out = engine.exec(container, DEBUG_VARS_COMMAND)
    traffic = parse_debug_vars(out) if code == 0 else None
    if traffic is None:
        return None
    code, out = engine.exec(container, DISK_COMMAND)
    return MirrorTraffic(**{**traffic.__dict__, "disk_bytes": parse_du(out) if code == 0 else None})


def _reached(c: dict, scheme: str, routes: HostRoutes) -> dict[str, Optional[str]]:
    """The port published on 127.0.0.1, and the catalog as this host reaches it."""
    port = published_port(c, registry_port(c))
    route = routes.route(c)
    return {"published": f"{PUBLISH_ADDRESS}:{port}" if port else None,
            "catalog": f"{route.url(scheme)}/v2/_catalog" if route else None}


def _count(engine: Engine, container: str) -> Optional[int]:
    code, out = engine.exec(container, COUNT_REPOSITORIES)
    return int(out.strip()) if code == 0 and out.strip().isdigit() else None


def _mode(engine: Engine, container: str) -> Optional[str]:
    code, out = engine.exec(container, ["cat", MODE_FILE])
    return out.strip() if code == 0 and out.strip() else None


# ---------------------------------------------------------------- text

def render_table(status: Status) -> str:
    if status.empty:
        return ("no kindreg registries on this Docker engine "
                "(create them with `pulumi up -s shared`, then a project stack)")
    lines: list[str] = []
    if status.shared:
        nets = sorted({r.network for r in status.shared})
        lines.append(f"Shared mirrors (network {', '.join(nets)}, stack {status.shared[0].stack}):")
        lines += _registry_rows(status.shared)
        lines += _traffic_rows(status.shared)
    for stack, regs in status.projects.items():
        nets = sorted({r.network for r in regs})
        lines.append(f"Project registries, stack {stack} (network {', '.join(nets)}):")
        lines += _registry_rows(regs)
        lines += _traffic_rows(regs)
    for cluster, nodes in status.nodes.items():
        lines.append(f"Nodes of kind cluster {cluster}:")
        rows = [("NODE", "STATE", "NETWORKS")]
        rows += [(n.name, n.state, ", ".join(f"{k} {v}" for k, v in sorted(n.networks.items()))) for n in nodes]
        lines += table(rows)
    return "\n".join(lines)


def _traffic_rows(regs: list[RegistryStatus]) -> list[str]:
    mirrors = [r for r in regs if r.traffic]
    if not mirrors:
        return []
    rows = [("MIRROR", "REQUESTS", "HITS", "MISSES", "HIT RATE", "FETCHED", "SERVED", "DISK", "BOUND")]
    for r in mirrors:
        t = r.traffic
        rate = "-" if t.hit_rate is None else f"{t.hit_rate:.0%}"
        rows.append((r.name, str(t.requests), str(t.hits), str(t.misses), rate, human_bytes(t.fetched_bytes),
                     human_bytes(t.served_bytes), human_bytes(t.disk_bytes), _bound_cell(r)))
    return ["Mirror traffic since each registry started (FETCHED: from its front cache or upstream):", *table(rows)]


def _bound_cell(r: RegistryStatus) -> str:
    if r.bound_bytes is None:
        return "-"
    used = r.traffic.disk_bytes if r.traffic else None
    share = f" ({used / r.bound_bytes:.0%})" if used is not None else ""
    return f"{human_bytes(r.bound_bytes)}{share}"


def _registry_rows(regs: list[RegistryStatus]) -> list[str]:
    rows = [("CONTAINER", "ROLE", "IP", "PUBLISHED", "STATE", "MODE", "UPSTREAM", "REPOS", "CATALOG")]
    for r in regs:
        rows.append((r.container, r.role, r.ip, r.published or "-", r.state, r.mode or "-", r.upstream or "-",
                     "-" if r.repositories is None else str(r.repositories), r.catalog or "-"))
    return table(rows)


# ---------------------------------------------------------------- the verdict (kindreg.core.drift)

def verdict_json(problems: dict) -> dict:
    return {"ok": not any(problems.values()),
            "stacks": {stack: {"ok": not found, "problems": [d.to_json() for d in found]}
                       for stack, found in problems.items()}}


def render_verdict(problems: dict) -> str:
    if not problems:
        return "Verdict: no stack of this directory is up on this engine"
    lines = []
    for stack, found in problems.items():
        if not found:
            lines.append(f"Verdict: stack {stack} is up as planned")
            continue
        lines.append(f"Verdict: stack {stack}: {len(found)} thing(s) missing, stopped, changed or unhealthy:")
        lines += [f"  {d.line()}\n    fix: {d.remedy()}" for d in found]
    return "\n".join(lines)
