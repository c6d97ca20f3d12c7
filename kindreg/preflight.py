"""What must be on the machine before anything is created: tools, and mkcert's CA for TLS.

The checks take the lookups they need as arguments (`which`, `caroot`, `exists`), so tests
give fakes and the program gives the real ones.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Union

from .errors import Problem, problem
from .plan import ProjectPlan, SharedPlan

Which = Callable[[str], Optional[str]]
CaRoot = Callable[[], Optional[str]]
Exists = Callable[[str], bool]
KIND_MIN_VERSION = "v0.27.0"


def ca_file(caroot: CaRoot, exists: Exists) -> Optional[str]:
    root = caroot()
    path = str(Path(root) / "rootCA.pem") if root else None
    return path if path and exists(path) else None


def check(plan: Union[SharedPlan, ProjectPlan], prefix: str, which: Which, caroot: CaRoot,
          exists: Exists) -> list[Problem]:
    out: list[Problem] = []
    at = (lambda p: f"{prefix}.{p}") if prefix else (lambda p: p)
    needs_docker_cli = isinstance(plan, SharedPlan) or plan.nodes.enabled
    if needs_docker_cli and not which("docker"):
        out.append(problem("docker", "is not on PATH; install the Docker CLI (kindreg's commands "
                           "use it to inspect and connect containers)"))
    if isinstance(plan, ProjectPlan) and plan.nodes.enabled and not which("kind"):
        out.append(problem(at("nodes.enabled"), f"is true but kind is not on PATH; install kind "
                           f"{KIND_MIN_VERSION} or newer, or set nodes.enabled: false"))
    needs_ca = plan.tls or (isinstance(plan, ProjectPlan) and plan.needs_ca)
    if needs_ca:
        out += _mkcert(plan, at("registries.tls" if isinstance(plan, ProjectPlan) else "tls"),
                       which, caroot, exists)
    return out


def _mkcert(plan, path: str, which: Which, caroot: CaRoot, exists: Exists) -> list[Problem]:
    why = "is true" if plan.tls else "is false, but the shared mirrors serve HTTPS"
    if not which("mkcert"):
        return [problem(path, f"{why} and mkcert is not on PATH; install mkcert, then run "
                        "`mkcert -install` once on this machine")]
    if not ca_file(caroot, exists):
        root = caroot() or "(mkcert -CAROOT printed nothing)"
        return [problem(path, f"{why} but mkcert's local CA does not exist ({root} has no "
                        "rootCA.pem); run `mkcert -install` once on this machine")]
    return []
