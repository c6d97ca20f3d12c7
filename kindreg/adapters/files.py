"""The project directory and other files kindreg reads: stack files, manifests, the Docker config."""
from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Mapping, Optional

from kindreg.core.artifact import SKIP
from kindreg.core.sources import STACK_FILE_GLOB, stack_of_file


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def stack_names(project_dir: Path) -> list[str]:
    """The stacks of a project directory: one per Pulumi.<stack>.yaml."""
    return sorted(stack_of_file(p.name) for p in project_dir.glob(STACK_FILE_GLOB))


def manifest_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*")
                  if p.is_file() and not (set(p.relative_to(directory).parts) & SKIP))


def package_manifests(directory: Path) -> bytes:
    """A tar.gz of the directory that depends on file paths and contents only (no times,
    owners or modes), so unchanged manifests give the same bytes and the same digest."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in manifest_files(directory):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(directory).as_posix())
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def docker_config(env: Mapping[str, str]) -> Optional[dict]:
    """The Docker client's config.json ($DOCKER_CONFIG, else ~/.docker), or None."""
    base = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else \
        Path(env.get("HOME", "~")).expanduser() / ".docker"
    try:
        return json.loads((base / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
