"""`kindreg cache save FILE` and `kindreg cache restore FILE`: every mirror's content in one archive.

Save streams each mirror's storage out of its container (`docker cp`, the mirror keeps serving),
checks each blob's digest on the way (a blob being written at that moment is left out, and so is
every image it belongs to from the manifest), and writes FILE.partial, renamed to FILE only once
complete: an interrupted save leaves FILE as it was.

Restore checks the whole archive first (core.cachearchive) and refuses it, changing nothing, if
anything is off. Then, per mirror of the stacks the archive has content for, it writes into the
mirror's volume (created with kindreg's labels when the stack is not up yet, so `up` adopts it):
the content goes to a stage directory inside the volume, and a one-shot container moves it into
place, blobs first, then revision links, then the rest, with rename(2), skipping what is there.
So a link never names a blob not yet in place, a kill leaves at worst a stage (removed by the
next restore) and blobs no manifest names yet, and a second restore changes nothing.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator, Optional, Sequence

from kindreg.adapters import mirrorstore as store_reader
from kindreg.adapters.engine import Engine, EngineError, by_name, label, running
from kindreg.core import cachearchive as ca, mirrorstore as ms, render
from kindreg.core.cachearchive import ArchiveError
from kindreg.core.quantity import human_bytes
from kindreg.core.vocabulary import MANAGED_VALUE, RESTORE_ROLE, Label

from .prune import Target

Out = Callable[[str], None]
STAGE_PREFIX = ".kindreg-restore-"
RESTORE_SUFFIX = "-restore"
SPOOL_BYTES = 64 << 20  # blobs up to this are checked in memory, larger ones through a temporary file
# The stage's path comes as an argument; nothing is pasted into the script.
RESTORE_SCRIPT = f"""set -e
cd {render.DATA_DIR}
s="$1"
[ -d "$s" ] || {{ echo "placed 0 file(s), 0 already there"; exit 0; }}
find "$s" -type f > "$s.list"
moved=0; kept=0
for phase in blobs revisions rest; do
  while read -r f; do
    p="${{f#"$s"/}}"
    case "$p" in
      docker/registry/v2/blobs/*) [ "$phase" = blobs ] || continue ;;
      */_manifests/revisions/*) [ "$phase" = revisions ] || continue ;;
      *) [ "$phase" = rest ] || continue ;;
    esac
    if [ -e "$p" ]; then kept=$((kept+1)); else mkdir -p "${{p%/*}}"; mv "$f" "$p"; moved=$((moved+1)); fi
  done < "$s.list"
done
rm -rf "$s" "$s.list"
for old in {STAGE_PREFIX}*; do [ -e "$old" ] && rm -rf "$old"; done
echo "placed $moved file(s), $kept already there"
"""


@dataclass(frozen=True)
class Saved:
    path: Path
    manifest: ca.ArchiveManifest
    size: int


# ------------------------------------------------------------------------------------ save

def save(engine: Engine, found: Sequence[Target], path: Path, out: Out = print,
         now: Callable[[], float] = time.time) -> Saved:
    containers = by_name(engine.containers())
    stopped = [t.plan.container for t in found if (c := containers.get(t.plan.container)) and not running(c)]
    if stopped:
        raise EngineError(f"stopped: {', '.join(stopped)}; run `kindreg up` first (save reads the running mirrors)")
    absent = sorted({t.plan.owner for t in found if t.plan.container not in containers})
    if absent:
        out(f"stack(s) {', '.join(absent)} not up here: their mirrors are not saved")
    found = [t for t in found if t.plan.container in containers]
    if not found:
        raise EngineError("no mirror of these stacks is up; run `kindreg up` first")
    partial = path.with_name(path.name + ".partial")
    entries, skipped = {}, {}
    try:
        with open(partial, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz, \
                tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for t in found:
                key = ca.mirror_key(t.plan.owner, t.plan.name)
                entries[key], skipped[key] = _save_mirror(engine, t, tar, out)
            manifest = ca.ArchiveManifest(entries, now(), skipped={k: tuple(v) for k, v in skipped.items()})
            _add_bytes(tar, ca.MANIFEST_NAME, json.dumps(manifest.document(), indent=1).encode())
            raw.flush()
        with open(partial, "rb") as f:
            os.fsync(f.fileno())
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return Saved(path, manifest, path.stat().st_size)


def _save_mirror(engine: Engine, t: Target, tar: tarfile.TarFile, out: Out) -> tuple[ca.MirrorEntry, list[str]]:
    name = t.plan.container
    seen = store_reader.read_store(engine, t.plan.name, name)
    blobs: dict[str, int] = {}
    bad: list[str] = []
    if seen.repos or seen.blobs:
        _copy_storage(engine, t, tar, blobs, bad)
    ledger = store_reader.read_file(engine, name, f"{render.DATA_DIR}/{store_reader.LEDGER}")
    if ledger is not None:
        _add_bytes(tar, ca.member_name(_key(t), store_reader.LEDGER), ledger)
    whole = _whole(seen, blobs)
    entry = ca.MirrorEntry(t.plan.upstream, t.plan.host, blobs, tuple(sorted(i.name for i in whole)))
    out(f"{_key(t)}: {len(entry.images)} image(s), {len(blobs)} blob(s), {human_bytes(sum(blobs.values()))}"
        + (f"; {len(bad)} blob(s) left out (being written or damaged)" if bad else ""))
    return entry, bad


def _copy_storage(engine: Engine, t: Target, tar: tarfile.TarFile, blobs: dict[str, int], bad: list[str]) -> None:
    """The mirror's distribution tree into the archive, each blob checked against its digest."""
    with engine.read_tar(t.plan.container, f"{render.DATA_DIR}/{ms.ROOT.split('/')[0]}") as stream, \
            tarfile.open(fileobj=stream, mode="r|") as source:
        for member in source:
            if not ca.keep(member.name) or not (member.isfile() or member.isdir()):
                continue
            if member.isdir():
                _add_dir(tar, ca.member_name(_key(t), member.name))
                continue
            digest = ca.blob_digest(member.name)
            with _spooled(source.extractfile(member)) as (data, size, sha):
                if digest and sha != digest:
                    bad.append(digest)  # being written, or damaged: left out
                    continue
                info = tarfile.TarInfo(ca.member_name(_key(t), member.name))
                info.size, info.mtime, info.mode = size, member.mtime, 0o644
                tar.addfile(info, data)
                if digest:
                    blobs[digest] = size


def _key(t: Target) -> str:
    return ca.mirror_key(t.plan.owner, t.plan.name)


def _whole(seen: ms.SeenStore, blobs: dict[str, int]) -> list[ms.Image]:
    return [i for i in ms.images(seen) if i.whole_in(blobs)]


@contextlib.contextmanager
def _spooled(src: IO[bytes]) -> Iterator[tuple[IO[bytes], int, str]]:
    """The member's bytes in a spool (memory, or a temporary file when large), their size and digest."""
    h = hashlib.sha256()
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        while chunk := src.read(1 << 20):
            h.update(chunk)
            spool.write(chunk)
            size += len(chunk)
        spool.seek(0)
        yield spool, size, f"sha256:{h.hexdigest()}"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
    tar.addfile(info)


# ------------------------------------------------------------------------------------ restore

@contextlib.contextmanager
def _members(path: Path) -> Iterator[Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]]:
    """The archive's members, streamed; any damage to the file surfaces as ArchiveError."""
    try:
        raw = open(path, "rb")
    except OSError as err:
        raise ArchiveError(f"cannot be read ({err.strerror or err}); give the FILE `kindreg cache save` wrote") from None
    try:
        with raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
            yield ((m, tar) for m in tar)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ArchiveError(f"is damaged or cut short ({err.__class__.__name__}: {err}); save it again") from None


def verify(path: Path) -> ca.ArchiveManifest:
    """Every member checked, or ArchiveError: the first pass of a restore, which changes nothing."""
    found: dict[str, dict[str, int]] = {}
    manifest_doc = None
    with _members(path) as members:
        for member, tar in members:
            if member.name == ca.MANIFEST_NAME:
                try:
                    manifest_doc = json.loads(tar.extractfile(member).read())
                except ValueError:
                    raise ArchiveError("has a manifest that is not JSON; save it again") from None
                continue
            mirror, rest = ca.split_member(member.name)
            if member.isdir():
                continue
            if not member.isfile():
                raise ArchiveError(f"holds {member.name!r}, which is not a plain file; it was not written by "
                                   "`kindreg cache save`")
            digest = ca.blob_digest(rest)
            if digest:
                h = hashlib.sha256()
                src = tar.extractfile(member)
                while chunk := src.read(1 << 20):
                    h.update(chunk)
                if f"sha256:{h.hexdigest()}" != digest:
                    raise ArchiveError(f"holds blob {digest} of mirror {mirror} whose content does not match its "
                                       "digest: the archive is damaged; save it again")
                found.setdefault(mirror, {})[digest] = member.size
    if manifest_doc is None:
        raise ArchiveError(f"has no {ca.MANIFEST_NAME}: it is cut short or was not written by `kindreg cache save`")
    manifest = ca.parse_manifest(manifest_doc)
    problems = ca.mismatches(manifest, found)
    if problems:
        raise ArchiveError("does not hold what its manifest lists: " + "; ".join(problems))
    return manifest


class _Hashing:
    """A reader that hashes what passes through it."""

    def __init__(self, src: IO[bytes]):
        self.src, self.h = src, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.h.update(data)
        return data

    def digest(self) -> str:
        return f"sha256:{self.h.hexdigest()}"


@dataclass(frozen=True)
class Restored:
    mirror: str
    done: bool
    detail: str


def restore(engine: Engine, found: Sequence[Target], path: Path, manifest: Optional[ca.ArchiveManifest] = None,
            out: Out = print) -> list[Restored]:
    manifest = manifest or verify(path)
    asked = {_key(t): t for t in found}
    targets, results = [], []
    for name, entry in sorted(manifest.mirrors.items()):
        t = asked.get(name)
        if t is None:
            results.append(Restored(name, True, "skipped: no stack here (of those asked) has this mirror"))
        elif not entry.blobs:
            results.append(Restored(name, True, "nothing saved for it"))
        elif entry.host != t.plan.host:
            results.append(Restored(name, False, f"skipped: the archive's {name} mirrors {entry.host}, this one "
                                                 f"{t.plan.host}; rename one of them"))
        else:
            targets.append(t)
    containers = by_name(engine.containers())
    volumes = {v.get("Name") for v in engine.volumes()}
    stage = f"{STAGE_PREFIX}{uuid.uuid4().hex[:12]}"
    helpers = {}
    for t in targets:
        if t.plan.volume not in volumes:
            engine.volume_create(t.plan.volume, render.volume_labels(t.plan))
        helpers[_key(t)] = _helper(engine, t, containers, stage)
    with contextlib.ExitStack() as streams, _members(path) as members:
        into = {n: tarfile.open(fileobj=streams.enter_context(engine.write_tar(h, render.DATA_DIR)), mode="w|")
                for n, h in helpers.items()}
        for member, tar in members:
            if member.name == ca.MANIFEST_NAME:
                continue
            mirror, rest = ca.split_member(member.name)
            if mirror not in into:
                continue
            info = tarfile.TarInfo(f"{stage}/{rest}")
            info.type, info.size, info.mtime, info.mode = member.type, member.size, member.mtime, member.mode
            if not member.isfile():
                into[mirror].addfile(info)
                continue
            # Checked again on the way: the file may have changed since `verify`. A mismatch stops
            # every stream before any helper starts, so nothing is placed.
            src = _Hashing(tar.extractfile(member))
            into[mirror].addfile(info, src)
            digest = ca.blob_digest(rest)
            if digest and src.digest() != digest:
                raise ArchiveError(f"changed while it was restored (blob {digest} of mirror {mirror}); save it again")
        for t in into.values():
            t.close()
    for t in targets:
        code, text = engine.start_attached(helpers[_key(t)])
        last = text.strip().splitlines()[-1] if text.strip() else ""
        entry = manifest.mirrors[_key(t)]
        results.append(Restored(_key(t), code == 0, f"{len(entry.images)} image(s), {last}" if code == 0
                                else f"placing the content failed (exit {code}): {last}"))
    return results


def _helper(engine: Engine, t: Target, containers: dict, stage: str) -> str:
    """A created (not started) one-shot container on the mirror's volume, to receive and place."""
    name = t.plan.container + RESTORE_SUFFIX
    stale = containers.get(name)
    if stale is not None and label(stale, Label.ROLE) == RESTORE_ROLE:
        engine.remove(name)  # an earlier restore killed before it started its helper
    mirror = containers.get(t.plan.container)
    image = mirror["Image"] if mirror else t.plan.image
    engine.create(image, ["-c", RESTORE_SCRIPT, "kindreg-restore", stage], name=name,
                  mounts={t.plan.volume: render.DATA_DIR}, entrypoint="sh",
                  labels={Label.MANAGED.value: MANAGED_VALUE, Label.ROLE.value: RESTORE_ROLE,
                          Label.STACK.value: t.plan.owner})
    return name
