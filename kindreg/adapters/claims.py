"""What the other stacks of a directory claim on the machine, kept between runs in
`.kindreg/claims.json`, so that checking one stack against thirty others costs thirty file
reads, not thirty plans.

An entry holds a stack's claims (kindreg.core.crossstack.Claim) with the digest of every file
its plan read (its stack file, its shared stack's, a lok8s file; a file that was missing counts
as missing) and of the planning code itself. It is used only while each of those digests is
the same; anything else plans the stack again. The file is written aside and renamed into
place: two kindregs at once leave one whole record or the other.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Optional

import kindreg
from kindreg.core.crossstack import Claim

from . import files, verified
from .world import file_digest

CACHE = Path(".kindreg") / "claims.json"
VERSION = 1
ReadText = Callable[[Path], str]


def recording(read: ReadText, project_dir: Path) -> tuple[ReadText, dict[str, Optional[str]]]:
    """`read`, noting the digest of every file it is asked for (None: missing)."""
    inputs: dict[str, Optional[str]] = {}

    def reader(path: Path) -> str:
        key = _key(project_dir, path)
        try:
            text = read(path)
        except FileNotFoundError:
            inputs[key] = None
            raise
        inputs[key] = _digest(text.encode("utf-8"))
        return text
    return reader, inputs


def code() -> str:
    """The identity of the planning code (size and time of each of its files)."""
    core = Path(kindreg.__file__).resolve().parent / "core"
    return _digest(json.dumps(verified.tree(core), sort_keys=True).encode())


def load(project_dir: Path) -> dict:
    try:
        doc = json.loads((project_dir / CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    ok = isinstance(doc, dict) and doc.get("version") == VERSION and doc.get("code") == code()
    return doc.get("stacks", {}) if ok and isinstance(doc.get("stacks"), dict) else {}


def lookup(project_dir: Path, entries: dict, stack: str) -> Optional[list[Claim]]:
    """The stack's claims, if every file its plan read is as it was; else None."""
    entry = entries.get(stack)
    if not isinstance(entry, dict) or not isinstance(entry.get("inputs"), dict):
        return None
    for key, want in entry["inputs"].items():
        if file_digest(str(project_dir / key)) != want:
            return None
    try:
        return [Claim(**c) for c in entry["claims"]]
    except (TypeError, KeyError):
        return None


def entry(inputs: dict[str, Optional[str]], claims: list[Claim]) -> dict:
    return {"inputs": dict(inputs), "claims": [c.__dict__ for c in claims]}


def save(project_dir: Path, entries: dict) -> None:
    """Best effort: a directory kindreg cannot write to is checked in full on every run."""
    try:
        files.write_whole(project_dir / CACHE, json.dumps({"version": VERSION, "code": code(), "stacks": entries},
                                                          sort_keys=True))
    except OSError:
        pass


def _key(project_dir: Path, path: Path) -> str:
    try:
        return str(path.relative_to(project_dir))
    except ValueError:
        return str(path)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
