"""The disk bound of a stack's mirrors: how it is divided among them.

A stack's `mirrors.maxSize` bounds everything its mirrors keep on disk: each mirror's volume
and its front cache. A mirror with its own `maxSize` gets exactly that; the rest of the stack's
bound is divided evenly among the others. Each mirror keeps to its share by itself (the keeper
in its entrypoint, kindreg.core.keeper), so a bound holds while kindreg is not running; the
division is fixed because the mirrors do not see each other's volumes.

A bounded mirror's front cache keeps its cache in the mirror's volume (kindreg.core.frontcache),
so the keeper's one measure, the volume, is everything; within it the front holds at most an
eighth (nginx's own `max_size`, kept by its cache manager evicting its least recently used
entries), and a blob only while it is in use (`front_keep`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from .errors import Problem, problem
from .quantity import human_bytes, size_bytes

MIB = 1024 * 1024
MIN_SHARE = 32 * MIB  # less leaves no room for one image and the keeper's margins
FRONT_PART = 8  # a front cache holds at most 1/FRONT_PART of its mirror's share


@dataclass(frozen=True)
class Share:
    bound: int  # bytes: the mirror's volume, its front cache's part included
    front: int  # bytes: the front cache's max_size (0 without a front cache)


@dataclass(frozen=True)
class Mirror:
    name: str
    max_size: Optional[str]  # its own bound, as written
    front_max: Optional[int]  # bytes: its front cache's configured max_size (None: no front)


def shares(mirrors: Sequence[Mirror], stack_bound: Optional[str], stack_at: str,
           mirror_at: Callable[[str], str]) -> tuple[dict[str, Share], list[Problem]]:
    """Each bounded mirror's share, by name; a mirror with no bound is absent."""
    own = {m.name: size_bytes(m.max_size) for m in mirrors if m.max_size is not None}
    problems = [problem(mirror_at(m.name), f"is less than {human_bytes(MIN_SHARE)}, too little to keep one "
                                           "image with the keeper's margins; raise it", m.max_size)
                for m in mirrors if m.name in own and own[m.name] < MIN_SHARE]
    bounds = dict(own)
    rest = [m.name for m in mirrors if m.name not in own]
    if stack_bound is not None and rest:
        left = size_bytes(stack_bound) - sum(own.values())
        each = left // len(rest)
        if each < MIN_SHARE:
            problems.append(problem(stack_at, f"leaves {human_bytes(max(each, 0))} for each of the "
                                              f"{len(rest)} mirrors without their own maxSize (at least "
                                              f"{human_bytes(MIN_SHARE)} each); raise it, or give those "
                                              "mirrors their own maxSize", stack_bound))
        bounds.update({name: each for name in rest})
    elif stack_bound is not None and size_bytes(stack_bound) < sum(own.values()):
        problems.append(problem(stack_at, f"is less than the mirrors' own maxSize together "
                                          f"({human_bytes(sum(own.values()))}); raise it or lower those",
                                stack_bound))
    fronts = {m.name: m.front_max for m in mirrors}
    return {name: Share(n, _front(n, fronts[name])) for name, n in bounds.items()}, problems


def _front(bound: int, configured: Optional[int]) -> int:
    return 0 if configured is None else min(configured, bound // FRONT_PART)


def nginx_size(n: int) -> str:
    """Bytes in nginx's size syntax (kibibytes: nginx has no plain-byte suffix)."""
    return f"{max(n // 1024, 1)}k"


NGINX_UNITS = {"k": 1024, "m": MIB, "g": 1024 * MIB}
NGINX_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def front_keep(keep: str, in_use_seconds: int) -> str:
    """A bounded mirror's front keeps a blob only while it is in use. nginx's cache manager
    enforces `max_size` only when it wakes, and it sleeps until the next entry's `inactive`
    runs out (ngx_http_file_cache.c `ngx_http_file_cache_manager` -> `_expire`): with 30m,
    the front would grow past its share for that long. Every waiter of a fill reads it at once
    (proxy_cache_lock), and the registry keeps its own copy, so fetch-once is unchanged."""
    configured = int(keep[:-1]) * NGINX_SECONDS[keep[-1]]
    return keep if configured <= in_use_seconds else f"{in_use_seconds}s"


def nginx_bytes(text: str) -> int:
    """nginx's "4g" / "512m" (already checked by the config) in bytes."""
    return int(text[:-1]) * NGINX_UNITS[text[-1]]
