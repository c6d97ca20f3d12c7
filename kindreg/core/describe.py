"""A plan in words: the one-line summary `validate` prints and the overview `plan` prints."""
from __future__ import annotations

from .plan import ProjectPlan, SharedPlan
from .stacks import Plan
from .text import table


def summary(plan: Plan) -> str:
    tls = "tls on" if plan.tls else "tls off"
    if isinstance(plan, SharedPlan):
        ips = _span([m.ip for m in plan.mirrors])
        return (f"stack {plan.stack}: ok: shared mirrors, network {plan.network.name} "
                f"{plan.network.subnet}, {_mirrors(plan)} {ips}, {tls}{_served(plan)}")
    via = (f"via shared stack {plan.shared.stack} {_span([m.ip for m in plan.mirrors])}"
           if plan.shared else f"of its own {_span([m.ip for m in plan.mirrors])}")
    return (f"stack {plan.stack}: ok: project {plan.project}, network {plan.network.name} "
            f"{plan.network.subnet}, build {plan.build.ip}, cache {plan.cache.ip}, "
            f"{_mirrors(plan)} {via}, {tls}")


def _served(plan: SharedPlan) -> str:
    """How the mirrors store and whom they serve, when not the plain local way."""
    first = plan.mirrors[0] if plan.mirrors else None
    parts = []
    if first and first.s3:
        parts.append(f"stored on s3://{first.s3.bucket}")
    if first and first.auth_users:
        parts.append(f"basic auth for {len(first.auth_users)} user{'' if len(first.auth_users) == 1 else 's'}")
    chained = [m for m in plan.mirrors if m.via]
    if chained:
        parts.append(f"{len(chained)} filled through a via registry")
    return "".join(f", {p}" for p in parts)


def _mirrors(plan: Plan) -> str:
    return f"{len(plan.mirrors)} mirror{'' if len(plan.mirrors) == 1 else 's'}"


def _span(ips: list[str]) -> str:
    """10.125.200.2-.5 for a run of addresses, 10.125.70.103,.104,.117 otherwise."""
    if not ips:
        return "(none)"
    ordered = sorted(ips, key=lambda ip: tuple(int(p) for p in ip.split(".")))
    last = [int(ip.rsplit(".", 1)[1]) for ip in ordered]
    if len(ordered) > 1 and last == list(range(last[0], last[0] + len(last))):
        return f"{ordered[0]}-.{last[-1]}"
    return ordered[0] + "".join(f",.{n}" for n in last[1:])


def describe(plan: Plan) -> str:
    lines = [summary(plan), "", "networks:"]
    nets = [plan.network]
    if isinstance(plan, ProjectPlan) and plan.shared:
        nets.append(plan.shared.network)
    for n in nets:
        lines.append(f"  {n.name:<20} {n.subnet:<18} scope {n.scope:<8} nodes {n.ip_range:<18} "
                     f"bridge {n.bridge}")
    lines += ["", "registries:"]
    rows = [("ROLE", "NAME", "CONTAINER", "IP", "URL", "HOST", "UPSTREAM")]
    regs = plan.registries if isinstance(plan, SharedPlan) else plan.endpoints
    rows += [(r.role, r.name, r.container, r.ip, r.url, r.host, r.upstream or "-") for r in regs]
    lines += table(rows)
    if isinstance(plan, ProjectPlan):
        nodes = ", ".join(plan.nodes.names) or "(no kind cluster)"
        lines += ["", f"kind nodes: {nodes}", f"containerd certs.d tree: {plan.certs_dir}"]
    if plan.tls:
        lines.append(f"certificate SANs: {', '.join(plan.san)}")
    return "\n".join(lines)


def where(plan: Plan) -> str:
    """After `up`: where the registries, the nodes and the files are, and how to reach them."""
    lines = [summary(plan).replace(": ok:", " is up:", 1)]
    if isinstance(plan, SharedPlan):
        lines += [f"  mirror {m.host:<16} {m.url}  (container {m.container})" for m in plan.mirrors]
        return "\n".join(lines)
    for r in plan.registries:
        lines.append(f"  {r.role.value:<6} {r.host:<16} {r.url}  (container {r.container})")
    if plan.host_port:
        lines.append(f"  push from this host: localhost:{plan.host_port}/<image>")
    if plan.nodes.enabled:
        lines.append(f"  kind cluster {plan.nodes.cluster}: kubectl --context kind-{plan.nodes.cluster} "
                     f"(nodes {', '.join(plan.nodes.names)})")
    lines.append(f"  containerd hosts.toml files: {plan.certs_dir}")
    return "\n".join(lines)
