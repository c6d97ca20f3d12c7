"""How this host reaches a registry container, for the commands that run on the host.

On Docker Engine for Linux the host routes to every container address, so `cache`, `push` and
`status` use the registry's address on its network, as the nodes do. On Docker Desktop, Colima
and rootless engines the containers live in a VM or another network namespace: their
addresses are unreachable, and only ports published on 127.0.0.1 are forwarded to the host.
kindreg publishes every build and cache registry there (and mirrors when asked), on a port the
engine picks, and reads the port back from the container. The nodes keep pulling by address.

Which case applies is found out, not guessed from the engine's name: the first running
registry is asked at its address once, and the answer holds for the whole engine.
"""
from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Optional

from kindreg.core.endpoint import is_local
from kindreg.core.plan import PORTS
from kindreg.core.vocabulary import PUBLISH_ADDRESS, Label

from .engine import label, running

Connect = Callable[[str, int], bool]
PROBE_TIMEOUT = 1.0


def tcp_connect(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def registry_port(container: dict) -> int:
    """The port the registry serves inside its container: 80, or 443 with TLS."""
    return PORTS.get(label(container, Label.SCHEME) or "http", PORTS["http"])


def published_port(container: dict, port: int) -> Optional[int]:
    """The host port the engine bound `port` of the container to on 127.0.0.1, if any."""
    ports = (container.get("NetworkSettings") or {}).get("Ports") or {}
    for binding in ports.get(f"{port}/tcp") or []:
        if binding.get("HostIp") in (PUBLISH_ADDRESS, "0.0.0.0", "") and str(binding.get("HostPort", "")).isdigit():
            return int(binding["HostPort"])
    return None


@dataclass(frozen=True)
class Route:
    """Where this host finds a registry: `address` goes into URLs and image references."""

    address: str
    published: bool  # through the port published on 127.0.0.1, not the container's address

    def url(self, scheme: str) -> str:
        return f"{scheme}://{self.address}"


class HostRoutes:
    """Routes from this host to the registries of one engine (see the module's text)."""

    def __init__(self, endpoint: str, connect: Optional[Connect] = None):
        self.local = is_local(endpoint)
        self.endpoint = endpoint
        # Looked up at each call, not bound here: the unit tests replace the module's tcp_connect.
        self._connect = connect or (lambda host, port: tcp_connect(host, port))
        self._direct: Optional[bool] = None

    @property
    def direct(self) -> Optional[bool]:
        """Whether container addresses are routable from this host (None: not asked yet)."""
        return self._direct

    def route(self, container: dict) -> Optional[Route]:
        """How this host reaches the registry in `container`; None when it cannot."""
        ip, port = label(container, Label.IP) or "", registry_port(container)
        if ip and self._routable(ip, port, running(container)):
            return Route(ip, published=False)
        host_port = published_port(container, port)
        if host_port is None or not self.local:
            return None
        return Route(f"{PUBLISH_ADDRESS}:{host_port}", published=True)

    def _routable(self, ip: str, port: int, running: bool) -> bool:
        if self._direct is None:
            if not running:  # a stopped registry answers nothing either way: ask the next one
                return False
            self._direct = self._connect(ip, port)
        return self._direct

    def unreachable(self, container: dict) -> str:
        """Why `route` found nothing, and what to do."""
        if not self.local:
            return (f"the engine is remote ({self.endpoint}): its container addresses and published ports are on "
                    "that machine; run the command there, or forward the port (ssh -L)")
        return ("its address is not reachable from this host and it publishes no port on 127.0.0.1; run "
                "`kindreg up` again to publish it")


API_TIMEOUT = 5.0


def registry_api(url: str, ca_file: Optional[str] = None) -> Optional[str]:
    """None when `url` (a registry's /v2/) answers as a registry does (200, or 401 asking for
    credentials); else what went wrong, in a few words."""
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(url, timeout=API_TIMEOUT, context=context) as answer:
            status = answer.status
    except urllib.error.HTTPError as err:
        status = err.code
    except (urllib.error.URLError, OSError) as err:
        return f"no answer ({getattr(err, 'reason', err)})"
    return None if status in (200, 401) else f"answered HTTP {status}, not the registry API"
