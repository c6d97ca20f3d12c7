"""What must be on the machine before anything is created: tools, and mkcert's CA for TLS.

The checks take the lookups they need as arguments (`which`, the local CA), so tests give
fakes and the program gives the real ones (`kindreg.adapters.mkcert.LocalCA`).
"""
from __future__ import annotations

from typing import Callable, Optional, Protocol, Union

from .errors import Problem, problem
from .plan import ProjectPlan, SharedPlan

Which = Callable[[str], Optional[str]]
KIND_MIN_VERSION = "v0.27.0"


class CaLookup(Protocol):
    def root(self) -> Optional[str]:
        """mkcert's CA directory (CAROOT)."""

    def file(self) -> Optional[str]:
        """Its rootCA.pem, when the CA exists."""


def check(plan: Union[SharedPlan, ProjectPlan], prefix: str, which: Which, ca: CaLookup) -> list[Problem]:
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
        out += _mkcert(plan, at("registries.tls" if isinstance(plan, ProjectPlan) else "tls"), which, ca)
    return out


def _mkcert(plan, path: str, which: Which, ca: CaLookup) -> list[Problem]:
    why = "is true" if plan.tls else "is false, but the shared mirrors serve HTTPS"
    if not which("mkcert"):
        return [problem(path, f"{why} and mkcert is not on PATH; install mkcert, then run "
                        "`mkcert -install` once on this machine")]
    if not ca.file():
        root = ca.root() or "(mkcert -CAROOT printed nothing)"
        return [problem(path, f"{why} but mkcert's local CA does not exist ({root} has no "
                        "rootCA.pem); run `mkcert -install` once on this machine")]
    return []
