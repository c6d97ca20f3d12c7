"""The plan as one JSON document (`python -m kindreg plan --json`), stable for diffs.

Format `kindreg/plan/v1`, documented in the README. Keys keep their order; lists keep plan
order (networks, then registries build/cache/mirrors), so two commits' plans diff cleanly.
"""
from __future__ import annotations

from typing import Union

from . import render
from .plan import ProjectPlan, SharedPlan

PLAN_FORMAT = "kindreg/plan/v1"


def plan_document(plan: Union[SharedPlan, ProjectPlan]) -> dict:
    if isinstance(plan, SharedPlan):
        return _shared(plan)
    return _project(plan)


def _registry(reg, owned: bool) -> dict:
    doc = reg.to_json()
    if owned:
        doc["files"] = [{"path": p, "content": c} for p, c in render.container_files(reg).items()]
    return doc


def _shared(plan: SharedPlan) -> dict:
    return {
        "format": PLAN_FORMAT,
        "stack": plan.stack,
        "role": "shared",
        "tls": plan.tls,
        "stateDir": plan.state_dir,
        "networks": [plan.network.to_json()],
        "registries": [_registry(r, True) for r in plan.mirrors],
        "san": list(plan.san),
        "deleteVolumesOnDestroy": plan.delete_volumes,
    }


def _project(plan: ProjectPlan) -> dict:
    networks = [plan.network.to_json()]
    if plan.shared:
        networks.append({**plan.shared.network.to_json(), "ownedBy": plan.shared.stack})
    return {
        "format": PLAN_FORMAT,
        "stack": plan.stack,
        "role": "project",
        "project": plan.project,
        "tls": plan.tls,
        "sharedStack": plan.shared.stack if plan.shared else None,
        "stateDir": plan.state_dir,
        "networks": networks,
        "registries": [_registry(r, True) for r in plan.registries],
        "mirrors": [_registry(r, False) for r in plan.mirrors],
        "hostPort": plan.host_port,
        "san": list(plan.san),
        "certsDir": plan.certs_dir,
        "hostsFiles": [{"path": f"{plan.certs_dir}/{p}", "content": c}
                       for p, c in render.hosts_files(plan).items()],
        "caFile": f"{plan.certs_dir}/.ca/rootCA.pem" if plan.needs_ca else None,
        "nodes": plan.nodes.to_json(),
        "deleteVolumesOnDestroy": plan.delete_volumes,
    }
