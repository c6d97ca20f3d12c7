"""Decode a raw mapping into a config model, collecting every problem.

Pydantic checks shape and each field; `cross_checks` then checks fields against each
other, validating each section on its own so that one bad field does not hide another
problem (as kind's validation does: collect, then report all).
"""
from __future__ import annotations

import difflib
import typing
from typing import Callable, Iterable, Optional, TypeVar

from pydantic import BaseModel, ValidationError

from . import layout
from .config import MIRRORS_MAX_SIZE, MirrorSpec, NetworkSpec, ProjectConfig, SharedNetworkSpec, SharedStackConfig
from .errors import ConfigError, Problem, problem
from .vocabulary import DEFAULT_MIRROR_NAMES, Scope

M = TypeVar("M", bound=BaseModel)
PathOf = Callable[[tuple], str]

# Friendly text for pydantic's built-in error types (custom ones carry their own).
_MESSAGES = {
    "bool_type": "is not a boolean; write true or false (unquoted)",
    "int_type": "is not a whole number",
    "string_type": "is not a string",
    "list_type": "is not a list",
    "model_type": "is not a mapping of fields",
    "dict_type": "is not a mapping of fields",
    "missing": "is required",
}

_REQUIRED = {
    "url": 'is required: the upstream registry the mirror proxies, e.g. "https://quay.io"',
    "name": 'is required: a name for the mirror, e.g. "io-quay"',
}


def dotted(loc: Iterable) -> str:
    """('registries', 'mirrors', 2, 'url') -> 'registries.mirrors[2].url'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def prefixed(prefix: str) -> PathOf:
    return lambda loc: dotted((prefix, *loc)) if prefix else dotted(loc)


def validate(model: type[M], raw: object, source: str, path_of: PathOf,
             extra: Iterable[Problem] = ()) -> M:
    """The model for `raw`, or ConfigError listing every problem (extra ones, from the stages
    before, included; nothing is reported again at a place they already name)."""
    problems = list(extra)
    found: list[Problem] = []
    result: Optional[M] = None
    try:
        result = model.model_validate(raw)
    except ValidationError as err:
        found += problems_from(err, model, path_of)
    if isinstance(raw, dict):
        found += cross_checks(model, raw, path_of)
    reported = {q.path for q in problems if q.path}  # `extra` as given, read once above
    problems += [p for p in found if not _under_any(p.path, reported)]
    if problems:
        raise ConfigError(source, problems) from None
    assert result is not None
    return result


def _under_any(path: str, places: set[str]) -> bool:
    return any(path == at or path.startswith((f"{at}.", f"{at}[")) for at in places)


def problems_from(err: ValidationError, model: type[BaseModel], path_of: PathOf) -> list[Problem]:
    out = []
    for e in err.errors(include_url=False):
        loc = _clean_loc(e["loc"])
        path = path_of(loc)
        kind = e["type"]
        if kind == "extra_forbidden":
            out.append(problem(path, _unknown_field(model, loc)))
        elif kind == "missing":
            out.append(problem(path, _REQUIRED.get(loc[-1], _MESSAGES["missing"])))
        elif kind == "kindreg_secret" or isinstance(e["input"], dict):
            out.append(problem(path, e["msg"]))  # never quote a secret, nor a whole section
        elif kind in _MESSAGES:
            out.append(problem(path, _MESSAGES[kind], e["input"]))
        elif kind in ("greater_than_equal", "less_than_equal"):
            out.append(problem(path, _range_message(model, loc), e["input"]))
        else:
            out.append(problem(path, e["msg"], e["input"]))
    return out


def _clean_loc(loc: tuple) -> tuple:
    # Pydantic adds a step for a model built from a string ("function-before[...]").
    return tuple(p for p in loc if not (isinstance(p, str) and "[" in p))


def _range_message(model: type[BaseModel], loc: tuple) -> str:
    info = _field_at(model, loc)
    lo = hi = None
    for m in getattr(info, "metadata", []):
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
    return f"is out of range; use a value from {lo} to {hi}"


def _unknown_field(model: type[BaseModel], loc: tuple) -> str:
    owner = _model_at(model, loc[:-1])
    # A dotted alias (`mirrors.maxSize`) is written inside its mapping, not here.
    allowed = [a for n, f in owner.model_fields.items() if "." not in (a := f.alias or n)] if owner else []
    guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
    hint = f'did you mean "{guess[0]}"? ' if guess else ""
    return f"unknown field; {hint}(allowed here: {', '.join(allowed)})"


def _model_at(model: type[BaseModel], loc: tuple) -> Optional[type[BaseModel]]:
    current: object = model
    for part in loc:
        if isinstance(part, int):
            continue
        current = _unwrap(_annotation(current, part))
        if current is None:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field_at(model: type[BaseModel], loc: tuple):
    owner = _model_at(model, loc[:-1])
    if owner is None:
        return None
    return next((f for n, f in owner.model_fields.items() if (f.alias or n) == loc[-1]), None)


def _annotation(model: object, alias: str):
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    for name, f in model.model_fields.items():
        if (f.alias or name) == alias:
            return f.annotation
    return None


def _unwrap(tp):
    """list[X] / Optional[X] -> X."""
    while tp is not None and typing.get_origin(tp) is not None:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if args else None
    return tp


# ---------------------------------------------------------------- cross-field checks

def cross_checks(model: type[BaseModel], raw: dict, path_of: PathOf) -> list[Problem]:
    if model is ProjectConfig:
        return _project_checks(raw, path_of)
    if model is SharedStackConfig:
        net = _section(SharedNetworkSpec, raw.get("network", {}))
        return _mirror_checks(_items(raw.get("mirrors")), ("mirrors",), Scope.SHARED, path_of,
                              net.cidr if net else None) + _serving_checks(raw, (), path_of)
    return []


def _serving_checks(raw: dict, loc: tuple, path_of: PathOf) -> list[Problem]:
    """How a stack's own mirrors serve and store, field against field: published ports, the CA
    of their `via` registries, basic auth, and a disk bound that S3 storage has no disk for."""
    items = _items(raw.get("mirrors"))
    mirrors = [(i, m) for i, item in enumerate(items) if (m := _section(MirrorSpec, item)) is not None]
    out: list[Problem] = []
    ports: dict[int, int] = {}
    for i, m in mirrors:
        if m.host_port is None:
            continue
        if raw.get("publishMirrors") is not True:
            out.append(problem(path_of((*loc, "mirrors", i, "hostPort")), "is a port on the host, but the "
                               f"mirrors are not published; set {path_of((*loc, 'publishMirrors'))}: true, "
                               "or drop hostPort", m.host_port))
        elif m.host_port in ports:
            out.append(problem(path_of((*loc, "mirrors", i, "hostPort")), "is also the port of "
                               f"{path_of((*loc, 'mirrors', ports[m.host_port]))}; give each mirror its own",
                               m.host_port))
        ports.setdefault(m.host_port, i)
    front = raw.get("frontCache") if isinstance(raw.get("frontCache"), dict) else {}
    if front.get("enabled") is False:
        out += [problem(path_of((*loc, "mirrors", i, "via")), "needs the front cache, which is what reaches "
                        f"the via registry (its TLS, its CA); drop {path_of((*loc, 'frontCache', 'enabled'))}: false")
                for i, m in mirrors if m.via]
    if raw.get("publishNames") and raw.get("publishMirrors") is not True:
        out.append(problem(path_of((*loc, "publishNames")), "names the published mirrors, but the mirrors "
                           f"are not published; set {path_of((*loc, 'publishMirrors'))}: true, or drop publishNames"))
    if raw.get("viaCa") is not None and not any(m.via for _, m in mirrors):
        out.append(problem(path_of((*loc, "viaCa")), "is the CA of the mirrors' `via` registries, but no "
                           "mirror has `via`; give a mirror `via: <team mirror URL>`, or drop viaCa"))
    if raw.get("auth") is not None and raw.get("tls") is not True:
        out.append(problem(path_of((*loc, "auth")), "would send the users' passwords in the clear: set "
                           f"{path_of((*loc, 'tls'))}: true (mkcert's CA) with it"))
    storage = raw.get("storage") if isinstance(raw.get("storage"), dict) else {}
    if storage.get("s3") is not None:
        bound = [MIRRORS_MAX_SIZE] if MIRRORS_MAX_SIZE in raw else []
        bound += [f"{i}" for i, m in mirrors if m.max_size is not None]
        for at in bound:
            where = (*loc, at) if at == MIRRORS_MAX_SIZE else (*loc, "mirrors", int(at), "maxSize")
            out.append(problem(path_of(where), "bounds the mirrors' disk, but storage.s3 keeps what they "
                               "fetch in the bucket: drop it, and bound the bucket with its own lifecycle rules"))
    return out


def _project_checks(raw: dict, path_of: PathOf) -> list[Problem]:
    regs = raw.get("registries") if isinstance(raw.get("registries"), dict) else {}
    shared = regs.get("shared") if isinstance(regs.get("shared"), dict) else {}
    shared_mode = shared.get("enabled", True) is not False
    out: list[Problem] = []
    project_net = _section(NetworkSpec, raw.get("network", {}))
    claimed = shared.get("network") if isinstance(shared.get("network"), dict) else {}
    # Only a subnet the project states is checked here; the shared stack's real one is
    # checked when planning against it.
    shared_net = _section(SharedNetworkSpec, claimed) if "cidr" in claimed else None
    if shared_mode and project_net and shared_net and project_net.cidr == shared_net.cidr:
        out.append(problem(
            path_of(("network", "cidr")),
            f"is also the shared registries' subnet ({path_of(('registries', 'shared', 'network', 'cidr'))}); "
            f'give the project its own slot, e.g. "{layout.suggest_slot(project_net.cidr)}"',
            project_net.cidr,
        ))
    if "mirrors" in regs:
        # In shared mode the mirrors are claims about the shared stack's, which has the addresses.
        scope = Scope.SHARED if shared_mode else Scope.PROJECT
        cidr = None if shared_mode or project_net is None else project_net.cidr
        out += _mirror_checks(_items(regs["mirrors"]), ("registries", "mirrors"), scope, path_of, cidr)
    if not shared_mode:  # in shared mode the mirrors are claims about the shared stack's
        out += _serving_checks(regs, ("registries",), path_of)
    return out


def _mirror_checks(items: list, loc: tuple, scope: Scope, path_of: PathOf,
                   cidr: Optional[str]) -> list[Problem]:
    mirrors = [(i, m) for i, item in enumerate(items) if (m := _section(MirrorSpec, item)) is not None]
    out: list[Problem] = []
    names: dict[str, int] = {}
    hosts: dict[str, int] = {}
    for i, m in mirrors:
        if m.name in names:
            out.append(problem(path_of((*loc, i, "name")), f"is already the name of "
                               f"{path_of((*loc, names[m.name]))}; mirror names must be unique", m.name))
        names.setdefault(m.name, i)
        if m.registry_host in hosts:
            out.append(problem(path_of((*loc, i)), f"mirrors {m.registry_host}, as "
                               f"{path_of((*loc, hosts[m.registry_host]))} does; containerd sends a host "
                               "to one mirror only: keep one of them"))
        hosts.setdefault(m.registry_host, i)
    if cidr:
        unique = [(i, m) for i, m in mirrors if names[m.name] == i]  # a repeated name is reported above
        out += _address_checks(unique, loc, scope, path_of, cidr)
    capacity = layout.MIRROR_CAPACITY[scope]
    if len(items) > capacity:
        out.append(problem(path_of(loc),
                           f"lists {len(items)} mirrors but {layout.SUBNET_NAME[scope]} has addresses "
                           f"for {capacity} ({layout.CAPACITY_NOTE[scope]}); remove some mirrors"))
    return out


def _address_checks(mirrors: list, loc: tuple, scope: Scope, path_of: PathOf, cidr: str) -> list[Problem]:
    """Explicit addresses inside the mirrors' range, and no two mirrors on one address."""
    out: list[Problem] = []
    allowed = layout.registry_offsets(scope)
    taken: dict[int, int] = {}
    for i, m in mirrors:
        offset = layout.mirror_offset(m.name, scope, DEFAULT_MIRROR_NAMES, m.address, cidr)
        if m.address and offset not in allowed:
            out.append(problem(path_of((*loc, i, "address")),
                               f"is outside the mirrors' addresses of {layout.SUBNET_NAME[scope]} "
                               f"{cidr} ({layout.CAPACITY_NOTE[scope]})", m.address))
        elif offset in taken:
            # A free address past the well-known mirrors' own (they may be added later).
            free = next(o for o in allowed[len(DEFAULT_MIRROR_NAMES):] if o not in taken and o != offset)
            first = path_of((*loc, taken[offset]))
            out.append(problem(path_of((*loc, i)),
                               f"gets address {layout.address(cidr, offset)} (derived from its name), as "
                               f"{first} does; set `address` on one of them to a free address, e.g. "
                               f'"{layout.address(cidr, free)}"'))
        else:
            taken[offset] = i
    return out


def _items(value: object) -> list:
    return value if isinstance(value, list) else []


def _section(model: type[M], raw: object) -> Optional[M]:
    """The section validated on its own, or None if it is itself invalid (reported already)."""
    try:
        return model.model_validate(raw if raw is not None else {})
    except ValidationError:
        return None
