"""Stacks that would fight over one machine: the same container, volume, network or bridge,
overlapping subnets, the same kind cluster or host port. Each is reported naming both stacks
and the field of the second to change (checked by `validate` over a directory's stacks)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable

from .errors import Problem, problem
from .plan import ProjectPlan, SharedPlan
from .stacks import Plan
from .vocabulary import Role


@dataclass(frozen=True)
class Claim:
    """Something on the machine a stack creates, and the field that names it there."""

    kind: str  # "container", "volume", "network", "bridge", "subnet", "kind cluster", "host port"
    value: str
    stack: str
    field: str


def claims(plan: Plan) -> list[Claim]:
    shared = isinstance(plan, SharedPlan)
    name_field = "prefix" if shared else "registries.prefix (or network.name)"
    out = [Claim("network", plan.network.name, plan.stack, "network.name"),
           Claim("bridge", plan.network.bridge, plan.stack, "network.name"),
           Claim("subnet", plan.network.subnet, plan.stack, "network.cidr")]
    for r in plan.registries:
        field = f"the name of mirror {r.name}, or {name_field}" if r.role is Role.MIRROR else name_field
        out += [Claim("container", r.container, plan.stack, field), Claim("volume", r.volume, plan.stack, field)]
    if isinstance(plan, ProjectPlan):
        if plan.nodes.enabled:
            out.append(Claim("kind cluster", plan.nodes.cluster, plan.stack, "name"))
        if plan.host_port:
            out.append(Claim("host port", str(plan.host_port), plan.stack, "registries.hostPort"))
    return out


def conflicts(plans: Iterable[Plan]) -> list[Problem]:
    return conflicts_among([claims(plan) for plan in plans])


def conflicts_among(claimed: Iterable[list[Claim]]) -> list[Problem]:
    """Conflicts between stacks, from what each claims (one list per stack)."""
    seen: dict[tuple[str, str], Claim] = {}
    subnets: list[Claim] = []
    out = []
    for stack_claims in claimed:
        for c in stack_claims:
            if c.kind == "subnet":
                out += [_problem(first, c, "overlap") for first in subnets
                        if first.stack != c.stack and _overlap(first.value, c.value)]
                subnets.append(c)
                continue
            first = seen.setdefault((c.kind, c.value), c)
            if first.stack != c.stack:
                out.append(_problem(first, c, "both use"))
    return out


def _overlap(a: str, b: str) -> bool:
    return ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))


def _problem(first: Claim, second: Claim, how: str) -> Problem:
    if how == "overlap":
        what = f"subnet {second.value} overlaps stack {first.stack}'s {first.value}"
    else:
        what = f"{second.kind} {second.value} is also stack {first.stack}'s"
    return problem(f"stack {second.stack}", f"{what}: the two stacks would take it from each other on one "
                   f"machine; change {second.field} in Pulumi.{second.stack}.yaml (or {first.field} in "
                   f"Pulumi.{first.stack}.yaml)")
