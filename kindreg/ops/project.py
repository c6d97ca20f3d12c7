"""A project directory seen through the core: its stacks, loaded and planned from the files."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from kindreg.adapters import claims as claim_cache
from kindreg.adapters import files
from kindreg.core import crossstack, load as loading, sources, stacks
from kindreg.core.crossstack import Claim
from kindreg.core.errors import ConfigError
from kindreg.core.load import Loaded, LoadedProject
from kindreg.core.stacks import Plan


def names(project_dir: Path) -> list[str]:
    return files.stack_names(project_dir)


def load(project_dir: Path, stack: str) -> Loaded:
    return loading.stack(project_dir, stack, files.project_reader(project_dir))


def load_file(path: Path) -> LoadedProject:
    return loading.file(path, files.read_text)


def plan_of(loaded: Loaded, project_dir: Path) -> Plan:
    return stacks.plan_loaded(loaded, project_dir, files.project_reader(project_dir))


def plan(project_dir: Path, stack: str) -> Plan:
    return plan_of(load(project_dir, stack), project_dir)


def claims_of(project_dir: Path, names: list[str]) -> list[list[Claim]]:
    """What each of the stacks claims on the machine, from the claims cache where none of the
    files its plan read has changed, else planned now (and kept for the next run). A stack that
    does not plan claims nothing here: it is its own `validate`'s business."""
    entries = claim_cache.load(project_dir)
    out, moved = [], False
    for name in names:
        found = claim_cache.lookup(project_dir, entries, name)
        if found is None:
            read, inputs = claim_cache.recording(files.project_reader(project_dir), project_dir)
            try:
                found = crossstack.claims(stacks.plan_loaded(loading.stack(project_dir, name, read), project_dir, read))
            except ConfigError:
                found = []
            entries[name], moved = claim_cache.entry(inputs, found), True
        out.append(found)
    if moved:
        claim_cache.save(project_dir, {n: e for n, e in entries.items() if sources.stack_file(project_dir, n).exists()})
    return out


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
