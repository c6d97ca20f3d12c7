"""What an interrupted run leaves behind, resolved before the next one: the engine's lock and
the operations its state still calls pending.

- A lock left by a process of this machine that is no longer running is removed, saying so.
  A lock of a live process, or of another machine, is never touched: the message names it and
  what to do (kindreg's own runs never meet each other here: they wait on the machine lock).
- A metadata file beside the state (`<checkpoint>.attrs`) that a kill left empty or partial is
  removed: the file backend writes it in place, after the checkpoint, which is renamed whole.
- Pending operations: a create whose Docker object exists (by its planned name, labelled this
  stack's) is completed with its ID (stack export / import), one that did not happen is
  dropped by the refresh that follows (`pulumi refresh --clear-pending-creates`).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Callable, Optional, Protocol, Sequence

from kindreg.adapters.engine import Engine, label, name_of
from kindreg.core import scripts
from kindreg.core.vocabulary import KIND_CLUSTER_LABEL, MANAGED_VALUE, Label
from kindreg.core.world import PendingOperation, Recorded
from kindreg.ops.connect import CLUSTER_ENV

Out = Callable[[str], None]


class Refused(Exception):
    """Not done, and nothing changed: the message says why and what to do."""


class Lock(Protocol):
    path: Path
    pid: Optional[int]
    username: str
    hostname: str
    since: str


def pulumi_alive(pid: int) -> bool:
    """Whether `pid` is a running Pulumi process (a pid reused by another program is not)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return _exists(pid)
    return b"pulumi" in command


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_stale_locks(stack: str, locks: Sequence[Lock], out: Out,
                      alive: Callable[[int], bool] = pulumi_alive, hostname: Optional[str] = None) -> None:
    here = hostname or socket.gethostname()
    for lock in locks:
        who = f"{lock.username}@{lock.hostname} (pid {lock.pid}, since {lock.since})"
        if lock.hostname != here:
            raise Refused(f"stack {stack} is locked by a run on another machine, {who}; kindreg never removes "
                          f"another machine's lock. Wait for that run, or, if it is over, run "
                          f"`pulumi cancel --stack {stack} --yes` and try again")
        if lock.pid is not None and alive(lock.pid):
            raise Refused(f"stack {stack} is locked by a running process of this machine, {who}: wait for it to "
                          f"finish, or stop it (`kill {lock.pid}`), then run again")
        lock.path.unlink(missing_ok=True)
        out(f"removed the lock on stack {stack} left by {who}, which is no longer running")


def remove_torn_metadata(stack: str, torn: Sequence[Path], out: Out) -> None:
    """A torn metadata file beside the state (kindreg.adapters.pulumi.StateFiles.torn_metadata)
    is removed: the file it describes is whole, and without it the backend reads defaults."""
    for path in torn:
        path.unlink(missing_ok=True)
        out(f"removed {path}, the metadata of stack {stack}'s state that a killed run left torn "
            "(the state itself is whole)")


def existing_id(engine: Engine, stack: str, op: PendingOperation) -> Optional[str]:
    """The provider ID of what a pending create made, if it exists and is this stack's."""
    name = op.inputs.get("name")
    if not isinstance(name, str):
        return None
    kind = op.type.rsplit(":", 1)[-1]
    if kind == "Container":
        found = [c for c in engine.containers() if name_of(c) == name and _ours(label(c, Label.MANAGED),
                                                                                  label(c, Label.STACK), stack)]
        return found[0].get("Id") if found else None
    if kind in ("Network", "Volume"):
        items = engine.networks() if kind == "Network" else engine.volumes()
        found = [i for i in items if i.get("Name") == name
                 and _ours((i.get("Labels") or {}).get(Label.MANAGED), (i.get("Labels") or {}).get(Label.STACK), stack)]
        return (found[0].get("Id") if kind == "Network" else name) if found else None
    return None


def _remove_half_made_cluster(engine: Engine, op: PendingOperation, out: Out) -> None:
    """A kind create killed midway leaves nodes the state does not record, and the next create
    refuses a cluster it did not make. Its pending create proves this stack's run was making
    it (the create checks first that no cluster of that name exists), so its nodes are
    removed and the next `up` creates the cluster whole. The registries' caches are untouched."""
    env = op.inputs.get("environment")
    if op.kind != "creating" or op.inputs.get("create") != scripts.KIND_CREATE or not isinstance(env, dict):
        return
    cluster = env.get(CLUSTER_ENV)
    nodes = [name_of(c) for c in engine.containers() if cluster and label(c, KIND_CLUSTER_LABEL) == cluster]
    for node in nodes:
        engine.remove(node)
    if nodes:
        out(f"  removed the nodes of kind cluster {cluster} the interrupted create left: {', '.join(nodes)}")


def _ours(managed: Optional[str], owner: Optional[str], stack: str) -> bool:
    return managed == MANAGED_VALUE and owner == stack


class Resolver(Protocol):
    def resolve_pending(self, name: str, imports: dict[str, str]) -> str: ...


def resolve_pending(stacks: Resolver, engine: Engine, stack: str, recorded: Recorded, out: Out) -> bool:
    """Resolve what an interrupted run left pending; whether there was anything."""
    if not recorded.pending:
        return False
    imports, kept, dropped = {}, [], []
    for op in recorded.pending:
        rid = existing_id(engine, stack, op) if op.kind == "creating" else None
        if rid:
            imports[op.urn] = rid
            kept.append(op.name)
        else:
            dropped.append(f"{op.name} ({op.kind})")
            _remove_half_made_cluster(engine, op, out)
    out(f"stack {stack}: an earlier run was interrupted with {len(recorded.pending)} operation(s) under way")
    if kept:
        out(f"  kept (they exist): {', '.join(kept)}")
    if dropped:
        out(f"  resolved from what is there: {', '.join(dropped)}")
    stacks.resolve_pending(stack, imports)
    return True
