"""Manifests as a Flux OCI artifact: the reproducible package, where it goes, how Flux finds it.

Resolution, as KSail's `workload push` documents it:
  registry: an explicit oci:// reference, then --registry / KINDREG_REGISTRY, then the
            project's `workload.registry`, then the stack's own build registry;
  tag:      the tag of the oci:// reference, then `workload.tag`, then a tag written in the
            configured registry, then "dev".
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Optional

import yaml

from .imageref import DEFAULT_REPOSITORY, OCI, parse_registry_spec
from .plan import ProjectPlan
from .vocabulary import BUILD_HOSTNAME

FLUX_CONFIG_MEDIA_TYPE = "application/vnd.cncf.flux.config.v1+json"
FLUX_CONTENT_MEDIA_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip"
DEFAULT_TAG = "dev"
LAYER_TITLE = "manifests.tar.gz"
# Never packaged: version control and desktop litter in a manifests directory.
SKIP = {".git", ".DS_Store"}


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class Target:
    registry: str  # host[:port]
    repository: str
    tag: str
    from_where: str  # which rule chose the registry, for the user
    username: Optional[str] = None  # a user name or ${VAR}; never shown with a password
    password: Optional[str] = field(default=None, repr=False)  # a ${VAR} placeholder, never a value

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


EXPLICIT = "the oci:// reference"
FLAG_OR_ENV = "--registry / KINDREG_REGISTRY"
CONFIGURED = "workload.registry"


def resolve(explicit: Optional[str], flag_or_env: Optional[str], configured: Optional[str],
            configured_tag: Optional[str], build_registry: Optional[str]) -> Target:
    """The push target from the first source that names a registry (see the module doc)."""
    for value, where in ((explicit, EXPLICIT), (flag_or_env, FLAG_OR_ENV), (configured, CONFIGURED)):
        if value:
            spec = parse_registry_spec(value, where)
            tag = (spec.tag if where == EXPLICIT else None) or configured_tag or spec.tag or DEFAULT_TAG
            return Target(spec.host, spec.repository, tag, where, spec.username, spec.password)
    if not build_registry:
        raise ValueError("no registry to push to: give oci://host/repository[:tag], --registry, "
                         "workload.registry in the project config, or --stack of a running project")
    return Target(build_registry, DEFAULT_REPOSITORY, configured_tag or DEFAULT_TAG, "the stack's build registry")


def build_registry_from_host(plan: ProjectPlan) -> str:
    """How the host reaches the build registry: its published port if any (Docker Desktop), else its IP."""
    return f"localhost:{plan.host_port}" if plan.host_port else plan.build.ip


def flux_manifests(plan: ProjectPlan, ca_pem: Optional[str] = None, repository: str = DEFAULT_REPOSITORY,
                   tag: str = DEFAULT_TAG) -> str:
    """OCIRepository + Kustomization that make Flux reconcile from the build registry,
    addressed by its in-cluster name (lok8s.local)."""
    name = f"kindreg-{plan.project}"
    spec: dict = {"interval": "1m", "url": f"oci://{BUILD_HOSTNAME}/{repository}", "ref": {"tag": tag}}
    docs: list[dict] = []
    if plan.build.tls:
        spec["certSecretRef"] = {"name": f"{name}-ca"}
        docs.append({"apiVersion": "v1", "kind": "Secret",
                     "metadata": {"name": f"{name}-ca", "namespace": "flux-system"},
                     "stringData": {"ca.crt": ca_pem or "<mkcert rootCA.pem>"}})
    else:
        spec["insecure"] = True  # the build registry serves plain HTTP
    docs.append({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                 "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec})
    docs.append({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                 "metadata": {"name": name, "namespace": "flux-system"},
                 "spec": {"interval": "1m", "path": "./", "prune": True, "wait": True,
                          "sourceRef": {"kind": "OCIRepository", "name": name}}})
    return yaml.safe_dump_all(docs, sort_keys=False)
