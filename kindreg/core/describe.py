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
                f"{plan.network.subnet}, {len(plan.mirrors)} mirrors {ips}, {tls}")
    via = (f"via shared stack {plan.shared.stack} {_span([m.ip for m in plan.mirrors])}"
           if plan.shared else f"of its own {_span([m.ip for m in plan.mirrors])}")
    return (f"stack {plan.stack}: ok: project {plan.project}, network {plan.network.name} "
            f"{plan.network.subnet}, build {plan.build.ip}, cache {plan.cache.ip}, "
            f"{len(plan.mirrors)} mirrors {via}, {tls}")


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
