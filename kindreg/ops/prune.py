"""`kindreg cache prune`: free a mirror's disk now, whole images at a time, nothing kept broken.

For each mirror: read what it holds and what was read when (adapters.mirrorstore), decide what
goes (core.mirrorstore.plan), then, unless it is a dry run and only where something goes:
1. keep the recency learnt so far in the volume (the ledger), so a replaced container loses none;
2. stop the mirror (announced: nodes fall back to the upstream, the `server` of their hosts.toml);
3. in a one-shot container of the mirror's image on its volume, remove the evicted images' tag and
   revision links and run distribution's garbage collection, which deletes exactly the blobs no
   remaining manifest references (registry/storage/garbagecollect.go `MarkAndSweep`, v3.1.2).
   It must run with the registry stopped: a proxy writes on GET, so a blob committed between
   the mark and the sweep would be deleted under a manifest just fetched (the upstream's docs
   on garbage collection: "the registry must be in read-only mode or not running");
4. start the mirror again, wait until it answers, read it again and check every kept image
   still has all its blobs: only then is the mirror reported pruned.
A kill at any point leaves a servable store: links go tags first (an untagged revision is
still served by digest), garbage collection can be run again, and a mirror left stopped is
started by the next prune or `kindreg up`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from kindreg.adapters import mirrorstore as store_reader
from kindreg.adapters.engine import Engine, EngineError, by_name, label, name_of, running
from kindreg.core import mirrorstore as ms, render
from kindreg.core.plan import RegistryPlan
from kindreg.core.quantity import duration_seconds, human_bytes
from kindreg.core.vocabulary import MANAGED_VALUE, PRUNE_ROLE, Label, Role

Out = Callable[[str], None]
GC_CONFIG_ENV = "KINDREG_GC_CONFIG"
# Paths come as arguments and the config through the environment: nothing is pasted into the script.
GC_SCRIPT = (f'set -e; cd {render.DATA_DIR}; rm -rf -- "$@"; '
             f'printf "%s" "${GC_CONFIG_ENV}" | registry garbage-collect /dev/stdin')
READY_SECONDS = 60.0
GC_SECONDS = 3600.0
PRUNE_SUFFIX = "-prune"


@dataclass(frozen=True)
class Target:
    """One mirror to prune: its plan, and the age its `ttl` gives when --older-than is not given."""

    plan: RegistryPlan

    @property
    def default_age(self) -> Optional[float]:
        return duration_seconds(self.plan.ttl) if self.plan.ttl else None


@dataclass(frozen=True)
class Outcome:
    mirror: str
    eviction: Optional[ms.Eviction]
    done: bool  # pruned and verified (or nothing to do)
    detail: str


def policy(t: Target, older_than: Optional[float], max_bytes: Optional[int]) -> ms.Policy:
    """The flags, else the mirror's ttl. Nothing is protected for being read lately: the mirror is
    paused while it is collected anyway, and the bound takes the least recently read first."""
    return ms.Policy(older_than=older_than if older_than is not None else t.default_age, max_bytes=max_bytes,
                     protect=0.0)


def targets(plans: Sequence, stack: Optional[str] = None) -> list[Target]:
    """The mirrors the stacks own (a project's shared mirrors belong to the shared stack)."""
    seen: dict[str, Target] = {}
    for p in plans:
        for r in p.registries:
            if r.role is Role.MIRROR and (stack is None or r.owner == stack):
                seen.setdefault(r.container, Target(r))
    return list(seen.values())


def prune(engine: Engine, found: Sequence[Target], policy: Callable[[Target], ms.Policy], dry_run: bool,
          out: Out = print, now: Callable[[], float] = time.time) -> list[Outcome]:
    containers = by_name(engine.containers())
    results = []
    for t in found:
        c = containers.get(t.plan.container)
        if c is None or label(c, Label.MANAGED) != MANAGED_VALUE:
            results.append(Outcome(t.plan.name, None, False, f"no container {t.plan.container}; run `kindreg up`"))
            continue
        if not running(c):  # a prune killed while the mirror was paused
            wait_for_collections(engine, t.plan.owner, out)
            engine.start(t.plan.container)
            _wait_ready(engine, t.plan.container)
        results.append(_one(engine, t, c, policy(t), dry_run, out, now))
    return results


def _one(engine: Engine, t: Target, container: dict, policy: ms.Policy, dry_run: bool, out: Out,
         now: Callable[[], float]) -> Outcome:
    name = t.plan.container
    seen = store_reader.read_store(engine, t.plan.name, name)
    ledger = store_reader.read_ledger(engine, name)
    reads = store_reader.read_access(engine, name, ledger.at)
    at = now()
    last = ms.last_reads(seen, reads, ledger.reads)
    ev = ms.plan(seen, last, policy, at)
    for line in report(ev):
        out(line)
    if dry_run or not ev.changes:
        return Outcome(t.plan.name, ev, True, "dry run: nothing changed" if dry_run else "nothing to remove")
    images = {ms.ledger_key(i): last[i.key] for i in ms.images(seen)}
    store_reader.write_ledger(engine, name, {**ledger.reads, **images}, at)
    out(f"{t.plan.name}: pausing {name} for garbage collection; nodes pull from {t.plan.upstream} meanwhile")
    engine.stop(name)
    try:
        code, text = engine.run_once(
            container["Image"], ["-c", GC_SCRIPT, "kindreg-prune", *ms.removals(seen, ev)],
            name=name + PRUNE_SUFFIX, volumes_from=name, entrypoint="sh",
            env={GC_CONFIG_ENV: render.gc_config()}, labels={Label.MANAGED.value: MANAGED_VALUE,
                                                            Label.ROLE.value: PRUNE_ROLE, Label.STACK.value: t.plan.owner})
    finally:
        engine.start(name)
    _wait_ready(engine, name)
    if code != 0:
        tail = "\n".join(text.strip().splitlines()[-3:])
        return Outcome(t.plan.name, ev, False, f"garbage collection failed (exit {code}): {tail}")
    return _verified(engine, t, ev, seen)


def _verified(engine: Engine, t: Target, ev: ms.Eviction, before: ms.SeenStore) -> Outcome:
    after = store_reader.read_store(engine, t.plan.name, t.plan.container)
    missing = [k.image.name for k in ev.keep if not k.image.whole_in(after.blobs)]
    if missing:
        return Outcome(t.plan.name, ev, False, "kept images lost blobs: " + ", ".join(missing))
    return Outcome(t.plan.name, ev, True, f"freed {human_bytes(max(0, before.used - after.used))}; "
                                          f"{len(ev.keep)} kept image(s) checked whole; now {human_bytes(after.used)}")


def wait_for_collections(engine: Engine, stack: str, out: Out) -> bool:
    """Before a stopped mirror of `stack` is started again: a killed prune may have left its
    garbage collection sweeping the mirror's storage, and a registry serving meanwhile would
    write blobs the sweep then deletes (it marks first, sweeps after). Whether one was waited for."""
    found = [name_of(c) for c in engine.containers()
             if label(c, Label.ROLE) == PRUNE_ROLE and label(c, Label.STACK) == stack
             and label(c, Label.MANAGED) == MANAGED_VALUE and running(c)]
    for name in found:
        _wait_gone(engine, name, out)
    return bool(found)


def _wait_gone(engine: Engine, name: str, out: Out) -> None:
    """An earlier prune's garbage collection may still run (its container outlives a killed
    kindreg): the mirror must not serve while it sweeps, so wait for it to end (it removes itself)."""
    announced = False
    deadline = time.monotonic() + GC_SECONDS
    while (c := by_name(engine.containers()).get(name)) is not None and running(c):
        if not announced:
            out(f"waiting for {name}, an earlier prune's garbage collection, to finish")
            announced = True
        if time.monotonic() > deadline:
            raise EngineError(f"{name} still runs after {GC_SECONDS:.0f}s; see `docker logs {name}`")
        time.sleep(1.0)


def _wait_ready(engine: Engine, container: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    probe = render.healthcheck_command()[1:]
    while True:
        code, _ = engine.exec(container, probe)
        if code == 0:
            return
        if time.monotonic() > deadline:
            raise EngineError(f"{container} did not answer within {READY_SECONDS:.0f}s after the prune; "
                              f"see `docker logs {container}`")
        time.sleep(0.2)


def report(ev: ms.Eviction) -> list[str]:
    # `after` counts blobs only: the links of removed repositories free a little more.
    lines = [f"{ev.mirror}: {human_bytes(ev.used)} on disk, {len(ev.evict)} image(s) to remove "
             f"(at least {human_bytes(ev.used - ev.after)}), {len(ev.keep)} to keep"]
    lines += [f"  remove {d.image.name}  {human_bytes(d.frees)}  ({d.reason})" for d in ev.evict]
    lines += [f"  remove broken revision {repo}@{digest} (its manifest is gone)" for repo, digest in ev.broken]
    lines += [f"  keep   {d.image.name}  ({d.reason})" for d in ev.keep]
    if ev.short:
        lines.append(f"  {human_bytes(ev.short)} over the bound remain: the images left were read in the last minutes")
    return lines
