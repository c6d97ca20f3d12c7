"""A project directory seen through the core: its stacks, loaded and planned from the files."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from kindreg.adapters import files
from kindreg.core import sources, stacks
from kindreg.core.errors import ConfigError
from kindreg.core.sources import Loaded, LoadedProject
from kindreg.core.stacks import Plan


def names(project_dir: Path) -> list[str]:
    return files.stack_names(project_dir)


def load(project_dir: Path, stack: str) -> Loaded:
    return sources.load_stack(project_dir, stack, files.project_reader(project_dir))


def load_file(path: Path) -> LoadedProject:
    return sources.load_file(path, files.read_text)


def plan_of(loaded: Loaded, project_dir: Path) -> Plan:
    return stacks.plan_loaded(loaded, project_dir, files.project_reader(project_dir))


def plan(project_dir: Path, stack: str) -> Plan:
    return plan_of(load(project_dir, stack), project_dir)


def has_workload_credentials(project_dir: Path, stack: str) -> bool:
    config = sources.read_stack_config(project_dir, stack, files.project_reader(project_dir))
    return sources.KEY_WORKLOAD_CREDENTIALS in config


DOCKER_HOST_KEY = "docker:host"


def docker_host(project_dir: Path, stack: str) -> Optional[str]:
    """The stack's `docker:host` (the engine its resources live on), or None (DOCKER_HOST / default)."""
    try:
        value = sources.read_stack_config(project_dir, stack, files.project_reader(project_dir)).get(DOCKER_HOST_KEY)
    except ConfigError:
        return None  # no stack file, or one `validate` reports: the default engine
    return value if isinstance(value, str) and value else None
