"""`kindreg push`: a manifests directory, packaged as a Flux OCI artifact, pushed.

`prepare` decides everything (which directory, which registry and tag, TLS, which CA) from the
arguments and the stack; `run` packages and pushes. Usage errors are `PushUsage` (exit 2).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from kindreg.adapters import files, oras
from kindreg.adapters.mkcert import LocalCA
from kindreg.core import artifact
from kindreg.core.credentials import expand
from kindreg.core.plan import ProjectPlan
from kindreg.core.sources import KEY_WORKLOAD_CREDENTIALS
from kindreg.core.vocabulary import BUILD_HOSTNAME, Scope

from . import project


class PushUsage(ValueError):
    """The arguments or the stack do not make a push (exit 2)."""


@dataclass(frozen=True)
class PushJob:
    directory: Path
    target: artifact.Target
    tls: bool
    ca_file: Optional[str]
    own: bool  # the target is the stack's own build registry
    secret_stack: Optional[str] = None  # the stack whose Pulumi secret config holds the target's credentials

    @property
    def flux_source(self) -> str:
        return f"oci://{BUILD_HOSTNAME}/{self.target.repository}:{self.target.tag}"


Locate = Callable[[ProjectPlan], Optional[str]]  # host:port this host reaches the running build registry at


def prepare(where: Sequence[str], stack: Optional[str], registry: Optional[str], plain_http: bool,
            project_dir: Path, ca: LocalCA, locate: Optional[Locate] = None) -> PushJob:
    ref, directory_arg = _split_where(where)
    plan, workload = _stack(stack, project_dir)
    directory = Path(directory_arg) if directory_arg else project_dir / (workload.path if workload else "k8s")
    if not directory.is_dir():
        raise PushUsage(f"{directory} is not a directory of manifests")
    try:
        files.manifest_files(directory)
    except files.OutsideDirectory as err:
        raise PushUsage(str(err)) from None
    build = _build_address(plan, locate) if plan else None
    target = _target(ref, registry, workload, build)
    own = plan is not None and target.registry == build
    tls = plan.build.tls if own else not plain_http
    return PushJob(directory, target, tls, ca.file() if own and tls else None, own,
                   _secret_stack(stack, project_dir, target))


def _build_address(plan: ProjectPlan, locate: Optional[Locate]) -> str:
    """A fixed hostPort is the address users push to; otherwise where the running registry is
    reached from this host (its address, or the port the engine published), else its address."""
    if plan.host_port or locate is None:
        return artifact.build_registry_from_host(plan)
    return locate(plan) or artifact.build_registry_from_host(plan)


def _secret_stack(stack: Optional[str], project_dir: Path, target: artifact.Target) -> Optional[str]:
    """kindreg:workloadCredentials are for workload.registry only: a registry named on the command
    line never receives them."""
    if not stack or target.from_where != artifact.CONFIGURED or not project.has_workload_credentials(project_dir, stack):
        return None
    if target.password is not None:
        raise PushUsage(f"workload.registry of stack {stack} has ${{VAR}} credentials and the stack also has "
                        f"{KEY_WORKLOAD_CREDENTIALS}; keep one of them")
    return stack


def _split_where(where: Sequence[str]) -> tuple[Optional[str], Optional[str]]:
    refs = [w for w in where if w.startswith(artifact.OCI)]
    dirs = [w for w in where if not w.startswith(artifact.OCI)]
    if len(refs) > 1 or len(dirs) > 1:
        raise PushUsage("push takes at most one directory and one oci:// reference")
    return (refs or [None])[0], (dirs or [None])[0]


def _target(ref: Optional[str], registry: Optional[str], workload, build: Optional[str]) -> artifact.Target:
    configured, tag = (workload.registry, workload.tag) if workload else (None, None)
    try:
        return artifact.resolve(ref, registry, configured, tag, build)
    except ValueError as err:
        raise PushUsage(str(err)) from None


def _stack(stack: Optional[str], project_dir: Path):
    if not stack:
        return None, None
    loaded = project.load(project_dir, stack)
    if loaded.role != Scope.PROJECT:
        raise PushUsage(f"stack {stack} is the shared mirrors stack; give a project stack")
    plan = project.plan_of(loaded, project_dir)
    assert isinstance(plan, ProjectPlan)
    return plan, loaded.config.workload


SecretConfig = Callable[[str, str], Optional[object]]  # (stack, key) -> the decrypted config object


def run(job: PushJob, push: Callable = oras.push, env: Optional[Mapping[str, str]] = None,
        secret_config: Optional[SecretConfig] = None) -> str:
    """Package and push; the manifest digest (oras.PushError when the registry refuses)."""
    if job.secret_stack:
        auth = secret_credentials(secret_config(job.secret_stack, KEY_WORKLOAD_CREDENTIALS), job.secret_stack)
    else:
        auth = credentials(job.target, os.environ if env is None else env)
    return push(files.package_manifests(job.directory), job.target, job.tls, job.ca_file, auth)


def secret_credentials(entry: object, stack: str) -> tuple[str, str]:
    """{username, password} from the stack's secret config; an error names the field, never a value."""
    entry = entry if isinstance(entry, Mapping) else {}
    for name in ("username", "password"):
        if not (isinstance(entry.get(name), str) and entry[name]):
            raise PushUsage(f"{KEY_WORKLOAD_CREDENTIALS}.{name} of stack {stack} is missing: `pulumi config set "
                            f"--stack {stack} --secret --path '{KEY_WORKLOAD_CREDENTIALS}.{name}' ...`")
    return entry["username"], entry["password"]


def credentials(target: artifact.Target, env: Mapping[str, str]) -> Optional[tuple[str, str]]:
    """The target's user and password, ${VAR} placeholders expanded from `env` (never shown)."""
    if target.password is None:
        return None
    problems: list = []
    user = expand(target.username or "", env, "workload.registry user", problems)
    password = expand(target.password, env, "workload.registry password", problems)
    if problems:
        raise PushUsage("; ".join(p.render() for p in problems))
    return user, password
