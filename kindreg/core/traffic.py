"""A mirror's traffic, from the registry's own counters: what users ask when pulls feel slow.

distribution keeps proxy counters per registry process (registry/proxy/proxymetrics.go) and
publishes them as expvar JSON on its debug listener (`/debug/vars`, "registry" -> "proxy" ->
"blobs" / "manifests": Requests, Hits, Misses, BytesPulled, BytesPushed). They count from the
registry's start: a restart (or the mirror switching between pull-through and cache-only)
starts them again. BytesPulled is what the registry fetched from its remote, which is the
front cache when there is one: nodes asking for one cold blob at once count once each there,
while the front fetched it from the upstream once.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from .render import DATA_DIR, DEBUG_PORT

DEBUG_VARS_COMMAND = ["wget", "-q", "-O", "-", f"http://127.0.0.1:{DEBUG_PORT}/debug/vars"]
DISK_COMMAND = ["du", "-sk", DATA_DIR]
# Below this many requests a mirror with no hits is just young: its first pulls are all misses.
NO_HITS_AFTER = 20


@dataclass(frozen=True)
class MirrorTraffic:
    requests: int
    hits: int
    misses: int
    fetched_bytes: int  # from the mirror's remote (its front cache, or the upstream)
    served_bytes: int  # to the nodes
    disk_bytes: Optional[int] = None

    @property
    def hit_rate(self) -> Optional[float]:
        return self.hits / self.requests if self.requests else None

    @property
    def no_hits(self) -> bool:
        """Traffic and not one answer from the cache: something keeps the cache from working."""
        return self.requests >= NO_HITS_AFTER and self.hits == 0


def parse_debug_vars(text: str) -> Optional[MirrorTraffic]:
    """The proxy counters in a registry's /debug/vars, blobs and manifests added; None when the
    text is not that document (a registry that is not a proxy has none)."""
    try:
        proxy = json.loads(text)["registry"]["proxy"]
        parts = [proxy[k] for k in ("blobs", "manifests")]
        total = {k: sum(int(p[k]) for p in parts) for k in ("Requests", "Hits", "Misses", "BytesPulled", "BytesPushed")}
    except (ValueError, KeyError, TypeError):
        return None
    return MirrorTraffic(total["Requests"], total["Hits"], total["Misses"], total["BytesPulled"], total["BytesPushed"])


def parse_du(text: str) -> Optional[int]:
    first = text.split()[:1]
    return int(first[0]) * 1024 if first and first[0].isdigit() else None


def human_bytes(n: Optional[int]) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "-"
