"""`kindreg cache`: copy images the nodes must not fetch themselves into the cache registry.

The cache registry (.102) holds images that need credentials the cluster does not have. The
copy runs on the host with the host's registry credentials (skopeo reads the Docker config
and containers' auth.json), so nodes pull `lok8s.cache/<path>:<tag>` without any.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from kindreg.adapters.engine import Engine
from kindreg.adapters.reach import HostRoutes
from kindreg.adapters.skopeo import Copier, CopyError
from kindreg.core.imageref import ImageRef, parse
from kindreg.core.vocabulary import CACHE_HOSTNAME, Role

from .routes import route_to


@dataclass(frozen=True)
class CacheTarget:
    """Where one image goes in the cache registry, and how nodes then pull it."""

    ref: ImageRef

    @property
    def source(self) -> str:
        return f"{self.ref.registry}/{self.ref.path}{self.ref.pinned}"

    @property
    def target_tag(self) -> str:
        # A reference by digest alone still needs a tag to push under; pulls use the digest.
        return self.ref.tag or f"sha256-{self.ref.digest.split(':', 1)[1][:32]}"

    def in_cache(self, host: str) -> str:
        return f"{host}/{self.ref.path}:{self.target_tag}"

    @property
    def node_ref(self) -> str:
        return f"{CACHE_HOSTNAME}/{self.ref.path}{self.ref.pinned}"


def target_of(image: str) -> CacheTarget:
    return CacheTarget(parse(image))


def cache_registry(engine: Engine, stack: str, routes: HostRoutes) -> Optional[tuple[str, bool]]:
    """(address, tls) of the stack's running cache registry as this host reaches it: its address
    on the network, or the port published on 127.0.0.1 where addresses are not routable."""
    found = route_to(engine, routes, stack, Role.CACHE)
    return (found[0].address, found[1]) if found else None


@dataclass(frozen=True)
class Result:
    image: str
    target: str
    outcome: str  # copied | skipped | failed
    detail: str


def cache_images(images: Sequence[str], cache_host: str, tls: bool, copier: Copier, parallel: int = 1,
                 insecure_source: bool = False, progress: Callable[[str], None] = print) -> list[Result]:
    """Copy each image into the cache registry at `cache_host`; one image's failure stops no other."""
    lock = threading.Lock()
    total = len(images)

    def one(index: int, image: str) -> Result:
        result = _cache_one(image, cache_host, tls, copier, insecure_source)
        with lock:
            progress(f"[{index}/{total}] {result.image}: {result.outcome} {result.detail}".rstrip())
        return result

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(one, range(1, total + 1), images))


def _cache_one(image: str, cache_host: str, tls: bool, copier: Copier, insecure_source: bool) -> Result:
    try:
        ref = target_of(image)
    except ValueError as err:
        return Result(image, "", "failed", str(err))
    target = ref.in_cache(cache_host)
    source_digest = copier.digest(ref.source, not insecure_source)
    if source_digest is None:
        return Result(image, target, "failed", f"cannot read {ref.source} (does it exist, and are you "
                                               "logged in to its registry? `docker login` or `skopeo login`)")
    if copier.digest(target, tls) == source_digest:
        return Result(image, target, "skipped", f"already cached ({source_digest[:19]}); nodes pull {ref.node_ref}")
    try:
        copier.copy(ref.source, target, not insecure_source, tls)
    except CopyError as err:
        return Result(image, target, "failed", str(err))
    return Result(image, target, "copied", f"({source_digest[:19]}); nodes pull {ref.node_ref}")


def summary(results: list[Result]) -> str:
    counts = {k: sum(r.outcome == k for r in results) for k in ("copied", "skipped", "failed")}
    return f"{counts['copied']} copied, {counts['skipped']} already cached, {counts['failed']} failed"
