"""`kindreg doctor`: is this machine ready for a stack, and is what runs as planned?

Each check is a line, `ok` or `FAIL` with the fix. The engine and the host facts (tools,
mkcert's CA, the trust store, free ports) are passed in, so tests use fakes.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Callable, Optional, Union

from kindreg.adapters.engine import Engine, EngineError, addresses, is_registry, label, name_of, running
from kindreg.adapters.reach import HostRoutes
from kindreg.core.plan import NetworkPlan, ProjectPlan, SharedPlan, field_path
from kindreg.core import crossstack
from kindreg.ops.status import read_traffic
from kindreg.core.vocabulary import DOCKER_LOGIN_SOURCE, KIND_CLUSTER_LABEL, MANAGED_VALUE, Label, Role, Scope

Plan = Union[SharedPlan, ProjectPlan]


@dataclass(frozen=True)
class Check:
    ok: bool
    what: str
    fix: str = ""
    warn: bool = False  # passes, but the user should know what it means

    def render(self) -> str:
        status = "FAIL" if not self.ok else ("warn" if self.warn else "ok  ")
        line = f"  {status}  {self.what}"
        return line + (f"\n        fix: {self.fix}" if self.fix and (self.warn or not self.ok) else "")


@dataclass
class HostFacts:
    which: Callable[[str], Optional[str]]
    ca_file: Callable[[], Optional[str]]  # mkcert's rootCA.pem, if the CA exists
    trusted: Callable[[str], Optional[bool]]  # is this CA in the host's trust store (None: unknown)
    port_free: Callable[[int], bool]
    pulumi: Callable[[], Optional[str]] = lambda: None  # the Pulumi CLI kindreg up would run, if any


def run(plans: list[tuple[Plan, str]], engine: Engine, host: HostFacts,
        routes: Optional[HostRoutes] = None, verdict: Optional[dict] = None) -> tuple[bool, str]:
    """Check every (plan, field prefix); the report and whether all passed. `verdict`: what
    differs from the plan, by stack, for the stacks that are up (kindreg.ops.reconcile.verdict)."""
    engine_ok, first = _engine(engine)
    seen = _Seen.of(engine) if engine_ok else None
    machine = _tools(plans, host) + (_reach(seen.containers, routes or HostRoutes(engine.endpoint()))
                                     + _traffic(engine, seen.containers) if seen else [])
    checks_all: list[Check] = [first, *machine]
    lines = ["kindreg doctor", first.render(), *(c.render() for c in machine)]
    for plan, prefix in plans:
        checks = _tls(plan, prefix, host) + _docker_logins(plan) + (_on_engine(plan, prefix, seen, host) if seen else [])
        checks += _as_planned(plan.stack, (verdict or {}).get(plan.stack))
        if checks:
            lines.append(f"stack {plan.stack} ({plan.role}):")
            lines += [c.render() for c in checks]
        checks_all += checks
    if not engine_ok and plans:
        lines.append(f"not checked against the engine (it is unreachable): stacks "
                     f"{', '.join(p.stack for p, _ in plans)}")
    failed = sum(not c.ok for c in checks_all)
    lines.append(f"{failed} check(s) failed" if failed else "all checks passed")
    return not failed, "\n".join(lines)


@dataclass(frozen=True)
class _Seen:
    """What the engine holds, read once for every stack's checks."""

    containers: list[dict]
    networks: list[dict]
    volumes: list[dict]

    @classmethod
    def of(cls, engine: Engine) -> "_Seen":
        return cls(engine.containers(), engine.networks(), engine.volumes())


def _on_engine(plan: Plan, prefix: str, seen: _Seen, host: HostFacts) -> list[Check]:
    return (_owners(plan, seen.containers, seen.networks, seen.volumes) + _networks(plan, prefix, seen.networks)
            + _addresses(plan, prefix, seen.networks) + _nodes(plan, seen.containers)
            + _host_port(plan, prefix, seen.containers, host))


def _engine(engine: Engine) -> tuple[bool, Check]:
    try:
        version = engine.ping()
    except EngineError as err:
        return False, Check(False, str(err), "start Docker, or point DOCKER_HOST (docker:host) at a running engine")
    return True, Check(True, f"Docker engine reachable ({version})")


def _as_planned(stack: str, found: Optional[list]) -> list[Check]:
    """The stack is up: is everything it made there, running and as planned (kindreg.core.drift)?"""
    if found is None:
        return []
    if not found:
        return [Check(True, f"stack {stack} is up: everything it created is there, running and as planned")]
    return [Check(False, d.line(), d.remedy()) for d in found]


# ---------------------------------------------------------------- tools

def _tools(plans: list[tuple[Plan, str]], host: HostFacts) -> list[Check]:
    """The programs `kindreg up` runs: the Pulumi CLI, and kind where a stack creates nodes."""
    cli = host.pulumi()
    out = [Check(True, f"Pulumi CLI: {cli}") if cli else Check(
        False, "the Pulumi CLI is not on PATH (kindreg up, preview and down run it)",
        "install it (https://www.pulumi.com/docs/install/), or let `./kindreg up` install the pinned "
        "version into ~/.cache/kindreg where this machine can download it")]
    if any(isinstance(p, ProjectPlan) and p.nodes.enabled for p, _ in plans):
        found = host.which("kind")
        out.append(Check(True, f"kind: {found}") if found else Check(
            False, "kind is not on PATH (stacks with nodes create their cluster with it)",
            "install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation), or set "
            "nodes.enabled: false to manage registries only"))
    return out


# ---------------------------------------------------------------- routes from this host

def _traffic(engine: Engine, containers: list[dict]) -> list[Check]:
    """A mirror with traffic and no hits: every pull it served went to the upstream."""
    seen = _mirror_traffic(engine, containers)
    flagged = [_no_hits(name, t) for name, t in seen.items() if t.no_hits]
    active = [t for t in seen.values() if t.requests]
    if flagged or not active:
        return flagged
    requests = sum(t.requests for t in active)
    return [Check(True, f"mirrors answer from their caches ({sum(t.hits for t in active) / requests:.0%} "
                        f"of {requests} requests)")]


def _mirror_traffic(engine: Engine, containers: list[dict]) -> dict:
    names = [name_of(c) for c in containers if is_registry(c) and running(c) and label(c, Label.ROLE) == Role.MIRROR]
    return {name: t for name in names if (t := read_traffic(engine, name))}


def _no_hits(name: str, t) -> Check:
    return Check(True, f"mirror {name}: {t.requests} requests since it started and no cache hit: every pull went "
                 "to the upstream", "check `kindreg status` (DISK, MODE): a cache that is not kept (volume "
                 "recreated, a short ttl) or a registry that keeps restarting starts cold each time", warn=True)


def _reach(containers: list[dict], routes: HostRoutes) -> list[Check]:
    """How cache, push and status reach the running registries from this host; a registry they
    cannot reach fails. Nodes pull by address whatever this says."""
    found = {name_of(c): (c, routes.route(c)) for c in containers if is_registry(c) and running(c)}
    missing = [c for c, route in found.values() if route is None]
    published = {name: route.address for name, (_, route) in found.items() if route and route.published}
    return _how_reached(routes, published) + _unreached(missing, routes)


def _how_reached(routes: HostRoutes, published: dict[str, str]) -> list[Check]:
    if routes.direct:
        return [Check(True, "this host reaches the registries at their addresses on the Docker networks")]
    if not published:
        return []
    where = ", ".join(f"{name} {address}" for name, address in sorted(published.items()))
    return [Check(True, "container addresses are not reachable from this host (Docker Desktop, Colima or a "
                        "rootless engine): cache, push and status go through the ports published on 127.0.0.1 "
                        f"({where}); the nodes still pull by address")]


def _unreached(missing: list[dict], routes: HostRoutes) -> list[Check]:
    if missing and not routes.local:  # not this machine's to fix: the engine lives elsewhere
        return [Check(True, f"{len(missing)} registries cannot be reached from this host: "
                            f"{routes.unreachable(missing[0])}", "cache and push need them; status still works",
                      warn=True)]
    return [Check(False, f"registry {name_of(c)} cannot be reached from this host: {routes.unreachable(c)}",
                  _publish_fix(c)) for c in missing]


def _publish_fix(container: dict) -> str:
    if label(container, Label.ROLE) == Role.MIRROR:
        return "set publishMirrors: true in the stack that owns it and run `kindreg up`"
    return "run `kindreg up` for its stack: build and cache registries are published on 127.0.0.1"


# ---------------------------------------------------------------- TLS

def _tls(plan: Plan, prefix: str, host: HostFacts) -> list[Check]:
    if not (plan.tls or (isinstance(plan, ProjectPlan) and plan.needs_ca)):
        return []
    if not host.which("mkcert"):
        return [Check(False, "mkcert is not on PATH (TLS registries need its local CA)",
                      "install mkcert, then run `mkcert -install` once on this machine")]
    ca = host.ca_file()
    if ca is None:
        return [Check(False, "mkcert's local CA does not exist", "run `mkcert -install` once on this machine")]
    out = [Check(True, f"mkcert CA present ({ca})")]
    trusted = host.trusted(ca)
    if trusted is None:
        out.append(Check(True, "mkcert CA trust by the host: not checked on this platform"))
    elif trusted:
        out.append(Check(True, "mkcert CA is trusted by the host (docker push and curl need no -k)"))
    else:
        out.append(Check(False, "mkcert CA is not in the host's trust store: docker push and curl to the "
                                "registries will fail verification", "run `mkcert -install` once on this machine"))
    return out


# ---------------------------------------------------------------- credentials

def _docker_logins(plan: Plan) -> list[Check]:
    """What a mirror that pulls with the user's `docker login` gives away."""
    out = []
    for m in plan.registries:
        if m.role is Role.MIRROR and m.password_from == DOCKER_LOGIN_SOURCE:
            reach = (f"every container on network {m.network} (the kind nodes of every project that uses "
                     f"it)" if m.scope is Scope.SHARED else f"every container on network {m.network}")
            out.append(Check(True, f"mirror {m.name} pulls from {m.upstream} with your docker login: {reach} "
                                   f"can pull your private images from {m.url} without credentials"
                                   + ("" if m.tls else ", over plain HTTP"),
                             "remove useDockerLogin, or give the mirror a read-only token of its own "
                             "(kindreg:mirrorCredentials)", warn=True))
    return out


# ---------------------------------------------------------------- names another stack holds

def _owners(plan: Plan, containers: list[dict], networks: list[dict], volumes: list[dict]) -> list[Check]:
    """A planned name already taken on the engine by another stack, or by something not kindreg's."""
    held = {("container", name_of(c)): (c.get("Config") or {}).get("Labels") or {} for c in containers}
    held |= {("network", n.get("Name", "")): n.get("Labels") or {} for n in networks}
    held |= {("volume", v.get("Name", "")): v.get("Labels") or {} for v in volumes}
    out = []
    for claim in crossstack.claims(plan):
        labels = held.get((claim.kind, claim.value))
        if labels is None:
            continue
        owner = labels.get(Label.STACK) if labels.get(Label.MANAGED) == MANAGED_VALUE else None
        if owner != plan.stack:
            whose = f"stack {owner}" if owner else "something kindreg did not create"
            out.append(Check(False, f"{claim.kind} {claim.value} exists on the engine and belongs to {whose}",
                             f"change {claim.field} of stack {plan.stack}, or remove the {claim.kind} "
                             f"(`pulumi destroy -s {owner}`)" if owner else
                             f"change {claim.field} of stack {plan.stack}, or remove that {claim.kind}"))
    return out


# ---------------------------------------------------------------- networks

def _subnets(net: dict) -> list[str]:
    return [c.get("Subnet", "") for c in ((net.get("IPAM") or {}).get("Config") or [])]


def _plan_networks(plan: Plan, prefix: str) -> list[tuple[NetworkPlan, str]]:
    """Each network the stack relies on, with the config field that sets its subnet."""
    if isinstance(plan, SharedPlan):
        return [(plan.network, field_path(prefix, "network.cidr"))]
    out = [(plan.network, field_path(prefix, "network.cidr"))]
    if plan.shared:
        out.append((plan.shared.network, field_path(prefix, "registries.shared.network.cidr")))
    return out


def _networks(plan: Plan, prefix: str, networks: list[dict]) -> list[Check]:
    out = []
    for net, field_path in _plan_networks(plan, prefix):
        existing = next((n for n in networks if n.get("Name") == net.name), None)
        wanted = ipaddress.ip_network(net.subnet)
        if existing is None:
            clash = next((n for n in networks for s in _subnets(n) if s and _overlaps(s, wanted)), None)
            if clash:
                out.append(Check(False, f"network {net.name} {net.subnet} would overlap network "
                                        f"'{clash['Name']}' ({', '.join(_subnets(clash))}); Docker will refuse it",
                                 f"choose another slot in {field_path}, or remove network '{clash['Name']}'"))
            else:
                out.append(Check(True, f"network {net.name}: not created yet; {net.subnet} is free"))
            continue
        actual = _subnets(existing)
        if net.subnet in actual:
            out.append(Check(True, f"network {net.name}: {net.subnet} as planned"))
        else:
            out.append(Check(
                False, f"registry network '{net.name}' exists with subnet {', '.join(actual) or 'none'}, "
                       f"expected {net.subnet}",
                f"align {field_path} with {', '.join(actual)}, or remove the network "
                f"(`pulumi destroy` of the stack that owns it, or `docker network rm {net.name}`) "
                "and let the next `pulumi up` recreate it"))
    return out


def _overlaps(subnet: str, wanted: ipaddress.IPv4Network) -> bool:
    try:
        return ipaddress.ip_network(subnet, strict=False).overlaps(wanted)
    except ValueError:
        return False


def _addresses(plan: Plan, prefix: str, networks: list[dict]) -> list[Check]:
    """A planned registry address held by any container but the planned one."""
    out = []
    for reg in plan.registries:
        net = next((n for n in networks if n.get("Name") == reg.network), None)
        holders = [c for c in ((net or {}).get("Containers") or {}).values()
                   if c.get("IPv4Address", "").split("/")[0] == reg.ip]
        strangers = [c["Name"] for c in holders if c.get("Name") != reg.container]
        if strangers:
            out.append(Check(False, f"{reg.ip} on {reg.network} (planned for {reg.container}) is taken by "
                                    f"container '{strangers[0]}', which kindreg does not own there",
                             f"`docker network disconnect {reg.network} {strangers[0]}` (or remove it), "
                             f"or give the stack another slot ({field_path(prefix, 'network.cidr')})"))
    if not out and plan.registries:
        out.append(Check(True, f"registry addresses free or held by their own registries "
                               f"({len(plan.registries)} checked)"))
    return out


# ---------------------------------------------------------------- nodes and ports

def _nodes(plan: Plan, containers: list[dict]) -> list[Check]:
    if not isinstance(plan, ProjectPlan) or not plan.nodes.enabled:
        return []
    nodes = [c for c in containers if label(c, KIND_CLUSTER_LABEL) == plan.nodes.cluster]
    if not nodes:
        return [Check(True, f"kind cluster {plan.nodes.cluster}: no nodes yet")]
    wanted = [plan.network.name] + ([plan.shared.network.name] if plan.shared else [])
    out = []
    for node in sorted(nodes, key=name_of):
        missing = [n for n in wanted if n not in addresses(node)]
        if missing:
            out.append(Check(False, f"node {name_of(node)} is not on {', '.join(missing)}",
                             "; ".join(f"docker network connect {n} {name_of(node)}" for n in missing)))
    if not out:
        out.append(Check(True, f"kind cluster {plan.nodes.cluster}: {len(nodes)} node(s) on {' and '.join(wanted)}"))
    return out


def _host_port(plan: Plan, prefix: str, containers: list[dict], host: HostFacts) -> list[Check]:
    if not isinstance(plan, ProjectPlan) or not plan.host_port:
        return []
    port = str(plan.host_port)
    for c in containers:
        for bindings in ((c.get("NetworkSettings") or {}).get("Ports") or {}).values():
            if any(b.get("HostPort") == port for b in bindings or []):
                if name_of(c) == plan.build.container:
                    return [Check(True, f"host port {port} publishes {plan.build.container}")]
                return [Check(False, f"host port {port} is published by container '{name_of(c)}'",
                              f"stop it, or set {field_path(prefix, 'registries.hostPort')} to a free port")]
    if host.port_free(plan.host_port):
        return [Check(True, f"host port {port} is free")]
    return [Check(False, f"host port {port} is in use by another program on this machine",
                  f"set {field_path(prefix, 'registries.hostPort')} to a free port")]
