"""Reading a stack's configuration, the first stage of loading (kindreg.core.load): the
stack file Pulumi.<stack>.yaml, strictly, and the lok8s file it names, into a Document of one
dialect. Nothing here translates or validates the fields: the stages after it do, once.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable, Optional

import yaml

from .errors import ConfigError, MissingFile, Problem, problem
from .validation import dotted

NS = "kindreg"
KEY_CLUSTER = f"{NS}:cluster"
KEY_CLUSTER_FILE = f"{NS}:clusterFile"
KEY_SHARED = f"{NS}:shared"
KEY_CREDENTIALS = f"{NS}:mirrorCredentials"
KEY_WORKLOAD_CREDENTIALS = f"{NS}:workloadCredentials"  # {username, password} for workload.registry
KEY_S3_CREDENTIALS = f"{NS}:s3Credentials"  # {accessKey, secretKey} of storage.s3
KEY_AUTH_PASSWORDS = f"{NS}:authPasswords"  # user -> password, for auth.users
KNOWN_KEYS = (KEY_CLUSTER, KEY_CLUSTER_FILE, KEY_SHARED, KEY_CREDENTIALS, KEY_WORKLOAD_CREDENTIALS,
              KEY_S3_CREDENTIALS, KEY_AUTH_PASSWORDS)
SECRET_FIELD = "password"
# Secret config that is secret in every leaf: all of it must be `pulumi config set --secret`.
ALL_SECRET_KEYS = (KEY_S3_CREDENTIALS, KEY_AUTH_PASSWORDS)

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


# ---------------------------------------------------------------- what was read

class Dialect(str, Enum):
    """Which form a stack's configuration was written in: what the translation starts from."""

    SHARED = "shared"  # `kindreg:shared` in the stack file
    PROJECT = "project"  # `kindreg:cluster` in the stack file
    LOK8S = "lok8s"  # a lok8s `Lo` file, named by `kindreg:clusterFile` or given to --file


@dataclass(frozen=True)
class Document:
    """A stack's configuration as read: one dialect's raw data, and what is wrong already."""

    stack: str
    source: str  # what error messages name: a file, or a config key
    dialect: Dialect
    raw: object
    problems: tuple[Problem, ...] = ()
    prefix: Optional[str] = None  # the path to the fields in messages, when not the dialect's own


# The config key that holds each dialect, in the order a conflict between them is reported.
ROLE_KEYS = {KEY_CLUSTER: Dialect.PROJECT, KEY_CLUSTER_FILE: Dialect.LOK8S, KEY_SHARED: Dialect.SHARED}


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
            if path.rsplit(".", 1)[-1] == SECRET_FIELD and not _secure(value):
                out.append(_in_plain_text(path))
    for key in ALL_SECRET_KEYS:
        out += [_in_plain_text(path) for path, value in _leaves(config.get(key), key)
                if config.get(key) is not None and not _secure(value)]
    return out


def _secure(value: object) -> bool:
    return isinstance(value, dict) and "secure" in value


def _in_plain_text(path: str) -> Problem:
    return problem(path, "is in plain text in the stack file; remove it and set it as a "
                         f"secret: `pulumi config set --secret --path '{path}' ...`")


def _leaves(node: object, path: str):
    if isinstance(node, dict) and "secure" not in node:
        for k, v in node.items():
            yield from _leaves(v, f"{path}.{k}")
    else:
        yield path, node


def read_config_map(config: dict, stack: str, source: str, project_dir: Path, read: ReadText) -> Document:
    """A stack's document from its config map (the `config:` of Pulumi.<stack>.yaml): its
    `kindreg:shared` or `kindreg:cluster` object, or the lok8s file `kindreg:clusterFile` names."""
    ours = {k: v for k, v in config.items() if str(k).startswith(f"{NS}:")}
    problems = _unknown(ours, KNOWN_KEYS, "") + plaintext_passwords(ours)
    roles = [k for k in ROLE_KEYS if k in ours]
    if len(roles) > 1:
        problems.append(problem(roles[1], f"conflicts with {roles[0]}; a stack is either the "
                                f"shared mirrors ({KEY_SHARED}) or one project "
                                f"({KEY_CLUSTER} or {KEY_CLUSTER_FILE})"))
    if not roles:
        problems.append(problem(
            "config", f"has none of {', '.join(ROLE_KEYS)}; "
            f"set {KEY_SHARED} for the shared mirrors stack, or {KEY_CLUSTER} for a project"))
        raise ConfigError(source, problems)
    role = roles[0]
    if role != KEY_CLUSTER_FILE:
        return Document(stack, source, ROLE_KEYS[role], ours[role] or {}, tuple(problems))
    if problems:
        raise ConfigError(source, problems)
    return _lok8s_file(ours[role], stack, source, project_dir, read)


def _lok8s_file(rel: object, stack: str, source: str, project_dir: Path, read: ReadText) -> Document:
    problems = _file_path_problems(rel)
    if problems:
        raise ConfigError(source, problems)
    return Document(stack, rel, Dialect.LOK8S, read_yaml(project_dir / rel, read, rel))


def _file_path_problems(rel: object) -> list[Problem]:
    if not isinstance(rel, str) or not rel:
        return [problem(KEY_CLUSTER_FILE, "is not a file path", rel)]
    if Path(rel).is_absolute():
        return [problem(KEY_CLUSTER_FILE, "is absolute; give a path relative to the project root", rel)]
    if ".." in Path(rel).parts:
        return [problem(KEY_CLUSTER_FILE, "leaves the project directory (..); keep cluster files inside the project",
                        rel)]
    return []


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


def read_stack(project_dir: Path, stack: str, read: ReadText) -> Document:
    config = read_stack_config(project_dir, stack, read)
    return read_config_map(config, stack, stack_file(project_dir, stack).name, project_dir, read)


def read_file(path: Path, read: ReadText, stack: Optional[str] = None) -> Document:
    """A lok8s file given by path; its stack is `stack`, else its metadata.name, else its stem."""
    doc = read_yaml(path, read)
    return Document(stack or _name_of(doc) or path.stem, str(path), Dialect.LOK8S, doc)


def _name_of(doc: object) -> Optional[str]:
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None
