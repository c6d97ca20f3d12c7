"""Where configuration comes from: stack config maps, Pulumi.<stack>.yaml, lok8s files.

The same project model is reached from a `kindreg:cluster` object in the stack config or
from a lok8s `Lo` file named by `kindreg:clusterFile`; both go through `validation.validate`.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

import yaml

from . import lok8s
from .config import ProjectConfig, SharedStackConfig
from .errors import ConfigError, MissingFile, Problem, problem
from .validation import dotted, prefixed, validate

NS = "kindreg"
KEY_CLUSTER = f"{NS}:cluster"
KEY_CLUSTER_FILE = f"{NS}:clusterFile"
KEY_SHARED = f"{NS}:shared"
KEY_CREDENTIALS = f"{NS}:mirrorCredentials"
KEY_WORKLOAD_CREDENTIALS = f"{NS}:workloadCredentials"  # {username, password} for workload.registry
KNOWN_KEYS = (KEY_CLUSTER, KEY_CLUSTER_FILE, KEY_SHARED, KEY_CREDENTIALS, KEY_WORKLOAD_CREDENTIALS)
SECRET_FIELD = "password"

ReadText = Callable[[Path], str]


# ---------------------------------------------------------------- YAML, strictly

# Bounds that stop a hostile file early: a configuration is small and shallow, and YAML aliases
# can make a few lines expand into gigabytes ("billion laughs") or recurse without end.
MAX_YAML_BYTES = 1_000_000
MAX_YAML_DEPTH = 40
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 20_000  # counted with every alias expanded, as a reader of the data sees it


class YamlTooLarge(yaml.YAMLError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """YAML 1.2 booleans (true/false only: `yes` stays a string), no duplicate or unhashable
    keys, and bounded nesting and aliases."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise YamlTooLarge(f"more than {MAX_YAML_ALIASES} aliases (*name); write the values out")
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise YamlTooLarge(f"nested more than {MAX_YAML_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_StrictLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _expanded_size(node: yaml.Node, seen: dict) -> int:
    """How many values the document has with aliases expanded (each shared node counted once
    per use, computed once)."""
    key = id(node)
    if key not in seen:
        seen[key] = 0  # a cycle counts as nothing more; PyYAML refuses recursive aliases anyway
        children = node.value if isinstance(node.value, list) else []
        flat = [c for pair in children for c in (pair if isinstance(pair, tuple) else (pair,))]
        seen[key] = 1 + sum(_expanded_size(c, seen) for c in flat)
    return seen[key]


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, (str, int, float, bool, type(None))):
            raise yaml.constructor.ConstructorError(
                None, None, "a key that is not a plain value (a list or a mapping)", key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str, source: str) -> object:
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(source, [problem("", f"the file is larger than {MAX_YAML_BYTES} bytes; "
                                           "a kindreg configuration is a few kilobytes")])
    try:
        loader = _StrictLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None and _expanded_size(node, {}) > MAX_YAML_NODES:
                raise YamlTooLarge(f"more than {MAX_YAML_NODES} values once its aliases are expanded")
            return loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(source, [problem("", f"the file is not valid YAML: {err.problem}{where}")]) from None
    except (yaml.YAMLError, RecursionError) as err:
        raise ConfigError(source, [problem("", f"the file is not valid YAML: {err or 'nested too deeply'}")]) from None


def read_yaml(path: Path, read: ReadText, shown_as: Optional[str] = None) -> object:
    """Parse a YAML file; errors name it as `shown_as` (the path the user wrote)."""
    name = shown_as or str(path)
    try:
        text = read(path)
    except FileNotFoundError:
        raise MissingFile(name, [problem("", "the file does not exist")]) from None
    except IsADirectoryError:
        raise ConfigError(name, [problem("", "is a directory; name a YAML file")]) from None
    except UnicodeDecodeError:
        raise ConfigError(name, [problem("", "is not UTF-8 text; save the file as UTF-8")]) from None
    except OSError as err:
        raise ConfigError(name, [problem("", f"cannot be read ({err.strerror or err})")]) from None
    return load_yaml(text, name)


# ---------------------------------------------------------------- loaded stacks

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


def project_from_mapping(raw: object, stack: str, source: str, prefix: str = KEY_CLUSTER,
                         extra: Iterable[Problem] = ()) -> LoadedProject:
    """A `kindreg:cluster` object; the project name defaults to the stack name."""
    cfg = validate(ProjectConfig, raw, source, prefixed(prefix), extra)
    if cfg.name is None:
        cfg = cfg.model_copy(update={"name": stack})
    return LoadedProject(stack, source, prefix, cfg)


def shared_from_mapping(raw: object, stack: str, source: str, prefix: str = KEY_SHARED,
                        extra: Iterable[Problem] = ()) -> LoadedShared:
    cfg = validate(SharedStackConfig, raw, source, prefixed(prefix), extra)
    return LoadedShared(stack, source, prefix, cfg)


def project_from_lok8s(doc: object, stack: str, source: str) -> LoadedProject:
    """A lok8s `Lo` file, read with lok8s's meaning and defaults (see `lok8s.py`)."""
    if not isinstance(doc, dict):
        raise ConfigError(source, [problem("", "the file is not a lok8s Lo document (a mapping)")])
    translated = lok8s.translate(doc)
    cfg = validate(ProjectConfig, translated.raw, source, lok8s.path_of, extra=translated.problems)
    return LoadedProject(stack, source, "spec", cfg, tuple(translated.left_to_lok8s))


def _unknown(d: dict, allowed: tuple, at: str) -> list:
    out = []
    for key in d:
        if key not in allowed:
            guess = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f'did you mean "{guess[0]}"? ' if guess else ""
            out.append(problem(dotted((at, key)) if at else str(key),
                               f"unknown field; {hint}(allowed here: {', '.join(allowed)})"))
    return out


def plaintext_passwords(config: dict) -> list[Problem]:
    """A password under a credentials key that is not a Pulumi secret (`{secure: ...}`) sits in
    plain text in the stack file: refused, naming where, never what."""
    out = []
    for key in (KEY_CREDENTIALS, KEY_WORKLOAD_CREDENTIALS):
        for path, value in _leaves(config.get(key), key):
            if path.rsplit(".", 1)[-1] == SECRET_FIELD and not (isinstance(value, dict) and "secure" in value):
                out.append(problem(path, "is in plain text in the stack file; remove it and set it as a "
                                         f"secret: `pulumi config set --secret --path '{path}' ...`"))
    return out


def _leaves(node: object, path: str):
    if isinstance(node, dict) and "secure" not in node:
        for k, v in node.items():
            yield from _leaves(v, f"{path}.{k}")
    else:
        yield path, node


def from_config_map(config: dict, stack: str, source: str, project_dir: Path,
                    read: ReadText) -> Loaded:
    """Load a stack from its config map (the `config:` of Pulumi.<stack>.yaml)."""
    ours = {k: v for k, v in config.items() if str(k).startswith(f"{NS}:")}
    problems = _unknown(ours, KNOWN_KEYS, "") + plaintext_passwords(ours)
    roles = [k for k in (KEY_CLUSTER, KEY_CLUSTER_FILE, KEY_SHARED) if k in ours]
    if len(roles) > 1:
        problems.append(problem(roles[1], f"conflicts with {roles[0]}; a stack is either the "
                                f"shared mirrors ({KEY_SHARED}) or one project "
                                f"({KEY_CLUSTER} or {KEY_CLUSTER_FILE})"))
    if not roles:
        problems.append(problem(
            "config", f"has none of {KEY_CLUSTER}, {KEY_CLUSTER_FILE}, {KEY_SHARED}; "
            f"set {KEY_SHARED} for the shared mirrors stack, or {KEY_CLUSTER} for a project"))
    if not roles:
        raise ConfigError(source, problems)
    role = roles[0]
    if role == KEY_SHARED:
        return shared_from_mapping(ours[role] or {}, stack, source, extra=problems)
    if role == KEY_CLUSTER:
        return project_from_mapping(ours[role] or {}, stack, source, extra=problems)
    if problems:
        raise ConfigError(source, problems)
    return _project_from_file(ours[role], stack, source, project_dir, read)


def _project_from_file(rel: object, stack: str, source: str, project_dir: Path,
                       read: ReadText) -> LoadedProject:
    if not isinstance(rel, str) or not rel:
        raise ConfigError(source, [problem(KEY_CLUSTER_FILE, "is not a file path", rel)])
    if Path(rel).is_absolute():
        raise ConfigError(source, [problem(
            KEY_CLUSTER_FILE, "is absolute; give a path relative to the project root", rel)])
    if ".." in Path(rel).parts:
        raise ConfigError(source, [problem(
            KEY_CLUSTER_FILE, "leaves the project directory (..); keep cluster files inside the project", rel)])
    return project_from_lok8s(read_yaml(project_dir / rel, read, rel), stack, rel)


STACK_FILE_GLOB = "Pulumi.*.yaml"


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def stack_of_file(name: str) -> str:
    """Pulumi.dev.yaml -> dev."""
    return name[len("Pulumi."):-len(".yaml")]


def read_stack_config(project_dir: Path, stack: str, read: ReadText) -> dict:
    path = stack_file(project_dir, stack)
    doc = read_yaml(path, read, path.name) or {}
    if not isinstance(doc, dict) or not isinstance(doc.get("config", {}), dict):
        raise ConfigError(path.name, [problem("config", "is not a mapping of config keys")])
    return doc.get("config") or {}


def load_stack(project_dir: Path, stack: str, read: ReadText) -> Loaded:
    config = read_stack_config(project_dir, stack, read)
    return from_config_map(config, stack, stack_file(project_dir, stack).name, project_dir, read)


def load_file(path: Path, read: ReadText, stack: Optional[str] = None) -> LoadedProject:
    doc = read_yaml(path, read)
    return project_from_lok8s(doc, stack or _name_of(doc) or path.stem, str(path))


def _name_of(doc: object) -> Optional[str]:
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None
