"""Loading a stack: one straight pipeline, each stage once per stack.

    read        kindreg.core.sources: the stack file (and the lok8s file it names) -> a Document
    translate   lok8s's and KSail's forms -> kindreg's own fields (kindreg.core.lok8s, .ksail)
    validate    those fields -> the config model, with every problem of every stage at once
                (kindreg.core.validation)
    plan        kindreg.core.stacks.plan_loaded: the model -> the stack's plan

Each stage hands the next its result and the problems it found; none calls back into an
earlier one. A project in shared mode runs the pipeline once more, for its shared stack.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from . import ksail, lok8s
from .config import MIRRORS_IN_USE_FOR, MIRRORS_LIST, MIRRORS_MAX_SIZE, ProjectConfig, SharedStackConfig
from .errors import ConfigError, Problem, problem
from .sources import KEY_CLUSTER, KEY_SHARED, Dialect, Document, ReadText, read_config_map, read_file, read_stack
from .validation import PathOf, prefixed, validate


@dataclass(frozen=True)
class LoadedProject:
    stack: str
    source: str  # what error messages name: a file, or a config key
    prefix: str  # path prefix of fields in that source
    config: ProjectConfig
    left_to_lok8s: tuple[str, ...] = ()  # sections of a lok8s file kindreg does not manage

    role = "project"


@dataclass(frozen=True)
class LoadedShared:
    stack: str
    source: str
    prefix: str
    config: SharedStackConfig

    role = "shared"


Loaded = Union[LoadedProject, LoadedShared]


@dataclass(frozen=True)
class Translated:
    """A Document in kindreg's own fields: what validation reads, and how to name its places."""

    document: Document
    raw: object
    prefix: str  # the source's path to the fields, for messages and for `kindreg explain`
    path_of: PathOf
    problems: tuple[Problem, ...]
    left_to_lok8s: tuple[str, ...] = ()


# Where each dialect keeps its mirror list, in kindreg's own fields.
MIRRORS_AT = {Dialect.SHARED: ("mirrors",), Dialect.PROJECT: ("registries", "mirrors"),
              Dialect.LOK8S: ("registries", "mirrors")}
# `mirrors` as a mapping: its keys, and the field each one goes to.
MIRRORS_KEYS = {f.split(".")[-1]: f for f in (MIRRORS_MAX_SIZE, MIRRORS_IN_USE_FOR)}
PREFIX = {Dialect.SHARED: KEY_SHARED, Dialect.PROJECT: KEY_CLUSTER, Dialect.LOK8S: "spec"}


# ---------------------------------------------------------------- the stages

def translate(doc: Document) -> Translated:
    """lok8s's meaning and defaults for a lok8s file; KSail's mirror strings as mappings."""
    prefix = PREFIX[doc.dialect] if doc.prefix is None else doc.prefix
    raw, path_of, problems, left = doc.raw, prefixed(prefix), list(doc.problems), ()
    if doc.dialect is Dialect.LOK8S:
        if not isinstance(raw, dict):
            raise ConfigError(doc.source, [problem("", "the file is not a lok8s Lo document (a mapping)")])
        lo = lok8s.translate(raw)
        raw, path_of, left = lo.raw, lok8s.path_of, tuple(lo.left_to_lok8s)
        problems += lo.problems
    raw, path_of, bounded = _mirrors_mapping(raw, MIRRORS_AT[doc.dialect], path_of)
    raw, found = _ksail_mirrors(raw, MIRRORS_AT[doc.dialect], path_of)
    return Translated(doc, raw, prefix, path_of, tuple(problems + bounded + found), left)


def validated(t: Translated) -> Loaded:
    """The config model, or ConfigError naming every problem of the translation and validation."""
    doc = t.document
    if doc.dialect is Dialect.SHARED:
        return LoadedShared(doc.stack, doc.source, t.prefix,
                            validate(SharedStackConfig, t.raw, doc.source, t.path_of, t.problems))
    cfg = validate(ProjectConfig, t.raw, doc.source, t.path_of, t.problems)
    if cfg.name is None:  # the project name defaults to the stack name
        cfg = cfg.model_copy(update={"name": doc.stack})
    return LoadedProject(doc.stack, doc.source, t.prefix, cfg, t.left_to_lok8s)


def loaded(doc: Document) -> Loaded:
    return validated(translate(doc))


def _parent(raw: object, at: tuple) -> Optional[dict]:
    for key in at[:-1]:
        raw = raw.get(key) if isinstance(raw, dict) else None
    return raw if isinstance(raw, dict) else None


def _mirrors_mapping(raw: object, at: tuple, path_of: PathOf) -> tuple[object, PathOf, list[Problem]]:
    """`mirrors: {maxSize: 20GiB, inUseFor: 1m, list: [...]}`: the list where a mirror list goes,
    the others in their own fields; messages keep naming the places as written
    (`mirrors.list[1].url`)."""
    parent = _parent(raw, at)
    if parent is None or not isinstance(parent.get(at[-1]), dict):
        return raw, path_of, []
    form = parent[at[-1]]
    allowed = (*MIRRORS_KEYS, MIRRORS_LIST)
    problems = [problem(path_of((*at, key)), f"unknown field; `{at[-1]}` as a mapping has "
                                             f"{', '.join(allowed)}") for key in form if key not in allowed]
    moved = {k: v for k, v in parent.items() if k != at[-1]}
    if MIRRORS_LIST in form:
        moved[at[-1]] = form[MIRRORS_LIST]
    moved.update({MIRRORS_KEYS[k]: v for k, v in form.items() if k in MIRRORS_KEYS})
    raw = _replaced(raw, at[:-1], moved) if at[:-1] else moved

    def named(loc):
        n = len(at)
        if tuple(loc[:n]) == at and len(loc) > n and isinstance(loc[n], int):
            loc = (*at, MIRRORS_LIST, *loc[n:])
        return path_of(loc)
    return raw, named, problems


def _ksail_mirrors(raw: object, at: tuple, path_of: PathOf) -> tuple[object, list[Problem]]:
    parent = _parent(raw, at)
    if parent is None or not isinstance(parent.get(at[-1]), list):
        return raw, []
    items, problems = ksail.mirrors(parent[at[-1]], at, path_of)
    return _replaced(raw, at, items), problems


def _replaced(raw: dict, at: tuple, value: object) -> dict:
    """`raw` with the value at `at` replaced; the document read is left as it was."""
    if len(at) == 1:
        return {**raw, at[0]: value}
    return {**raw, at[0]: _replaced(raw[at[0]], at[1:], value)}


# ---------------------------------------------------------------- the whole pipeline, per source

def stack(project_dir: Path, name: str, read: ReadText) -> Loaded:
    return loaded(read_stack(project_dir, name, read))


def config_map(config: dict, name: str, source: str, project_dir: Path, read: ReadText) -> Loaded:
    return loaded(read_config_map(config, name, source, project_dir, read))


def file(path: Path, read: ReadText, name: Optional[str] = None) -> LoadedProject:
    found = loaded(read_file(path, read, name))
    assert isinstance(found, LoadedProject)
    return found


def project_mapping(raw: object, name: str, source: str, prefix: Optional[str] = None) -> LoadedProject:
    """A `kindreg:cluster` object given as data (tests, `kindreg explain`, the package's inputs:
    those name their fields from the top, prefix "")."""
    found = loaded(Document(name, source, Dialect.PROJECT, raw, prefix=prefix))
    assert isinstance(found, LoadedProject)
    return found


def shared_mapping(raw: object, name: str, source: str, prefix: Optional[str] = None) -> LoadedShared:
    found = loaded(Document(name, source, Dialect.SHARED, raw, prefix=prefix))
    assert isinstance(found, LoadedShared)
    return found
