"""What the fingerprint of a stack (kindreg.core.fingerprint) is made of on this machine, and
where the last verified one is kept: `.kindreg/<stack>/verified.json` in the project.

Everything here is read from file metadata or small files, never from the engine: it has to
cost far less than the Pulumi run it can spare.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Mapping, Optional

import kindreg
from kindreg.adapters import files
from kindreg.core.fingerprint import Fingerprint

RECORD = "verified.json"
# What the engine runs: the CLI, the language host and the providers kindreg's program uses.
ENGINE_BINARIES = ("pulumi", "pulumi-language-python", "pulumi-language-python-exec",
                   "pulumi-resource-docker", "pulumi-resource-command")
PROGRAM_FILES = ("Pulumi.yaml", "__main__.py", "requirements.txt")
PROGRAM_PACKAGES = ("kindreg", "components")


def program(project_dir: Path, env: Mapping[str, str]) -> dict:
    """Identity (size, modification time) of the program's files, wherever Python finds them,
    and of the binaries and plugins the engine would load."""
    roots = [project_dir / f for f in PROGRAM_FILES] + [project_dir / p for p in PROGRAM_PACKAGES]
    installed = Path(kindreg.__file__).resolve().parent
    roots += [installed, installed.parent / "components"]
    path = env.get("PATH", os.defpath)
    home = Path(env.get("PULUMI_HOME") or Path(env.get("HOME", "~")).expanduser() / ".pulumi")
    return {"files": {str(r): tree(r) for r in dict.fromkeys(r.resolve() for r in roots)},
            "binaries": {b: _stat(shutil.which(b, path=path)) for b in ENGINE_BINARIES},
            "plugins": _listing(home / "plugins")}


def tree(root: Path) -> object:
    if root.is_file():
        return _stat(str(root))
    if not root.is_dir():
        return None
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".py"):
                full = os.path.join(dirpath, name)
                out[os.path.relpath(full, root)] = _stat(full)
    return out


def _stat(path: Optional[str]) -> Optional[list]:
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [path, st.st_size, st.st_mtime_ns]


def _listing(directory: Path) -> list:
    try:
        return sorted([e.name, e.stat().st_mtime_ns] for e in os.scandir(directory))
    except OSError:
        return []


# ---------------------------------------------------------------- the record

def record_path(project_dir: Path, state_dir: str) -> Path:
    return project_dir / state_dir / RECORD


def read(project_dir: Path, state_dir: str) -> Optional[Fingerprint]:
    """The last verified fingerprint, or None (never verified, or unreadable: the full path)."""
    try:
        return Fingerprint.from_json(json.loads(record_path(project_dir, state_dir).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def write(project_dir: Path, state_dir: str, fp: Fingerprint) -> None:
    files.write_whole(record_path(project_dir, state_dir), json.dumps(fp.to_json(), indent=2))


def forget(project_dir: Path, state_dir: str) -> None:
    """Before anything changes the stack: until it is verified again, `up` takes the full path."""
    record_path(project_dir, state_dir).unlink(missing_ok=True)
