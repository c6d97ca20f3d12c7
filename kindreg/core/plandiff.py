"""`kindreg diff OLD.json NEW.json`: what a change does to each stack, without Docker or state.

Reads two plan documents (`plan --json` of one stack, or `plan --all --json` of every stack)
and prints, per stack, networks and registries added, removed and changed (IP, URL, TLS,
image, upstream, host).
"""
from __future__ import annotations

from typing import Any

from .document import read_plans
from .vocabulary import Role

# Every field whose change matters to a user's data or trust: addresses, TLS, what runs, where
# it pulls from, how long it keeps, whose credentials it uses, and which volume holds the cache.
REGISTRY_FIELDS = ("ip", "url", "scheme", "image", "upstream", "host", "port", "ttl", "username",
                   "passwordFrom", "volume")
NETWORK_FIELDS = ("subnet", "ipRange", "bridge")


def _registries(plan: dict) -> dict[str, dict]:
    regs = {r["container"]: {**r, "_kind": "registry"} for r in plan.get("registries", [])}
    # A project in shared mode: the mirrors its nodes pull through are part of its plan too.
    for m in plan.get("mirrors", []):
        regs.setdefault(m["container"], {**m, "_kind": "uses mirror"})
    return regs


def _describe(r: dict) -> str:
    what = r["role"] if r["role"] != Role.MIRROR else f"mirror {r['name']} ({r['host']} <- {r['upstream']})"
    return f"{r['_kind']} {r['container']}: {what} at {r['url']}"


def _changes(old: dict, new: dict, fields: tuple[str, ...]) -> list[str]:
    out = []
    for f in fields:
        if old.get(f) != new.get(f):
            if f == "scheme":
                out.append(f"tls {_bool(old.get(f) == 'https')} -> {_bool(new.get(f) == 'https')}")
            else:
                out.append(f"{f} {old.get(f)} -> {new.get(f)}")
    return out


def _bool(value: Any) -> str:
    return "true" if value else "false"


def _keyed(old: dict, new: dict, fields: tuple[str, ...], describe, name) -> list[str]:
    """+ added, - removed, ~ changed (field by field), over two maps keyed alike."""
    lines = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            lines.append(f"+ {describe(new[key])}")
        elif key not in new:
            lines.append(f"- {describe(old[key])}")
        elif changed := _changes(old[key], new[key], fields):
            lines.append(f"~ {name(new[key])}: {', '.join(changed)}")
    return lines


def diff_stack(old: dict, new: dict) -> list[str]:
    def networks(plan: dict) -> dict[str, dict]:
        return {n["name"]: n for n in plan.get("networks", [])}

    lines = _keyed(networks(old), networks(new), NETWORK_FIELDS,
                   lambda n: f"network {n['name']} {n['subnet']}", lambda n: f"network {n['name']}")
    lines += _keyed(_registries(old), _registries(new), REGISTRY_FIELDS, _describe,
                    lambda r: f"{r['_kind']} {r['container']}")
    if old.get("tls") != new.get("tls") and old and new:
        lines.append(f"~ stack tls {_bool(old.get('tls'))} -> {_bool(new.get('tls'))}")
    key = "deleteVolumesOnDestroy"
    if old.get(key) != new.get(key) and old and new:
        lines.append(f"~ stack {key} {_bool(old.get(key))} -> {_bool(new.get(key))}"
                     + (" (destroy will delete the registries' caches)" if new.get(key) else ""))
    return lines


def diff(old_doc: Any, new_doc: Any, where: tuple[str, str] = ("OLD", "NEW")) -> tuple[bool, str]:
    """(anything changed, the report); `where` names the two documents in errors."""
    old, new = read_plans(old_doc, where[0]), read_plans(new_doc, where[1])
    out: list[str] = []
    changed = False
    for stack in sorted(set(old) | set(new)):
        if stack not in old:
            lines = [f"+ stack added ({new[stack]['role']})"] + diff_stack({}, new[stack])
        elif stack not in new:
            lines = [f"- stack removed ({old[stack]['role']})"] + diff_stack(old[stack], {})
        else:
            lines = diff_stack(old[stack], new[stack])
        changed |= bool(lines)
        out.append(f"stack {stack}:")
        out += [f"  {line}" for line in lines] or ["  no changes"]
    return changed, "\n".join(out)
