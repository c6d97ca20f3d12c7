"""The cache archive `kindreg cache save` writes and `restore` reads: its names, its manifest, and
the checks that make a restore refuse anything it could not serve whole.

One gzip-compressed tar:
  mirrors/<stack>/<mirror>/docker/registry/v2/...   each mirror's storage as distribution lays
                                            it out (blobs by digest, repository links), no uploads
  kindreg-cache.json                        the manifest, last: what each mirror holds

A restore reads the archive twice: first every member is checked (names inside the layout, plain
files and directories only, each blob's SHA-256 equal to its name, the manifest's blob list equal
to what is there), then, only if all holds, the mirrors' content is written. Blobs are content
addressed, so restoring twice, or over content already there, changes nothing that is there.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

from . import mirrorstore as ms

FORMAT = "kindreg/cache-archive/v1"
LAYOUT = "distribution/registry/v2"  # storage/paths.go of distribution 2.x and 3.x: one layout
MANIFEST_NAME = "kindreg-cache.json"
MIRRORS_DIR = "mirrors"
# What a mirror's storage holds that is not worth keeping: unfinished uploads (a proxy's fills
# in flight) and distribution's expiry schedule (kindreg runs its mirrors with it off).
SKIPPED_RE = re.compile(r"(^|/)_uploads(/|$)|^scheduler-state\.json$")
MEMBER_RE = re.compile(r"^mirrors/(?P<mirror>[A-Za-z0-9_][A-Za-z0-9_.-]*/[a-z0-9][a-z0-9-]*)/(?P<rest>docker(/registry(/v2(/[A-Za-z0-9._/:-]+)?)?)?"
                       r"|kindreg-reads\.json)$")
BLOB_RE = re.compile(r"^docker/registry/v2/blobs/sha256/(?P<pre>[0-9a-f]{2})/(?P<hex>[0-9a-f]{64})/data$")


class ArchiveError(ValueError):
    """The archive cannot be restored; the message says why and what to do."""


def mirror_key(stack: str, mirror: str) -> str:
    """How the archive names a mirror: its stack and its name (a project's own mirrors may share
    the shared stack's names)."""
    return f"{stack}/{mirror}"


def member_name(key: str, rest: str) -> str:
    return f"{MIRRORS_DIR}/{key}/{rest}"


def keep(rest: str) -> bool:
    """Whether a path of a mirror's storage (under its rootdirectory) goes into an archive."""
    return not SKIPPED_RE.search(rest)


def blob_digest(rest: str) -> Optional[str]:
    m = BLOB_RE.match(rest)
    return f"sha256:{m.group('hex')}" if m and m.group("hex").startswith(m.group("pre")) else None


def split_member(name: str) -> tuple[str, str]:
    """(mirror key, path under its rootdirectory) of a member, or ArchiveError when the name leaves the
    layout (an absolute path, "..", anything but a mirror's storage)."""
    m = MEMBER_RE.match(name.rstrip("/"))
    if not m or any(part in ("..", ".") for part in name.split("/")):
        raise ArchiveError(f"holds {name!r}, which is not part of a mirror's storage; it was not written by "
                           "`kindreg cache save`")
    return m.group("mirror"), m.group("rest")


@dataclass(frozen=True)
class MirrorEntry:
    upstream: Optional[str]
    host: str
    blobs: Mapping[str, int]  # digest -> bytes
    images: tuple[str, ...]


@dataclass(frozen=True)
class ArchiveManifest:
    mirrors: Mapping[str, MirrorEntry]
    created: float
    format: str = FORMAT
    layout: str = LAYOUT
    skipped: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # mirror -> blobs left out

    def document(self) -> dict:
        return {"format": self.format, "layout": self.layout, "created": self.created,
                "mirrors": {n: {"upstream": e.upstream, "host": e.host, "images": list(e.images),
                                "blobs": dict(sorted(e.blobs.items()))} for n, e in sorted(self.mirrors.items())},
                "skipped": {n: list(v) for n, v in sorted(self.skipped.items()) if v}}


def parse_manifest(doc: object) -> ArchiveManifest:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise ArchiveError(f"is of format {found!r}, not {FORMAT!r}: save it again with this kindreg "
                           "(`kindreg cache save FILE`)")
    if doc.get("layout") != LAYOUT:
        raise ArchiveError(f"holds storage of layout {doc.get('layout')!r}; this kindreg restores {LAYOUT!r} only")
    try:
        mirrors = {str(n): MirrorEntry(e.get("upstream"), str(e["host"]),
                                       {str(k): int(v) for k, v in e.get("blobs", {}).items()},
                                       tuple(map(str, e.get("images", ()))))
                   for n, e in doc["mirrors"].items()}
        return ArchiveManifest(mirrors, float(doc.get("created", 0.0)))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ArchiveError("has a manifest that does not parse; save it again") from None


def entry_of(store: ms.SeenStore, upstream: Optional[str], host: str, blobs: Mapping[str, int]) -> MirrorEntry:
    return MirrorEntry(upstream, host, dict(blobs), tuple(sorted(i.name for i in ms.images(store))))


def mismatches(manifest: ArchiveManifest, found: Mapping[str, Mapping[str, int]]) -> list[str]:
    """What the manifest lists that the archive does not hold (or the reverse), per mirror."""
    problems = []
    for name in sorted(set(manifest.mirrors) | set(found)):
        want = manifest.mirrors.get(name)
        have = found.get(name, {})
        if want is None:
            problems.append(f"mirror {name} has content but no manifest entry")
            continue
        missing = set(want.blobs) - set(have)
        extra = set(have) - set(want.blobs)
        sized = [d for d in set(want.blobs) & set(have) if want.blobs[d] != have[d]]
        for what, ds in (("misses", missing), ("has unlisted", extra), ("has resized", sized)):
            if ds:
                problems.append(f"mirror {name} {what} blob(s) {', '.join(sorted(ds)[:3])}"
                                f"{' and more' if len(ds) > 3 else ''}")
    return problems
