"""Where a Docker engine is, from its address (DOCKER_HOST, `docker:host`, a context's host)."""
from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit

LOCAL_SCHEMES = ("unix", "npipe", "fd")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def is_local(endpoint: Optional[str]) -> bool:
    """A unix socket or named pipe, or TCP on loopback: the engine shares this machine's
    filesystem and loopback. `ssh://` is remote even to this machine: the CLI reaches the engine
    through a login, as it would another machine's. No address means Docker's default, local."""
    if not endpoint:
        return True
    parts = urlsplit(endpoint)
    return parts.scheme in LOCAL_SCHEMES or (parts.scheme == "tcp" and parts.hostname in LOOPBACK_HOSTS)
