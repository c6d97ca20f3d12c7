"""Facts about this machine: is a host port free, which processes a process started."""
from __future__ import annotations

import socket


def port_free(port: int) -> bool:
    for address in ("127.0.0.1", "0.0.0.0"):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc; an empty list elsewhere)."""
    from pathlib import Path
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields and fields[1] == str(pid):
            out.append(int(stat.parent.name))
    return out
