"""Read a mirror's storage through the Docker engine into core.mirrorstore's model.

The repository tree (links only, a few bytes each) and each manifest come out with `docker
cp` (nothing needed inside the image); the bytes on disk with `du` inside the running mirror
(busybox's, which the registry image carries). The reads the registry served come from its
access log (`docker logs`), and what earlier prunes learnt from a ledger kept in the volume
itself, so recency survives the container being replaced and travels with the volume.
"""
from __future__ import annotations

import io
import json
import tarfile
import time
from dataclasses import dataclass
from typing import Mapping, Optional

from kindreg.core import keeper, mirrorstore as ms
from kindreg.core.render import DATA_DIR

from .engine import Engine, EngineError

LEDGER = "kindreg-reads.json"  # at the volume's root, beside distribution's docker/ tree
LEDGER_VERSION = 1


def read_store(engine: Engine, mirror: str, container: str) -> ms.SeenStore:
    repos = _repositories(engine.archive(container, f"{DATA_DIR}/{ms.REPOSITORIES}"))
    blobs, used = _disk(engine, container)
    digests = {d for r in repos.values() for d in r.revisions}
    manifests = {d: (_manifest(engine, container, d) if d in blobs else None) for d in sorted(digests)}
    return ms.SeenStore(mirror, repos, manifests, blobs, used)


def _repositories(tar: Optional[bytes]) -> dict[str, ms.SeenRepo]:
    """Repository name -> tags and revisions, from a tar of `repositories/` (storage/paths.go:
    `<name>/_manifests/tags/<tag>/current/link`, `<name>/_manifests/revisions/sha256/<hex>/link`)."""
    tags: dict[str, dict[str, str]] = {}
    revisions: dict[str, dict[str, float]] = {}
    if tar is None:
        return {}
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        for member in archive:
            if not member.isfile() or not member.name.endswith("/link") or "/_manifests/" not in member.name:
                continue
            head, _, rest = member.name.partition("/_manifests/")
            name = head.split("/", 1)[1] if "/" in head else ""  # drop the leading "repositories"
            parts = rest.split("/")
            if not name:
                continue
            if parts[0] == "tags" and len(parts) == 4 and parts[2] == "current":
                link = archive.extractfile(member).read().decode().strip()
                tags.setdefault(name, {})[parts[1]] = link
            elif parts[0] == "revisions" and len(parts) == 4:
                revisions.setdefault(name, {})[f"{parts[1]}:{parts[2]}"] = float(member.mtime)
    return {n: ms.SeenRepo(n, tags.get(n, {}), revisions.get(n, {})) for n in sorted({*tags, *revisions})}


def _disk(engine: Engine, container: str) -> tuple[dict[str, int], int]:
    """Bytes on disk of each blob, and of the whole storage (`du -k`: 1 KiB blocks used)."""
    rc, out = engine.exec(container, ["du", "-k", "-a", f"{DATA_DIR}/{ms.BLOBS}"])
    blobs = {}
    if rc == 0:
        for line in out.splitlines():
            size, _, path = line.partition("\t")
            if path.endswith("/data") and size.isdigit():
                blobs["sha256:" + path.rsplit("/", 2)[1]] = int(size) * 1024
    elif "No such file" not in out:
        raise EngineError(f"cannot measure {container}'s storage: {out.strip()}")
    rc, out = engine.exec(container, ["du", "-s", "-k", DATA_DIR])
    if rc != 0:
        raise EngineError(f"cannot measure {container}'s storage: {out.strip()}")
    return blobs, int(out.split()[0]) * 1024


def read_file(engine: Engine, container: str, path: str) -> Optional[bytes]:
    """A small file inside the container (running or not), or None when it is not there."""
    tar = engine.archive(container, path)
    if tar is None:
        return None
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        member = next((m for m in archive if m.isfile()), None)
        return archive.extractfile(member).read() if member else None


def _manifest(engine: Engine, container: str, digest: str) -> Optional[ms.Manifest]:
    data = read_file(engine, container, f"{DATA_DIR}/{ms.blob_path(digest)}")
    try:
        return ms.parse_manifest(data) if data is not None else None
    except (ValueError, KeyError, TypeError):
        return None  # not a manifest: distribution would fail on it too


@dataclass(frozen=True)
class Ledger:
    at: float  # when it was written: the access log is read from here on
    reads: Mapping[str, float]  # "repo@digest" -> last read


def read_ledger(engine: Engine, container: str) -> Ledger:
    data = read_file(engine, container, f"{DATA_DIR}/{LEDGER}")
    try:
        doc = json.loads(data) if data is not None else {}
    except ValueError:
        doc = {}
    if not isinstance(doc, dict) or doc.get("version") != LEDGER_VERSION:
        return Ledger(0.0, {})  # unreadable or of another layout: the access log and mtimes stand
    return Ledger(float(doc.get("at", 0.0)), {str(k): float(v) for k, v in doc.get("reads", {}).items()})


def write_ledger(engine: Engine, container: str, reads: Mapping[str, float], at: Optional[float] = None) -> None:
    data = json.dumps({"version": LEDGER_VERSION, "at": at or time.time(), "reads": dict(sorted(reads.items()))},
                      indent=1).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        info = tarfile.TarInfo(LEDGER)
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
        archive.addfile(info, io.BytesIO(data))
    engine.put_archive(container, DATA_DIR, buf.getvalue())


def read_access(engine: Engine, container: str, since: float) -> list[ms.Read]:
    """The reads of the container's log since `since`, and those a bounded mirror's keeper
    recorded in the volume (they outlive the container's log)."""
    # A little before the ledger's time: a read logged while it was written is not lost.
    logged = ms.parse_access(engine.logs(container, since - 60 if since else None))
    return logged + read_recorded(engine, container)


def read_recorded(engine: Engine, container: str) -> list[ms.Read]:
    data = read_file(engine, container, f"{DATA_DIR}/{keeper.READS_FILE}")
    return ms.parse_recorded(data.decode(errors="replace")) if data else []
