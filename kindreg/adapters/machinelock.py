"""One kindreg at a time per stack on this machine: an advisory lock (flock) per stack.

The kernel releases a flock when its holder exits, however it exits (SIGKILL, OOM, a crash), so
this lock can never be left stale. The engine's own lock file (the file backend's) is what
refuses a second run; holding this one first turns that refusal into a wait with a message.
The holder writes its pid and command into the file, for the message only.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

POLL_SECONDS = 0.5


def lock_path(directory: Path, backend: str, project: str, stack: str) -> Path:
    """One file per (backend, project, stack): two directories on the same backend share it."""
    key = hashlib.sha256(f"{backend}\0{project}\0{stack}".encode()).hexdigest()[:16]
    return directory / f"{stack}-{key}.lock"


@contextlib.contextmanager
def exclusive(path: Path, what: str, out: Callable[[str], None], timeout: float = 3600) -> Iterator[None]:
    """Hold the lock at `path` for the block; wait (saying so once) while another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(fd, path, what, out, timeout)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {' '.join(sys.argv)[:200]}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _acquire(fd: int, path: Path, what: str, out: Callable[[str], None], timeout: float) -> None:
    deadline, said = time.monotonic() + timeout, False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not said:
                out(f"{what} is being changed by another kindreg ({_holder(path)}): waiting for it to finish")
                said = True
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: still held by {_holder(path)} after {int(timeout)}s") from None
            time.sleep(POLL_SECONDS)


def _holder(path: Path) -> str:
    try:
        pid, _, command = path.read_text(encoding="utf-8").strip().partition(" ")
    except OSError:
        return "unknown process"
    return f"pid {pid}: {command}" if pid else "unknown process"
