"""The plan as one JSON document (`kindreg plan --json`), stable for diffs.

Format `kindreg/plan/v1`, documented in `docs/plan-format.md`. Keys keep their order; lists
keep plan order (networks, then registries build/cache/mirrors), so two commits' plans diff
cleanly. The documents are typed: `diff` reads them back through the same models, so a
malformed document is an error naming the file and the field, not a traceback.
"""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import Field, TypeAdapter, ValidationError

from . import render
from .plan import NetworkPlan, NodesPlan, PlanModel, ProjectPlan, RegistryPlan, SharedPlan
from .vocabulary import Scope

PLAN_FORMAT = "kindreg/plan/v1"
ALL_FORMAT = "kindreg/plans/v1"


class FileDoc(PlanModel):
    path: str
    content: str


class OwnedRegistryDoc(RegistryPlan):
    """A registry the stack owns, with the files its container is created with."""

    files: list[FileDoc]


class SharedNetworkDoc(NetworkPlan):
    """The shared network as a project sees it: owned by another stack."""

    owned_by: str


class _PlanDocumentHead(PlanModel):
    """The keys every plan document starts with."""

    format: Literal["kindreg/plan/v1"] = PLAN_FORMAT
    stack: str


class SharedPlanDocument(_PlanDocumentHead):
    role: Literal[Scope.SHARED]
    tls: bool
    state_dir: str
    networks: list[NetworkPlan]
    registries: list[OwnedRegistryDoc]
    san: list[str]
    delete_volumes_on_destroy: bool


class ProjectPlanDocument(_PlanDocumentHead):
    role: Literal[Scope.PROJECT]
    project: str
    tls: bool
    shared_stack: Optional[str]
    state_dir: str
    networks: list[Union[SharedNetworkDoc, NetworkPlan]]
    registries: list[OwnedRegistryDoc]
    mirrors: list[RegistryPlan]
    host_port: Optional[int]
    san: list[str]
    certs_dir: str
    hosts_files: list[FileDoc]
    ca_file: Optional[str]
    nodes: NodesPlan
    delete_volumes_on_destroy: bool


PlanDocument = Annotated[Union[SharedPlanDocument, ProjectPlanDocument], Field(discriminator="role")]


class AllPlansDocument(PlanModel):
    format: Literal["kindreg/plans/v1"] = ALL_FORMAT
    stacks: dict[str, PlanDocument]


_ANY_DOCUMENT = TypeAdapter(Union[AllPlansDocument, PlanDocument])


class PlanDocumentError(ValueError):
    """A file that is not a kindreg plan document."""


def plan_document(plan: Union[SharedPlan, ProjectPlan]) -> dict:
    model = _shared(plan) if isinstance(plan, SharedPlan) else _project(plan)
    return model.to_json()


def all_plans_document(plans: dict[str, Union[SharedPlan, ProjectPlan]]) -> dict:
    return {"format": ALL_FORMAT, "stacks": {s: plan_document(p) for s, p in plans.items()}}


def read_plans(doc: object, where: str) -> dict[str, dict]:
    """{stack: plan document} from a single-stack or an all-stacks document, validated."""
    if not isinstance(doc, dict) or doc.get("format") not in (PLAN_FORMAT, ALL_FORMAT):
        raise PlanDocumentError(f"{where} is not a kindreg plan (format {PLAN_FORMAT} or {ALL_FORMAT}); "
                                "make it with `kindreg plan --all --json`")
    try:
        parsed = _ANY_DOCUMENT.validate_python(doc)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        path = ".".join(str(p) for p in first["loc"] if not str(p).startswith(("function-", "tagged-")))
        raise PlanDocumentError(f"{where} is not a valid kindreg plan: {path or '(top)'}: {first['msg']}; "
                                "make it again with `kindreg plan --all --json`") from None
    if isinstance(parsed, AllPlansDocument):
        return {stack: p.to_json() for stack, p in parsed.stacks.items()}
    return {parsed.stack: parsed.to_json()}


def _owned(reg: RegistryPlan) -> OwnedRegistryDoc:
    files = [FileDoc(path=p, content=c) for p, c in render.container_files(reg).items()]
    return OwnedRegistryDoc(**reg.model_dump(), files=files)


def _shared(plan: SharedPlan) -> SharedPlanDocument:
    return SharedPlanDocument(
        stack=plan.stack, role=Scope.SHARED, tls=plan.tls, state_dir=plan.state_dir,
        networks=[plan.network], registries=[_owned(r) for r in plan.mirrors], san=list(plan.san),
        delete_volumes_on_destroy=plan.delete_volumes)


def _project(plan: ProjectPlan) -> ProjectPlanDocument:
    networks: list = [plan.network]
    if plan.shared:
        networks.append(SharedNetworkDoc(**plan.shared.network.model_dump(), owned_by=plan.shared.stack))
    return ProjectPlanDocument(
        stack=plan.stack, role=Scope.PROJECT, project=plan.project, tls=plan.tls,
        shared_stack=plan.shared.stack if plan.shared else None, state_dir=plan.state_dir,
        networks=networks, registries=[_owned(r) for r in plan.registries], mirrors=list(plan.mirrors),
        host_port=plan.host_port, san=list(plan.san), certs_dir=plan.certs_dir,
        hosts_files=[FileDoc(path=f"{plan.certs_dir}/{p}", content=c)
                     for p, c in render.hosts_files(plan).items()],
        ca_file=f"{plan.certs_dir}/.ca/rootCA.pem" if plan.needs_ca else None,
        nodes=plan.nodes, delete_volumes_on_destroy=plan.delete_volumes)
