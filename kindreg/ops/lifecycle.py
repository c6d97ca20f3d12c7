"""`kindreg up / preview / down`: a project and the shared stack it uses, through the Pulumi engine.

The order is the one the stacks depend on: the shared mirrors come up before a project that
reads their outputs, and go down after it (and only when no other project's nodes use them).
The stacks themselves are the unmodified Pulumi program: `pulumi up -s NAME` does the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Protocol

from kindreg.adapters.engine import Engine as DockerEngine
from kindreg.core import crossstack
from kindreg.core.describe import where
from kindreg.core.errors import ConfigError, problem
from kindreg.core.plan import ProjectPlan, SharedPlan
from kindreg.core.stacks import Plan

from . import guard, project

# A confirmation question: True to go on. None stands for --yes.
Confirm = Optional[Callable[[str], bool]]


class Stacks(Protocol):
    """What lifecycle needs of the engine (kindreg.adapters.pulumi.Engine)."""

    def preview(self, name: str, diff: bool = False, quiet: bool = False) -> dict: ...
    def up(self, name: str) -> dict: ...
    def destroy(self, name: str) -> None: ...
    def outputs(self, name: str) -> dict: ...
    def config_object(self, name: str, key: str) -> Optional[object]: ...


class Refused(Exception):
    """Not done, and nothing changed: the message says why and what to do."""


class Cancelled(Exception):
    """The user answered no."""


@dataclass(frozen=True)
class Target:
    """A stack to act on, and the shared stack it reads (None when it has its own mirrors)."""

    stack: str
    plan: Plan

    @property
    def shared(self) -> Optional[str]:
        return self.plan.shared.stack if isinstance(self.plan, ProjectPlan) and self.plan.shared else None

    @property
    def shared_network(self) -> str:
        return self.plan.network.name if isinstance(self.plan, SharedPlan) else self.plan.shared.network.name


def target(project_dir: Path, stack: str) -> Target:
    """The stack, validated from its files: bad configuration stops here, before the engine."""
    if stack not in project.names(project_dir):
        known = ", ".join(project.names(project_dir)) or "(none)"
        raise ConfigError("kindreg", [problem("--stack", f"has no stack file Pulumi.<stack>.yaml in "
                                              f"{project_dir.resolve()}; use one of: {known}", stack)])
    plan = project.plan(project_dir, stack)
    clashes = [p for p in crossstack.conflicts([*_others(project_dir, stack), plan]) if p.path == f"stack {stack}"]
    if clashes:
        raise ConfigError(f"the stacks of {project_dir.resolve()}", clashes)
    return Target(stack, plan)


def _others(project_dir: Path, stack: str) -> list[Plan]:
    """The directory's other stacks that plan; one that does not is its own `validate`'s business."""
    out = []
    for name in project.names(project_dir):
        if name != stack:
            try:
                out.append(project.plan(project_dir, name))
            except ConfigError:
                pass
    return out


def has_changes(summary: dict) -> bool:
    return any(count for op, count in summary.items() if op != "same")


def up(stacks: Stacks, t: Target, confirm: Confirm, out: Callable[[str], None]) -> None:
    if t.shared:
        _up_one(stacks, t.shared, confirm, out, leave_current=True)
    _up_one(stacks, t.stack, confirm, out, leave_current=False)
    out("")
    out(where(t.plan))


def _up_one(stacks: Stacks, name: str, confirm: Confirm, out, leave_current: bool) -> None:
    """With --yes a current stack the project reads is left alone (a quiet preview says so);
    with a question the preview is shown first, and a stack without changes is not touched."""
    if confirm is None and not leave_current:
        out(f"== stack {name}: up")
        stacks.up(name)
        return
    out(f"== stack {name}: preview")
    if not has_changes(stacks.preview(name, quiet=confirm is None)):
        out(f"stack {name} is current: left alone")
        return
    if confirm is not None and not confirm(f"apply these changes to stack {name}?"):
        raise Cancelled(f"stack {name}: nothing changed (answered no)")
    out(f"== stack {name}: up")
    stacks.up(name)


def preview(stacks: Stacks, t: Target, diff: bool, out: Callable[[str], None]) -> None:
    if t.shared:
        out(f"== stack {t.shared}: preview")
        stacks.preview(t.shared, diff=diff)
        if not stacks.outputs(t.shared):
            out(f"stack {t.stack} reads the outputs of stack {t.shared}, which is not up yet: its preview "
                f"can run once `kindreg up --stack {t.stack}` has brought {t.shared} up (up does both, in order)")
            return
    out(f"== stack {t.stack}: preview")
    stacks.preview(t.stack, diff=diff)


def down(stacks: Stacks, t: Target, with_shared: bool, docker: Callable[[], DockerEngine],
         confirm: Confirm, out: Callable[[str], None]) -> None:
    names = _down_order(t, with_shared)
    if len(names) > 1 or isinstance(t.plan, SharedPlan):
        leaving = frozenset({t.plan.nodes.cluster}) if isinstance(t.plan, ProjectPlan) else frozenset()
        reason = guard.refusal(docker(), t.shared_network, leaving)
        if reason:
            raise Refused(reason)
    if confirm is not None and not confirm(f"destroy every resource of stack(s) {', '.join(names)}?"):
        raise Cancelled("nothing destroyed (answered no)")
    for name in names:
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
