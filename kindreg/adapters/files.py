"""The project directory and other files kindreg reads: stack files, manifests, the Docker config."""
from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Optional

from kindreg.core.artifact import SKIP
from kindreg.core.sources import STACK_FILE_GLOB, stack_of_file


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def write_whole(path: Path, text: str) -> None:
    """Written aside and renamed into place: a kill, or another kindreg writing at the same
    moment, leaves one whole file or the other, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def project_reader(project_dir: Path) -> Callable[[Path], str]:
    """read_text for the files of one project: a path that resolves outside it (through `..`
    or a symlink) is refused, so a stack cannot make kindreg read another file of the machine."""
    root = project_dir.resolve()

    def read(path: Path) -> str:
        if not path.resolve().is_relative_to(root):
            raise PermissionError(f"{path} leads outside the project directory {root}")
        return read_text(path)
    return read


def stack_names(project_dir: Path) -> list[str]:
    """The stacks of a project directory: one per Pulumi.<stack>.yaml."""
    return sorted(stack_of_file(p.name) for p in project_dir.glob(STACK_FILE_GLOB))


class OutsideDirectory(ValueError):
    """A manifest that is a link to a file outside the manifests directory."""


def manifest_files(directory: Path) -> list[Path]:
    """The files to package; a symbolic link out of the directory is refused, never followed."""
    root = directory.resolve()
    found = sorted(p for p in directory.rglob("*")
                   if p.is_file() and not (set(p.relative_to(directory).parts) & SKIP))
    for p in found:
        if not p.resolve().is_relative_to(root):
            raise OutsideDirectory(f"{p} is a link to {p.resolve()}, outside {directory}; "
                                   "copy the file into the directory instead")
    return found


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
