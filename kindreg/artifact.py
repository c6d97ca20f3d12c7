"""Manifests as a Flux OCI artifact: the reproducible package, where it goes, how Flux finds it.

Resolution, as KSail's `workload push` documents it:
  registry: an explicit oci:// reference, then --registry / KINDREG_REGISTRY, then the
            project's `workload.registry`, then the stack's own build registry;
  tag:      the tag of the oci:// reference, then `workload.tag`, then a tag written in the
            configured registry, then "dev".
"""
from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from .plan import BUILD_HOSTNAME, ProjectPlan

FLUX_CONFIG_MEDIA_TYPE = "application/vnd.cncf.flux.config.v1+json"
FLUX_CONTENT_MEDIA_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip"
DEFAULT_TAG = "dev"
DEFAULT_REPOSITORY = "k8s"
LAYER_TITLE = "manifests.tar.gz"
SKIP = {".git", ".DS_Store"}


def package(directory: Path) -> bytes:
    """A tar.gz of the directory that depends on file paths and contents only (no times,
    owners or modes), so unchanged manifests give the same bytes and the same digest."""
    files = sorted(p for p in directory.rglob("*")
                   if p.is_file() and not (set(p.relative_to(directory).parts) & SKIP))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(directory).as_posix())
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class Target:
    registry: str  # host[:port]
    repository: str
    tag: str
    from_where: str  # which rule chose the registry, for the user

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


_REF = re.compile(r"^(?:oci://)?(?P<host>[^/\s]+)(?:/(?P<repo>[^:@\s]+))?(?::(?P<tag>[\w][\w.-]{0,127}))?$")


def _split(ref: str) -> Optional[re.Match]:
    return _REF.match(ref)


def resolve(explicit: Optional[str], flag_or_env: Optional[str], configured: Optional[str],
            configured_tag: Optional[str], build_registry: Optional[str]) -> Target:
    """The push target from the first source that names a registry (see the module doc)."""
    for value, where in ((explicit, "the oci:// reference"), (flag_or_env, "--registry / KINDREG_REGISTRY"),
                         (configured, "workload.registry")):
        if value:
            m = _split(value)
            if not m:
                raise ValueError(f'"{value}" (from {where}) is not a registry reference like '
                                 '"oci://host[:port]/repository[:tag]"')
            tag = (m["tag"] if where == "the oci:// reference" else None) or configured_tag or m["tag"] or DEFAULT_TAG
            return Target(m["host"], m["repo"] or DEFAULT_REPOSITORY, tag, where)
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
