"""Whether an `up` of a stack would change nothing: the fingerprint of everything it depends on.

After an `up` whose checks all passed, kindreg records four digests of the stack. The next `up`
computes them again and skips the engine only when each of them is still the same and
nothing differs from the plan (kindreg.core.drift), so a fast path never hides drift:

- configuration: the plan, the expected model (which holds the local CA), and the bytes of the
  stack's files and the environment the program reads;
- program: the program's files, the Pulumi CLI and the plugins the engine would load;
- state: the bytes of the stack's checkpoint (and of the shared stack's it reads outputs of),
  which any `pulumi` command that changes the stack rewrites;
- world: what kindreg observes of the things the stack made (kindreg.core.world), including
  every container's settings, each node's files and the ConfigMap.

Nothing here does I/O; the digests are SHA-256 of canonical JSON. No part holds a secret: the
plan never does, the observed model keeps no secret variable's value, files are hashed as
they are stored (secrets in them are encrypted), and secret-named variables count by name.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Mapping, Optional

from .expected import Expected
from .world import SeenContainer, World


class Part(StrEnum):
    CONFIGURATION = "configuration"
    PROGRAM = "program"
    STATE = "state"
    WORLD = "world"


# Variables whose values are never part of a digest (their presence is).
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY", "PASSPHRASE")


@dataclass(frozen=True)
class Fingerprint:
    parts: Mapping[str, str]  # Part -> digest

    def differs(self, before: Optional["Fingerprint"]) -> list[str]:
        """The parts that changed since `before` (every part when there is none)."""
        if before is None:
            return [p.value for p in Part]
        return [p.value for p in Part if before.parts.get(p.value) != self.parts.get(p.value)]

    def to_json(self) -> dict:
        return {"parts": dict(self.parts)}

    @classmethod
    def from_json(cls, doc: object) -> Optional["Fingerprint"]:
        parts = doc.get("parts") if isinstance(doc, dict) else None
        if not isinstance(parts, dict) or not all(isinstance(parts.get(p.value), str) for p in Part):
            return None
        return cls({p.value: parts[p.value] for p in Part})


def fingerprint(configuration: object, program: object, state: object, world: object) -> Fingerprint:
    return Fingerprint({Part.CONFIGURATION.value: digest(configuration), Part.PROGRAM.value: digest(program),
                        Part.STATE.value: digest(state), Part.WORLD.value: digest(world)})


def digest(value: object) -> str:
    text = json.dumps(_plain(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def environment(env: Mapping[str, str], prefixes: tuple[str, ...]) -> dict[str, str]:
    """The variables with one of `prefixes` (and PATH, which finds the CLI and plugins); a
    secret one by name only."""
    out = {}
    for name, value in env.items():
        if name == "PATH" or name.startswith(prefixes):
            out[name] = "(set)" if any(w in name.upper() for w in SECRET_WORDS) else value
    return out


def world_of(want: Expected, seen: World) -> dict:
    """What the world holds of the things `want` names; a thing not there counts as None. A
    network's members are left out: other projects' nodes join the shared network."""
    networks = [n.name for n in want.networks] + ([want.shared_network] if want.shared_network else [])
    return {
        "containers": {c.name: _container(seen.containers.get(c.name)) for c in want.containers},
        "nodes": {n.name: seen.nodes.get(n.name) for n in want.nodes},
        "networks": {n: _network(seen, n) for n in networks},
        "volumes": {v.name: seen.volumes.get(v.name) for v in want.volumes},
        "images": {ref: seen.images.get(ref) for ref in want.images},
        "hostFiles": dict(seen.host_files),
    }


# A health check's passing states: a container restarted by the last up is `starting` when
# that up looks, `healthy` a moment later; neither is a change (`unhealthy` is, and drift names it).
PASSING = frozenset({"starting", "healthy"})


def _container(c: Optional[SeenContainer]) -> Optional[SeenContainer]:
    return dataclasses.replace(c, health="passing") if c is not None and c.health in PASSING else c


def _network(seen: World, name: str) -> Optional[dict]:
    n = seen.networks.get(name)
    return None if n is None else {"id": n.id, "subnets": list(n.subnets), "labels": dict(n.labels)}


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "to_json") and callable(value.to_json):
        return _plain(value.to_json())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
