"""Sizes ("20GiB") and durations ("168h") as users write them, as numbers.

Sizes use pydantic's ByteSize grammar (B, KB/KiB ... TB/TiB, case-insensitive, a decimal
number); durations use Go's (what distribution and containerd read: "90s", "1h30m", "168h"),
plus "d" for days, which is what a cache age is usually thought in.
"""
from __future__ import annotations

import re

from pydantic import ByteSize, TypeAdapter, ValidationError

SIZE_EXAMPLE = '"20GiB" or "500MB"'
DURATION_EXAMPLE = '"7d", "168h" or "30m"'
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h|d)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = TypeAdapter(ByteSize)


class QuantityError(ValueError):
    """The value is not a size or a duration; the message says how to write one."""


def size_bytes(text: str) -> int:
    try:
        value = int(_SIZE.validate_python(text))
    except ValidationError:
        raise QuantityError(f"is not a size; write it like {SIZE_EXAMPLE}") from None
    if value <= 0:
        raise QuantityError(f"must be more than 0 bytes; write it like {SIZE_EXAMPLE}")
    return value


def duration_seconds(text: str) -> float:
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise QuantityError(f"is not a duration; write it like {DURATION_EXAMPLE}")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
