"""`kindreg up / preview / down`: a project and the shared stack it uses, through the Pulumi engine.

The order is the one the stacks depend on: the shared mirrors come up before a project that
reads their outputs, and go down after it (and only when no other project's nodes use them).
The stacks themselves are the unmodified Pulumi program: `pulumi up -s NAME` does the same.

Each stack is handled under its machine lock (a second kindreg waits), after what an
interrupted run left is resolved (kindreg.ops.recover), with what differs from the plan
reported and healed (kindreg.ops.reconcile), and `up` says "up" only after checking it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager, Optional, Protocol, Sequence

from kindreg.adapters.engine import Engine as DockerEngine
from kindreg.core import crossstack, drift, fingerprint
from kindreg.core.describe import where
from kindreg.core.drift import Difference, Drift, Fix
from kindreg.core.expected import Thing
from kindreg.core.errors import ConfigError, problem
from kindreg.core.plan import ProjectPlan, SharedPlan
from kindreg.core.stacks import Plan
from kindreg.core.world import Recorded

from . import fastpath, guard, project, prune, recover, reconcile
from .recover import Refused

# What an `up` says of a stack whose engine run it spared (kindreg.ops.fastpath).
SPARED = "is as its last verified up left it"
# A confirmation question: True to go on. None stands for --yes.
Confirm = Optional[Callable[[str], bool]]
Out = Callable[[str], None]

__all__ = ["Refused", "Cancelled", "NotVerified", "Stacks", "Target", "target", "up", "preview", "down"]


class Stacks(Protocol):
    """What lifecycle needs of the engine (kindreg.adapters.pulumi.Engine)."""

    def preview(self, name: str, diff: bool = False, quiet: bool = False, replace: Sequence[str] = ()) -> dict: ...
    def up(self, name: str, replace: Sequence[str] = (), targets: Sequence[str] = ()) -> None: ...
    def destroy(self, name: str) -> None: ...
    def outputs(self, name: str) -> dict: ...
    def config_object(self, name: str, key: str) -> Optional[object]: ...
    def recorded(self, name: str) -> Recorded: ...
    def state_digest(self, name: str) -> Optional[str]: ...
    def locks(self, name: str) -> list: ...
    def torn_metadata(self, name: str) -> list: ...
    def resolve_pending(self, name: str, imports: dict[str, str]) -> str: ...
    def exclusive(self, name: str, out: Out) -> ContextManager: ...


class Cancelled(Exception):
    """The user answered no."""


class NotVerified(Exception):
    """The engine finished, and a check of what it made failed: the message names it and the fix."""


@dataclass(frozen=True)
class Target:
    """A stack to act on, and the shared stack it reads (None when it has its own mirrors)."""

    stack: str
    plan: Plan
    shared_plan: Optional[SharedPlan] = None

    @property
    def shared(self) -> Optional[str]:
        return self.plan.shared.stack if isinstance(self.plan, ProjectPlan) and self.plan.shared else None

    @property
    def shared_network(self) -> str:
        return self.plan.network.name if isinstance(self.plan, SharedPlan) else self.plan.shared.network.name

    def steps(self) -> list[tuple[str, Plan]]:
        """(stack, plan) in the order they come up: the shared stack first."""
        first = [(self.shared, self.shared_plan)] if self.shared and self.shared_plan else []
        return [*first, (self.stack, self.plan)]


def target(project_dir: Path, stack: str) -> Target:
    """The stack, validated from its files: bad configuration stops here, before the engine."""
    if stack not in project.names(project_dir):
        known = ", ".join(project.names(project_dir)) or "(none)"
        raise ConfigError("kindreg", [problem("--stack", f"has no stack file Pulumi.<stack>.yaml in "
                                              f"{project_dir.resolve()}; use one of: {known}", stack)])
    plan = project.plan(project_dir, stack)
    others = project.claims_of(project_dir, [n for n in project.names(project_dir) if n != stack])
    clashes = [p for p in crossstack.conflicts_among([*others, crossstack.claims(plan)]) if p.path == f"stack {stack}"]
    if clashes:
        raise ConfigError(f"the stacks of {project_dir.resolve()}", clashes)
    shared = None
    if isinstance(plan, ProjectPlan) and plan.shared and plan.shared.stack in project.names(project_dir):
        found = project.plan(project_dir, plan.shared.stack)
        shared = found if isinstance(found, SharedPlan) else None
    return Target(stack, plan, shared)


def has_changes(summary: dict) -> bool:
    return any(count for op, count in summary.items() if op != "same")


# ---------------------------------------------------------------- up

def up(stacks: Stacks, t: Target, confirm: Confirm, out: Out, machine: reconcile.Machine) -> None:
    failed: list[str] = []
    quiet = False  # nothing has acted on the world since the last look
    for name, plan in t.steps():
        with stacks.exclusive(name, out):
            recorded, acted = _recover(stacks, machine, name, out)
            want, seen, found = machine.look(plan, recorded, again=quiet and not acted) \
                if recorded.up else (None, None, [])
            _refuse_by_hand(found, name)
            if any(d.thing is Thing.MIRROR and d.drift is Drift.STOPPED for d in found):
                prune.wait_for_collections(machine.engine, name, out)
            moved = _moved(stacks, machine, t, plan, recorded, want, seen, found)
            quiet = not moved
            if quiet:
                out(spared_line(name))
            else:
                out(f"stack {name}: {moved}")
                targets = _drift_only(stacks, machine, t, plan, recorded, want, seen, found)
                fastpath.forget(machine.project_dir, plan)
                # A stack the project reads is left alone when current; one not up yet is not current.
                _up_one(stacks, machine, name, found, confirm, out, leave_current=name != t.stack and recorded.up,
                        targets=targets)
                recorded = stacks.recorded(name)
            checks, want, seen = machine.verify(plan, recorded, looked=(want, seen) if quiet else None)
            failed += _report_checks(plan, checks, out)
            # A spared stack's record is already this fingerprint: written only after the engine ran.
            if not quiet and recorded.up and all(c.ok for c in checks):
                fastpath.remember(machine.project_dir, plan, _fingerprint(stacks, machine, t, plan, want, seen))
    if failed:
        raise NotVerified(f"{len(failed)} check(s) failed after the engine finished:\n" + "\n".join(failed))
    out("")
    out(where(t.plan))


def _clear_leftovers(stacks: Stacks, name: str, out: Out) -> None:
    """What a killed run of this machine left beside the stack's state: its lock, torn metadata."""
    recover.clear_stale_locks(name, stacks.locks(name), out)
    recover.remove_torn_metadata(name, stacks.torn_metadata(name), out)


def _recover(stacks: Stacks, machine: reconcile.Machine, name: str, out: Out) -> tuple[Recorded, bool]:
    """What the state records once an interrupted run's leftovers are resolved; and whether
    resolving them acted on the world."""
    _clear_leftovers(stacks, name, out)
    recorded = stacks.recorded(name)
    if recover.resolve_pending(stacks, machine.engine, name, recorded, out):
        return stacks.recorded(name), True
    return recorded, False


def _fingerprint(stacks: Stacks, machine: reconcile.Machine, t: Target, plan: Plan, want, seen):
    reads = t.shared if plan.stack == t.stack else None
    return fastpath.current(stacks, machine.project_dir, machine.env, plan, reads, want, seen)


def _moved(stacks: Stacks, machine: reconcile.Machine, t: Target, plan: Plan, recorded: Recorded,
           want, seen, found: Sequence[Difference]) -> str:
    """Why the engine must run on the stack ("" when it can be spared): it is not up, an
    operation is pending, something differs from the plan, or a part of its fingerprint is not
    the one of its last verified up."""
    if not recorded.up:
        return "not up yet"
    if recorded.pending:
        return "an interrupted run left operations pending"
    if found:
        return f"{len(found)} thing(s) differ from the plan"
    changed = fastpath.changed_parts(machine.project_dir, plan, _fingerprint(stacks, machine, t, plan, want, seen))
    return f"changed since its last verified up: {', '.join(changed)}" if changed else ""


def _drift_only(stacks: Stacks, machine: reconcile.Machine, t: Target, plan: Plan, recorded: Recorded,
                want, seen, found: Sequence[Difference]) -> Optional[list[str]]:
    """The drifted resources, when drift is all that moved: the configuration, program and state
    are those of the last verified up, so the engine replaces only these and updates what depends
    on them (the rest is as kindreg has just observed it, which the fast path trusts too)."""
    if not found or recorded.pending:
        return None
    targets = drift.engine_targets(found)
    if targets is None:
        return None
    changed = fastpath.changed_parts(machine.project_dir, plan, _fingerprint(stacks, machine, t, plan, want, seen))
    return targets if changed == [fingerprint.Part.WORLD.value] else None


def spared_line(stack: str) -> str:
    return (f"stack {stack} {SPARED} (configuration, program, state and world): "
            "the engine is not run; checking it")


def _refuse_by_hand(found: Sequence[Difference], name: str) -> None:
    """What only the user may fix stops everything here."""
    hand = drift.by_hand(found)
    if hand:
        raise Refused(f"stack {name}: kindreg does not touch what it did not create:\n" +
                      "\n".join(f"  {d.line()}: {d.remedy()}" for d in hand))


def _up_one(stacks: Stacks, machine: reconcile.Machine, name: str, found: Sequence[Difference],
            confirm: Confirm, out: Out, leave_current: bool, targets: Optional[list[str]] = None) -> None:
    """With --yes a current stack the project reads is left alone (a quiet preview says so);
    with a question the preview is shown first, and a stack without changes is not touched."""
    reconcile.report(found, name, out)
    replace = drift.replacements(found)
    acts = any(d.fix in (Fix.REMOVE, Fix.CONNECT, Fix.RECONNECT, Fix.START) for d in found)
    if confirm is None and (not leave_current or found):
        _apply(stacks, machine, name, found, replace, out, targets)
        return
    out(f"== stack {name}: preview")
    if not has_changes(stacks.preview(name, quiet=confirm is None, replace=replace)) and not acts:
        out(f"stack {name} is current: left alone")
        return
    if confirm is not None and not confirm(f"apply these changes to stack {name}?"):
        raise Cancelled(f"stack {name}: nothing changed (answered no)")
    _apply(stacks, machine, name, found, replace, out, targets)


def _apply(stacks: Stacks, machine: reconcile.Machine, name: str, found: Sequence[Difference],
           replace: Sequence[str], out: Out, targets: Optional[list[str]] = None) -> None:
    machine.before(found, out)
    out(f"== stack {name}: up" + (f", replacing what drifted: {', '.join(targets)} (and updating what depends on it)"
                                  if targets else ""))
    stacks.up(name, replace=replace, targets=targets or ())
    machine.after(found, out)


def _report_checks(plan: Plan, checks, out: Out) -> list[str]:
    out(f"checks of stack {plan.stack}:")
    for c in checks:
        out(c.render())
    return [c.render().strip() for c in checks if not c.ok]


# ---------------------------------------------------------------- preview

def preview(stacks: Stacks, t: Target, diff: bool, out: Out, machine: reconcile.Machine) -> None:
    """The engine's preview of each stack whose plan or world moved since its last verified up;
    the others are skipped, and said so."""
    for name, plan in t.steps():
        if name == t.stack and t.shared and not stacks.recorded(t.shared).up:
            out(f"stack {t.stack} reads the outputs of stack {t.shared}, which is not up yet: its preview "
                f"can run once `kindreg up --stack {t.stack}` has brought {t.shared} up (up does both, in order)")
            return
        with stacks.exclusive(name, out):
            _clear_leftovers(stacks, name, out)
            recorded = stacks.recorded(name)
            if recorded.pending:
                out(f"stack {name}: an earlier run was interrupted with {len(recorded.pending)} operation(s) "
                    "under way; `kindreg up` resolves them from what is there")
            # A preview acts on nothing: every stack's look shares one reading of the engine.
            want, seen, found = machine.look(plan, recorded, again=True) if recorded.up else (None, None, [])
            reconcile.report(found, name, out)
            moved = _moved(stacks, machine, t, plan, recorded, want, seen, found)
            if not moved:
                out(f"== stack {name}: preview skipped: it {SPARED} (configuration, program, state and world); "
                    "an up would change nothing")
                continue
            out(f"== stack {name}: preview ({moved})")
            stacks.preview(name, diff=diff, replace=drift.replacements(found))


# ---------------------------------------------------------------- down

def down(stacks: Stacks, t: Target, with_shared: bool, docker: Callable[[], DockerEngine],
         confirm: Confirm, out: Out) -> None:
    names = _down_order(t, with_shared)
    if len(names) > 1 or isinstance(t.plan, SharedPlan):
        leaving = frozenset({t.plan.nodes.cluster}) if isinstance(t.plan, ProjectPlan) else frozenset()
        reason = guard.refusal(docker(), t.shared_network, leaving)
        if reason:
            raise Refused(reason)
    if confirm is not None and not confirm(f"destroy every resource of stack(s) {', '.join(names)}?"):
        raise Cancelled("nothing destroyed (answered no)")
    for name in names:
        with stacks.exclusive(name, out):
            _clear_leftovers(stacks, name, out)
            recover.resolve_pending(stacks, docker(), name, stacks.recorded(name), out)
            out(f"== stack {name}: destroy")
            stacks.destroy(name)
    out(f"destroyed: {', '.join(names)} (the stacks and their configuration stay; "
        "`kindreg up` brings them back)")


def _down_order(t: Target, with_shared: bool) -> list[str]:
    if not with_shared:
        return [t.stack]
    if isinstance(t.plan, SharedPlan):
        raise ConfigError("kindreg down", [problem("--shared", f"is for a project stack; {t.stack} is the "
                                                   f"shared stack itself: run `kindreg down --stack {t.stack}`")])
    if not t.shared:
        raise ConfigError("kindreg down", [problem("--shared", f"stack {t.stack} has mirrors of its own and "
                                                   "uses no shared stack: drop --shared")])
    return [t.stack, t.shared]
