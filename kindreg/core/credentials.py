"""Mirror credentials: where each mirror's upstream username and password come from.

Order, first match wins:
1. Pulumi secret config `kindreg:mirrorCredentials.<mirror>.{username,password}`;
2. the user's `docker login` to the mirror's upstream, only for a mirror with
   `useDockerLogin: true` (everyone who reaches the mirror then pulls with them), read as the
   Docker CLI reads it: the `credHelpers` entry for the registry's host, else `credsStore`,
   through `docker-credential-<name> get`; then `auths`. Nothing found there is an error;
3. `${VAR}` placeholders in the mirror's password (`${VAR}`, `${VAR:-default}` or
   `${VAR:=default}` in its username).

Values are returned to the caller only; nothing here logs or renders them.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from .sources import KEY_AUTH_PASSWORDS, KEY_S3_CREDENTIALS
from .errors import ConfigError, Problem, problem
from .plan import RegistryPlan
from .vocabulary import DOCKER_HUB_CONFIG_KEYS, DOCKER_HUB_HOSTS, DOCKER_LOGIN_SOURCE

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[-=]([^}]*))?\}")


@dataclass(frozen=True)
class Credentials:
    # Strings, or values the caller resolves later (the package's secret inputs): never read here.
    username: object
    password: object = field(repr=False)
    source: str  # where they came from, for messages: never the values

    def __repr__(self) -> str:  # keep the password out of tracebacks and logs
        return f"Credentials(username={self.username!r}, source={self.source!r})"


PathFor = Callable[[str], str]


class HelperFailed(Exception):
    """A Docker credential helper could not answer; the message never holds a secret."""


# (helper name, server address) -> (username, secret), None when it holds nothing for the server.
CredentialHelper = Callable[[str, str], Optional[tuple[str, str]]]


def _no_helper(name: str, server: str) -> Optional[tuple[str, str]]:
    raise HelperFailed("credential helpers are not available here")


SECRET_CONFIG_KEY = "kindreg:mirrorCredentials"


def resolve(mirrors: Sequence[RegistryPlan], secret_config: Optional[Mapping], env: Mapping[str, str],
            docker_config: Optional[Mapping], source: str, path_for: PathFor,
            helper: CredentialHelper = _no_helper, secret_key: str = SECRET_CONFIG_KEY) -> dict[str, Credentials]:
    """Credentials per mirror name (mirrors without any are absent), or every problem.
    `secret_key` names where `secret_config` came from (the package: its mirrorCredentials input)."""
    problems: list[Problem] = []
    secrets = _secret_entries(secret_config, {m.name for m in mirrors}, problems, secret_key)
    found: dict[str, Credentials] = {}
    for m in mirrors:
        creds = (secrets.get(m.name) or (_from_docker_login(docker_config, m, helper, path_for, problems)
                                         if m.password_from == DOCKER_LOGIN_SOURCE else None)
                 or _from_placeholders(m, env, path_for, problems))
        if creds:
            found[m.name] = creds
    if problems:
        raise ConfigError(source, problems)
    return found


def _given(value: object) -> bool:
    """A value is there: a non-empty string, or one the caller resolves later."""
    return value is not None and (not isinstance(value, str) or bool(value))


def _secret_entries(config: Optional[Mapping], names: set[str], problems: list[Problem], key: str) -> dict:
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        problems.append(problem(key, "is not a mapping of mirror name to {username, password}"))
        return {}
    out = {}
    for name, entry in config.items():
        path = f"{key}.{name}"
        if name not in names:
            problems.append(problem(path, f"names no mirror of this stack (mirrors: "
                                    f"{', '.join(sorted(names)) or 'none'}); fix the name or remove it"))
            continue
        entry = entry if isinstance(entry, Mapping) else {}
        user, pw = entry.get("username"), entry.get("password")
        if not (_given(user) and _given(pw)):
            missing = "username" if not _given(user) else "password"
            fix = (f"`pulumi config set --secret --path '{path}.{missing}' ...`" if key == SECRET_CONFIG_KEY
                   else f"give {missing} too (a secret)")
            problems.append(problem(f"{path}.{missing}", "is missing: a mirror needs both username and "
                                    f"password; {fix}"))
            continue
        out[name] = Credentials(user, pw, "Pulumi secret config" if key == SECRET_CONFIG_KEY else key)
    return out


def docker_config_keys(reg: RegistryPlan) -> tuple[str, ...]:
    """Keys of `auths` that can hold credentials for the mirror's upstream."""
    host = (urlsplit(reg.upstream or "").hostname or "").lower()
    if host in DOCKER_HUB_HOSTS:
        return DOCKER_HUB_CONFIG_KEYS
    return (host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/")


def _from_docker_login(config: Optional[Mapping], reg: RegistryPlan, helper: CredentialHelper,
                       path_for: PathFor, problems: list[Problem]) -> Optional[Credentials]:
    path = f"{path_for(reg.name)}.useDockerLogin"
    name = helper_for(config, reg)
    try:
        creds = (_from_helper(name, reg, helper) if name else None) or _from_docker_config(config, reg)
    except HelperFailed as err:
        problems.append(problem(path, f"docker-credential-{name} could not be asked for {_upstream_host(reg)} "
                                f"({err}); fix the helper (`{_login(reg)}` again), or remove useDockerLogin"))
        return None
    if creds is None:
        where = f"docker-credential-{name} or auths" if name else "auths"
        problems.append(problem(path, f"is true, but your Docker config has no login for "
                                f"{_upstream_host(reg)} ({where}); run `{_login(reg)}`, or remove useDockerLogin"))
    return creds


def _login(reg: RegistryPlan) -> str:
    """The command that stores a login the Docker CLI (and so kindreg) finds for this upstream."""
    host = _upstream_host(reg)
    return "docker login" if host in DOCKER_HUB_HOSTS else f"docker login {host}"


def _upstream_host(reg: RegistryPlan) -> str:
    return (urlsplit(reg.upstream or "").hostname or "").lower()


def helper_for(config: Optional[Mapping], reg: RegistryPlan) -> Optional[str]:
    """The credential helper the Docker CLI would ask for this upstream: `credHelpers` keyed by
    the registry's host name, else `credsStore` (docker/cli, configfile.GetCredentialsStore)."""
    if not isinstance(config, Mapping):
        return None
    helpers = config.get("credHelpers") if isinstance(config.get("credHelpers"), Mapping) else {}
    for key in docker_config_keys(reg):
        host = key.split("://", 1)[-1].split("/", 1)[0]
        if isinstance(helpers.get(host), str) and helpers[host]:
            return helpers[host]
    store = config.get("credsStore")
    return store if isinstance(store, str) and store else None


def _from_helper(name: str, reg: RegistryPlan, helper: CredentialHelper) -> Optional[Credentials]:
    for server in docker_config_keys(reg):  # the addresses `docker login` may have stored it under
        found = helper(name, server)
        if found:
            return Credentials(found[0], found[1], f"docker-credential-{name} ({server})")
    return None


def _from_docker_config(config: Optional[Mapping], reg: RegistryPlan) -> Optional[Credentials]:
    auths = config.get("auths") if isinstance(config, Mapping) else None
    if not isinstance(auths, Mapping):
        return None
    for key in docker_config_keys(reg):
        entry = auths.get(key)
        if isinstance(entry, Mapping):
            creds = _decode_auth(entry)
            if creds:
                return Credentials(*creds, f"Docker config ({key})")
    return None


def _decode_auth(entry: Mapping) -> Optional[tuple[str, str]]:
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        try:
            user, sep, pw = base64.b64decode(entry["auth"]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, pw) if sep and user and pw else None
    user, pw = entry.get("username"), entry.get("password")
    return (user, pw) if isinstance(user, str) and user and isinstance(pw, str) and pw else None


def _from_placeholders(reg: RegistryPlan, env: Mapping[str, str], path_for: PathFor,
                       problems: list[Problem]) -> Optional[Credentials]:
    if reg.username is None or reg.password_from is None or not reg.password_from.startswith("${"):
        return None
    user = expand(reg.username, env, f"{path_for(reg.name)}.username", problems)
    pw = expand(reg.password_from, env, f"{path_for(reg.name)}.password", problems)
    if user is None or pw is None:
        return None
    if not user or not pw:
        empty = "username" if not user else "password"
        problems.append(problem(f"{path_for(reg.name)}.{empty}",
                                "expands to an empty value; set the variable to a non-empty value"))
        return None
    return Credentials(user, pw, "environment")


def expand(text: str, env: Mapping[str, str], path: str, problems: list[Problem]) -> Optional[str]:
    """`${VAR}` and `${VAR:-default}` from `env`; an unset VAR without default is a problem."""
    unset = []

    def sub(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        unset.append(name)
        return ""

    out = PLACEHOLDER.sub(sub, text)
    for name in unset:
        problems.append(problem(path, f"uses ${{{name}}}, which is not set in the environment; "
                                f"export {name}, give a default (${{{name}:-value}}), or use "
                                "`pulumi config set --secret` (kindreg:mirrorCredentials)"))
    return None if unset else out


# ---------------------------------------------------------------- the team tier's secrets

S3_KEY_FIELDS = ("accessKey", "secretKey")


def s3_keys(given: Optional[Mapping], key: str = KEY_S3_CREDENTIALS, *, where: str) -> dict[str, object]:
    """The S3 access key and secret key of a stack whose mirrors store on S3, from its secret
    config `key` (`kindreg:s3Credentials`), or a ConfigError naming what is missing. Values are
    never read here beyond being present."""
    if not isinstance(given, Mapping):
        raise ConfigError(where, [problem(key, (
            "is missing: storage.s3 needs the bucket's keys; "
            f"`pulumi config set --secret --path '{key}.accessKey' ...` and the same for secretKey"
            if given is None else "is not a mapping of accessKey and secretKey"))])
    problems = [problem(f"{key}.{name}", f"is missing; `pulumi config set --secret --path '{key}.{name}' ...`")
                for name in S3_KEY_FIELDS if not _given(given.get(name))]
    problems += [problem(f"{key}.{name}", f"is not a field here (fields: {', '.join(S3_KEY_FIELDS)}); remove it")
                 for name in given if name not in S3_KEY_FIELDS]
    if problems:
        raise ConfigError(where, problems)
    return {name: given[name] for name in S3_KEY_FIELDS}


def auth_passwords(given: Optional[Mapping], users: Sequence[str], *, where: str,
                   key: str = KEY_AUTH_PASSWORDS) -> dict[str, object]:
    """Each listed user's password (auth.users), from the secret config `key`
    (`kindreg:authPasswords.<user>`), in the order of `users`; or a ConfigError."""
    given = given if isinstance(given, Mapping) else {}
    problems = [problem(f"{key}.{user}", f"is missing: auth.users lists {user}; "
                        f"`pulumi config set --secret --path '{key}.{user}' ...`")
                for user in users if not _given(given.get(user))]
    problems += [problem(f"{key}.{name}", f"names no user of auth.users ({', '.join(users)}); add the user "
                         "there or remove this password") for name in given if name not in users]
    if problems:
        raise ConfigError(where, problems)
    return {user: given[user] for user in users}
