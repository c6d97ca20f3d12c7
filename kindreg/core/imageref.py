"""Image references, by distribution's own grammar.

Parsed by docker-image-py, a port of distribution's `reference` package: the same rules
`docker pull` and containerd apply (a first component with '.' or ':', or `localhost`, is a
registry; otherwise the image is on docker.io, under `library/` for a single name).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from docker_image import reference

DEFAULT_TAG = "latest"
DEFAULT_REPOSITORY = "k8s"  # where manifests go when a push target names a registry alone


@dataclass(frozen=True)
class ImageRef:
    registry: str  # as written; docker.io for a name without one
    path: str  # the repository inside the registry, e.g. library/nginx
    tag: Optional[str]  # "latest" when neither a tag nor a digest is given
    digest: Optional[str]

    @property
    def pinned(self) -> str:
        """The tag or digest suffix: `@sha256:...` when a digest is given, else `:tag`."""
        return f"@{self.digest}" if self.digest else f":{self.tag}"


def parse(text: str) -> ImageRef:
    """An image reference, or ValueError saying what a reference looks like."""
    bad = ValueError(f'"{text}" is not an image reference (e.g. ghcr.io/org/app:1.2)')
    if not isinstance(text, str) or not text or text != text.strip():
        raise bad
    try:
        ref = reference.Reference.parse_normalized_named(text)
    except Exception:  # noqa: BLE001 - the library raises its own error types for each rule
        raise bad from None
    registry, path = ref.split_hostname()
    digest = ref.get("digest")
    return ImageRef(registry, path, ref.get("tag") or (None if digest else DEFAULT_TAG), digest)


def parse_repository(text: str) -> tuple[str, str, Optional[str]]:
    """`host[:port]/repository[:tag]` as (host, repository, tag); the host is required."""
    ref = parse(text)
    if "/" not in text or ref.digest:
        raise ValueError(f'"{text}" is not a repository reference like "host[:port]/repository[:tag]"')
    tag = ref.tag if text.endswith(f":{ref.tag}") else None
    return ref.registry, ref.path, tag


OCI = "oci://"
LOCAL_HOSTS = ("localhost", "127.0.0.1")
LOCAL_REGISTRY_PORT = 5000  # KSail's default for a local registry named without a port
PLACEHOLDER_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


@dataclass(frozen=True)
class RegistrySpec:
    """KSail's local-registry grammar: `[user[:pass]@]host[:port][/path[:tag]]`."""

    host: str
    repository: Optional[str]
    tag: Optional[str]
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)


def parse_registry_spec(value: str, where: str) -> RegistrySpec:
    """As KSail parses it (pkg/apis/cluster/v1alpha1/local_registry.go), with two refusals: a
    literal password (only a ${VAR} placeholder may stand there) and anything that is not a
    registry reference. `localhost` / `127.0.0.1` without a port mean port 5000, as in KSail.
    Errors never quote the credentials."""
    text = value[len(OCI):] if value.startswith(OCI) else value
    creds, at, rest = text.rpartition("@") if "@" in text.split("/", 1)[0] else ("", "", text)
    shown = f"{creds.split(':', 1)[0]}:***@{rest}" if at and ":" in creds else (f"{creds}@{rest}" if at else rest)
    user, colon, password = creds.partition(":") if at else (None, "", None)
    if password is not None and colon and not PLACEHOLDER_RE.match(password):
        raise ValueError(f'"{shown}" (from {where}) has a literal password; write a ${{VAR}} placeholder '
                         "there and export the variable")
    host_part = rest.split("/", 1)[0]
    if host_part in LOCAL_HOSTS:
        rest = rest.replace(host_part, f"{host_part}:{LOCAL_REGISTRY_PORT}", 1)
    if "/" not in rest:  # a registry alone: the default repository there
        rest = f"{rest}/{DEFAULT_REPOSITORY}"
    try:
        host, repository, tag = parse_repository(rest)
    except ValueError:
        raise ValueError(f'"{shown}" (from {where}) is not a registry reference like '
                         '"[user:${PASS}@]host[:port]/repository[:tag]"') from None
    return RegistrySpec(host, repository, tag, user or None, (password or None) if colon else None)
