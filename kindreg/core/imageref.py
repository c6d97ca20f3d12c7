"""Image references, by distribution's own grammar.

Parsed by docker-image-py, a port of distribution's `reference` package: the same rules
`docker pull` and containerd apply (a first component with '.' or ':', or `localhost`, is a
registry; otherwise the image is on docker.io, under `library/` for a single name).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from docker_image import reference

DEFAULT_TAG = "latest"


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
