"""From a stack name to its plan, the way the CLI sees the project directory.

A project in shared mode takes its mirrors from the shared stack's declaration
(`Pulumi.<shared>.yaml`), planned by the same `plan_shared` the shared stack runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from .errors import ConfigError, MissingFile, Problem, problem
from .plan import ProjectPlan, SharedExport, SharedPlan, plan_project, plan_shared
from . import load
from .load import Loaded, LoadedProject, LoadedShared
from .sources import ReadText, stack_file

Plan = Union[SharedPlan, ProjectPlan]


def shared_export_for(project: LoadedProject, project_dir: Path,
                      read: ReadText) -> Optional[SharedExport]:
    if not project.config.shared_mode:
        return None
    name = project.config.registries.shared.stack
    try:
        shared = load.stack(project_dir, name, read)
    except MissingFile:
        return None  # plan_project reports it, naming the field and the fix
    if not isinstance(shared, LoadedShared):
        raise ConfigError(stack_file(project_dir, name).name, [_not_shared(project, name)])
    return plan_shared(shared.config, name, shared.source, shared.prefix).export()


def _not_shared(project: LoadedProject, name: str) -> Problem:
    return problem("config", f"is a project stack, but {project.source} names it as its shared "
                   f"stack ({project.prefix}.registries.shared.stack); point that field at the "
                   "stack that has kindreg:shared")


def plan_loaded(loaded: Loaded, project_dir: Path, read: ReadText) -> Plan:
    if isinstance(loaded, LoadedShared):
        return plan_shared(loaded.config, loaded.stack, loaded.source, loaded.prefix)
    shared = shared_export_for(loaded, project_dir, read)
    return plan_project(loaded.config, loaded.stack, shared, loaded.source, loaded.prefix)
