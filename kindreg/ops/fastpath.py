"""The no-op `up`: a stack whose fingerprint (kindreg.core.fingerprint) is the one its last
verified `up` recorded, and in which nothing differs from the plan, is not run through the
engine; its checks still run.

The record is forgotten before the engine touches the stack and written only after every check
of the stack passed, so a run killed at any point, or one whose checks failed, leaves the next
`up` on the full path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Protocol

from kindreg.adapters import verified, world as world_reader
from kindreg.core import fingerprint, sources
from kindreg.core.expected import Expected
from kindreg.core.fingerprint import Fingerprint
from kindreg.core.stacks import Plan
from kindreg.core.world import World

# The variables the program, the engine, the docker CLI and mkcert read.
ENV_PREFIXES = ("KINDREG_", "PULUMI_", "DOCKER_", "REGISTRY_", "XDG_", "HOME", "CAROOT")
PROJECT_FILE = "Pulumi.yaml"


class States(Protocol):
    def state_digest(self, name: str) -> Optional[str]: ...


def current(stacks: States, project_dir: Path, env: dict, plan: Plan, reads: Optional[str],
            want: Expected, seen: World) -> Optional[Fingerprint]:
    """The stack's fingerprint now; None when its state cannot be read cheaply (the full path).
    `reads`: the stack whose outputs it reads (the shared stack), if any."""
    states = [stacks.state_digest(n) for n in [plan.stack, *([reads] if reads else [])]]
    if any(s is None for s in states):
        return None
    configuration = {"plan": plan, "expected": want, "files": _stack_files(project_dir, [plan.stack, reads]),
                     "env": fingerprint.environment(env, ENV_PREFIXES)}
    return fingerprint.fingerprint(configuration, verified.program(project_dir, env), states,
                                   fingerprint.world_of(want, seen))


def changed_parts(project_dir: Path, plan: Plan, now: Optional[Fingerprint]) -> list[str]:
    """The parts that changed since the last verified `up` ([]: none; the engine can be spared)."""
    if now is None:
        return ["state (not in a file backend)"]
    return now.differs(verified.read(project_dir, plan.state_dir))


def forget(project_dir: Path, plan: Plan) -> None:
    verified.forget(project_dir, plan.state_dir)


def remember(project_dir: Path, plan: Plan, fp: Optional[Fingerprint]) -> None:
    if fp is not None:
        verified.write(project_dir, plan.state_dir, fp)


def _stack_files(project_dir: Path, names: list[Optional[str]]) -> dict[str, Optional[str]]:
    """The digest of each file the program reads as it stands: Pulumi.yaml, the stack's file
    (its secrets and provider settings as the engine decrypts them) and the shared stack's.
    Another stack's file is not an input: `target` checks the stack against it on every run. A
    file the stack names (a lok8s cluster file) counts through the plan it makes."""
    files = [PROJECT_FILE, *(sources.stack_file(project_dir, n).name for n in names if n)]
    return {name: world_reader.file_digest(str(project_dir / name)) for name in files}
