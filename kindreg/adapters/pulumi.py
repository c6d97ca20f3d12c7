"""The Pulumi engine, through its Automation API: the CLI, the passphrase, stacks and their runs.

The CLI is the one on PATH, or the version the Python SDK pins, installed under the user's
cache where the machine can download it. State goes where Pulumi.yaml says (a local file
backend). The passphrase that encrypts the stacks' secrets comes from
PULUMI_CONFIG_PASSPHRASE(_FILE), or from a file kindreg creates once (mode 0600).
"""
from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Callable, Mapping, Optional

PASSPHRASE_ENV, PASSPHRASE_FILE_ENV = "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"
BACKEND_ENV = "PULUMI_BACKEND_URL"
FILE_SCHEME = "file://"


class PulumiUnavailable(Exception):
    """No Pulumi CLI, and none could be installed: the message says what to do."""


class RunFailed(Exception):
    """The engine reported an error; the message is the engine's."""


def sdk_version() -> str:
    return version("pulumi")


def config_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "kindreg"


def cache_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".cache")
    return Path(base) / "kindreg"


def passphrase(env: Mapping[str, str]) -> tuple[dict[str, str], Optional[str]]:
    """(environment for the engine, a note for the user or None)."""
    if env.get(PASSPHRASE_ENV) is not None or env.get(PASSPHRASE_FILE_ENV):
        return {}, None
    path = config_dir(env) / "passphrase"
    if path.exists():
        return {PASSPHRASE_FILE_ENV: str(path)}, None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    return {PASSPHRASE_FILE_ENV: str(path)}, (
        f"created a passphrase for this machine's stacks in {path} (mode 0600); it decrypts their "
        "secrets: keep it, or set PULUMI_CONFIG_PASSPHRASE_FILE to your own")


def backend_url(project_dir: Path, env: Mapping[str, str]) -> Optional[str]:
    """The backend the CLI will use for this project: PULUMI_BACKEND_URL, else Pulumi.yaml's
    `backend.url` (the CLI's own order), else None (the user's `pulumi login`)."""
    if env.get(BACKEND_ENV):
        return env[BACKEND_ENV]
    import yaml
    try:
        doc = yaml.safe_load((project_dir / "Pulumi.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None  # the CLI reports a missing or broken Pulumi.yaml itself
    url = (doc.get("backend") or {}).get("url") if isinstance(doc, dict) else None
    return url if isinstance(url, str) else None


def file_backend_dir(url: Optional[str]) -> Optional[Path]:
    """The directory of a file backend, `~` resolved as the CLI resolves it: the account's home
    from the user database (Go's os/user), which is not always $HOME."""
    if not url or not url.startswith(FILE_SCHEME):
        return None
    path = url[len(FILE_SCHEME):]
    if path == "~" or path.startswith("~/"):
        import pwd
        path = pwd.getpwuid(os.getuid()).pw_dir + path[1:]
    return Path(path)


def ensure_backend(project_dir: Path, env: Mapping[str, str]) -> Optional[str]:
    """Create a file backend's directory (the CLI refuses one that does not exist); a note for
    the user when it was created, else None."""
    directory = file_backend_dir(backend_url(project_dir, env))
    if directory is None or directory.is_dir():
        return None
    directory.mkdir(parents=True, mode=0o700)
    return f"created {directory} for the stacks' state (the file backend Pulumi.yaml names; no Pulumi account needed)"


def installed(env: Mapping[str, str], which: Callable[[str], Optional[str]] = shutil.which) -> Optional[str]:
    """The CLI `command` would use without installing anything, or None."""
    cached = cache_dir(env) / f"pulumi-{sdk_version()}" / "bin" / "pulumi"
    return which("pulumi") or (str(cached) if cached.is_file() else None)


def command(env: Mapping[str, str], which: Callable[[str], Optional[str]] = shutil.which):
    """The Pulumi CLI: on PATH, else the SDK's version installed into kindreg's cache."""
    from pulumi import automation as auto
    from semver import VersionInfo
    if which("pulumi"):
        return auto.PulumiCommand(skip_version_check=True)
    root = cache_dir(env) / f"pulumi-{sdk_version()}"
    if (root / "bin" / "pulumi").is_file():
        return auto.PulumiCommand(root=str(root), skip_version_check=True)
    try:
        return auto.PulumiCommand.install(root=str(root), version=VersionInfo.parse(sdk_version()))
    except Exception as err:  # noqa: BLE001 - network, disk or installer errors: one message
        raise PulumiUnavailable(
            f"the Pulumi CLI is not on PATH and could not be installed ({_first_line(err)}); install "
            f"Pulumi v{sdk_version()} (https://www.pulumi.com/docs/install/, or your package manager) "
            "and run again") from None


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:160] if text else type(err).__name__


@dataclass
class Engine:
    """Stacks of one project directory, run through the Automation API."""

    project_dir: Path
    env: dict[str, str]
    out: Callable[[str], None] = print
    cli: object = None
    _stacks: dict = field(default_factory=dict)

    def stack(self, name: str):
        from pulumi import automation as auto
        if name not in self._stacks:
            opts = auto.LocalWorkspaceOptions(env_vars=self.env, pulumi_command=self.cli)
            self._stacks[name] = auto.create_or_select_stack(stack_name=name, work_dir=str(self.project_dir),
                                                             opts=opts)
        return self._stacks[name]

    def preview(self, name: str, diff: bool = False, quiet: bool = False) -> dict:
        """The change summary {op: count}; progress is streamed unless quiet."""
        result = self._run(name, "preview", quiet=quiet, diff=diff)
        return dict(result.change_summary or {})

    def up(self, name: str) -> dict:
        result = self._run(name, "up")
        return dict(getattr(result.summary, "resource_changes", None) or {})

    def destroy(self, name: str) -> None:
        self._run(name, "destroy")

    def config_object(self, name: str, key: str) -> Optional[object]:
        """A config value of the stack, secrets decrypted (for the caller's use, never printed)."""
        import json
        value = self.stack(name).get_all_config().get(key)
        if value is None:
            return None
        try:
            return json.loads(value.value)
        except ValueError:
            return value.value

    def outputs(self, name: str) -> dict:
        return {k: v.value for k, v in self.stack(name).outputs().items()}

    def _run(self, name: str, what: str, quiet: bool = False, **kw):
        from pulumi.automation import errors
        stream = (lambda line: None) if quiet else self._stream
        try:
            return getattr(self.stack(name), what)(on_output=stream, color="never", **kw)
        except errors.CommandError as err:
            raise RunFailed(_engine_error(err)) from None

    def _stream(self, line: str) -> None:
        self.out(line.rstrip("\n"))


def _engine_error(err: Exception) -> str:
    """The engine's own error lines, without the Automation API's wrapping."""
    text = str(err)
    stderr = text.split(" stderr: ", 1)[1] if " stderr: " in text else text
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("warning: using ")]
    return "\n".join(lines[-20:]) or text.strip()
