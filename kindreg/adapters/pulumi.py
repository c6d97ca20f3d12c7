"""The Pulumi engine, through its Automation API: the CLI, the passphrase, stacks and their runs.

The CLI is the one on PATH, or the version the Python SDK pins, installed under the user's
cache where the machine can download it. State goes where Pulumi.yaml says (a local file
backend). The passphrase that encrypts the stacks' secrets comes from
PULUMI_CONFIG_PASSPHRASE(_FILE), or from a file kindreg creates once (mode 0600).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from kindreg.core.world import PendingOperation, Recorded

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
    if not _create_whole(path, secrets.token_urlsafe(32) + "\n"):
        return {PASSPHRASE_FILE_ENV: str(path)}, None  # another kindreg made it a moment ago
    return {PASSPHRASE_FILE_ENV: str(path)}, (
        f"created a passphrase for this machine's stacks in {path} (mode 0600); it decrypts their "
        "secrets: keep it, or set PULUMI_CONFIG_PASSPHRASE_FILE to your own")


def _create_whole(path: Path, text: str) -> bool:
    """Create `path` holding `text`, mode 0600, unless it exists; False if it did. Written
    aside and linked into place, so a kindreg started at the same moment never reads it half
    written (link(2) fails on an existing name: exactly one of them wins)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


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
    # Finds (or installs) the CLI at the first use: reading a file backend's state needs none,
    # and asking the CLI for its version costs a no-op `up` a fifth of its time.
    find_cli: Optional[Callable[[], object]] = None
    _stacks: dict = field(default_factory=dict)

    def stack(self, name: str):
        from pulumi import automation as auto
        if self.cli is None and self.find_cli is not None:
            self.cli = self.find_cli()
        if name not in self._stacks:
            opts = auto.LocalWorkspaceOptions(env_vars=self.env, pulumi_command=self.cli)
            try:
                self._stacks[name] = auto.create_or_select_stack(stack_name=name, work_dir=str(self.project_dir),
                                                                 opts=opts)
            except auto.errors.CommandError as err:  # the backend cannot be read: its own message
                raise RunFailed(_engine_error(err)) from None
        return self._stacks[name]

    def preview(self, name: str, diff: bool = False, quiet: bool = False, replace: Sequence[str] = ()) -> dict:
        """The change summary {op: count}, after a refresh of what the providers can read;
        progress is streamed unless quiet. `replace`: resource names to replace."""
        result = self._run(name, "preview", quiet=quiet, diff=diff, refresh=True, replace=self._urns(name, replace))
        return dict(result.change_summary or {})

    def up(self, name: str, replace: Sequence[str] = (), targets: Sequence[str] = ()) -> None:
        """Refresh (the providers read what is there), then update; `replace`: resource names.
        `targets`: resource names whose replacement alone heals the stack: they are replaced and
        only they and their dependents are updated, without a refresh (see `_targeted`)."""
        targeted = self._targeted(name, [*targets, *replace]) if targets else None
        if targeted:
            args = [*_each("--replace", targeted), *_each("--target", targeted), "--target-dependents"]
        else:
            args = ["--refresh", *_each("--replace", self._urns(name, replace) or [])]
        self._cli(name, ["up", "--yes", "--skip-preview", "--color", "never", *args])

    def _cli(self, name: str, args: list[str]) -> None:
        """The CLI run as the Automation API runs it for this stack (its workspace's directory,
        variables and `--stack`), and nothing after it: the API's `up` asks the CLI again for
        the outputs and the history (two more runs, each a CLI start and a decryption of the
        secrets), which kindreg reads from the state when it needs them."""
        from pulumi.automation import errors
        ws = self.stack(name).workspace
        env = {"PULUMI_DEBUG_COMMANDS": "true", **({"PULUMI_HOME": ws.pulumi_home} if ws.pulumi_home else {}),
               **ws.env_vars}
        try:
            ws.pulumi_command.run([*args, "--exec-kind", "auto.local", "--stack", name], ws.work_dir, env,
                                  self._stream)
        except errors.CommandError as err:
            raise RunFailed(_engine_error(err)) from None

    def _targeted(self, name: str, resources: Sequence[str]) -> Optional[list[str]]:
        """Their URNs, or None (the whole stack) when the state lacks one: the engine refuses to
        create a resource outside the targets. No refresh: a targeted refresh fails on the
        dependents of a target in this engine ("unknown provider ... for resource"), and a
        replacement needs none (the docker provider's delete ignores "No such container",
        resource_docker_container_funcs.go resourceDockerContainerDelete)."""
        urns = self.recorded(name).urns
        return [urns[r] for r in dict.fromkeys(resources)] if all(r in urns for r in resources) else None

    def _urns(self, name: str, resources: Sequence[str]) -> Optional[list[str]]:
        if not resources:
            return None
        urns = self.recorded(name).urns
        return [urns[r] for r in resources if r in urns] or None

    def exclusive(self, name: str, out: Callable[[str], None]):
        """This machine's lock on the stack (kindreg.adapters.machinelock), for a `with` block."""
        return stack_lock(self.project_dir, self.env, name, out)

    # -------------------------------------------------------------- what the state records
    def recorded(self, name: str) -> Recorded:
        """The stack's resources and pending operations: read from a file backend's checkpoint
        directly (no CLI run), else through `pulumi stack export`."""
        files = StateFiles.of(self.project_dir, self.env)
        if files is not None:
            return files.recorded(name)
        try:
            return read_deployment(self.stack(name).export_stack().deployment or {})
        except Exception:  # noqa: BLE001 - no such stack yet, or the backend cannot be asked
            return Recorded(read=False)

    def state_digest(self, name: str) -> Optional[str]:
        """A digest of the stack's state that changes whenever the state does: read from a file
        backend; None for other backends (asking their service costs what the engine does)."""
        files = StateFiles.of(self.project_dir, self.env)
        return files.checkpoint_digest(name) if files else None

    def torn_metadata(self, name: str) -> list[Path]:
        """Torn metadata files beside the stack's state in a file backend (StateFiles.torn_metadata)."""
        files = StateFiles.of(self.project_dir, self.env)
        return files.torn_metadata(name) if files else []

    def locks(self, name: str) -> list["StackLock"]:
        """Locks on the stack in a file backend; other backends' services keep their own."""
        files = StateFiles.of(self.project_dir, self.env)
        return files.locks(name) if files else []

    def resolve_pending(self, name: str, imports: Mapping[str, str]) -> str:
        """Refresh the stack, importing the pending creates in `imports` (URN -> ID: the thing
        exists) and dropping the other pending creates (it does not); the engine's output."""
        if imports:
            self._complete_pending_creates(name, imports)
        args = ["refresh", "--yes", "--skip-preview", "--non-interactive", "--color", "never",
                "--clear-pending-creates", "--stack", name]
        ws = self.stack(name).workspace
        env = {**self.env, **({"PULUMI_HOME": ws.pulumi_home} if ws.pulumi_home else {})}
        from pulumi.automation import errors
        try:
            return ws.pulumi_command.run(args, str(self.project_dir), env).stdout
        except errors.CommandError as err:
            raise RunFailed(_engine_error(err)) from None

    def _complete_pending_creates(self, name: str, imports: Mapping[str, str]) -> None:
        """Complete each pending create in `imports` with its ID, as the create itself would
        have, through `stack export` / `stack import`; the refresh that follows reads its
        outputs from the provider. (Not `refresh --import-pending-creates`: the CLI turns the
        operation into a pending import, which the snapshot then drops, pulumi v3.260.0
        cmd/pulumi/operations/refresh.go pendingCreatesToImports and backend/snapshot.go, which
        carries over pending creates only: the next `up` would create the thing a second time.)"""
        from pulumi.automation import Deployment
        stack = self.stack(name)
        exported = stack.export_stack()
        deployment = dict(exported.deployment or {})
        kept, completed = [], []
        for op in deployment.get("pending_operations") or []:
            urn = op.get("resource", {}).get("urn")
            if op.get("type") == "creating" and urn in imports:
                resource = dict(op["resource"], id=imports[urn])
                resource.setdefault("outputs", resource.get("inputs", {}))
                completed.append(resource)
            else:
                kept.append(op)
        deployment["resources"] = [*(deployment.get("resources") or []), *completed]
        deployment["pending_operations"] = kept
        stack.import_stack(Deployment(version=exported.version, deployment=deployment))

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


def _each(flag: str, values: Sequence[str]) -> list[str]:
    return [part for v in values for part in (flag, v)]


def _engine_error(err: Exception) -> str:
    """The engine's own error lines, without the Automation API's wrapping."""
    text = str(err)
    stderr = text.split(" stderr: ", 1)[1] if " stderr: " in text else text
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("warning: using ")]
    return "\n".join(lines[-20:]) or text.strip()


# ---------------------------------------------------------------- the file backend's layout

def stack_lock(project_dir: Path, env: Mapping[str, str], name: str, out: Callable[[str], None]):
    """This machine's lock on a stack, for a `with` block: what `up` and `down` hold, and the
    commands that stop or change its containers outside the engine (`cache prune`, `restore`)."""
    from . import machinelock
    backend = backend_url(project_dir, env) or "pulumi-login"
    directory = file_backend_dir(backend)
    key = str(directory.resolve()) if directory else backend
    path = machinelock.lock_path(cache_dir(env) / "locks", key, project_name(project_dir), name)
    return machinelock.exclusive(path, f"stack {name}", out)


def project_name(project_dir: Path) -> str:
    import yaml
    try:
        doc = yaml.safe_load((project_dir / "Pulumi.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return ""
    return str(doc.get("name", "")) if isinstance(doc, dict) else ""


def _whole_json(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
        return True
    except (OSError, ValueError):
        return False


def _checkpoint_paths(root: Path, project: str, stack: str) -> list[Path]:
    """pkg/backend/diy: `.pulumi/stacks/<project>/<stack>.json` (project-scoped, meta.yaml
    version 1), or `.pulumi/stacks/<stack>.json` (the legacy layout)."""
    base = root / ".pulumi" / "stacks"
    return [base / project / f"{stack}.json", base / f"{stack}.json"]


def _lock_dirs(root: Path, project: str, stack: str) -> list[Path]:
    """pkg/backend/diy/lock.go: `.pulumi/locks/<fully qualified stack name>/<lock id>.json`;
    the name is organization/<project>/<stack> (project-scoped) or <stack> (legacy)."""
    base = root / ".pulumi" / "locks"
    return [d for d in (base / "organization" / project / stack, base / stack) if d.is_dir()]


@dataclass(frozen=True)
class StackLock:
    """A lock file of the file backend (lock.go's lockContent: pid, username, hostname, timestamp)."""

    path: Path
    pid: Optional[int]
    username: str
    hostname: str
    timestamp: str

    @classmethod
    def read(cls, path: Path) -> "StackLock":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = {}
        pid = doc.get("pid")
        return cls(path, pid if isinstance(pid, int) else None, str(doc.get("username", "?")),
                   str(doc.get("hostname", "?")), str(doc.get("timestamp", "?")))

    @property
    def since(self) -> str:
        try:
            return datetime.fromisoformat(self.timestamp.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
        except ValueError:
            return self.timestamp


def read_deployment(doc: dict) -> Recorded:
    """A deployment (a checkpoint's `latest`, or `stack export`'s `deployment`) as plain values."""
    urns, ids, outputs = {}, {}, {}
    for r in doc.get("resources") or []:
        urn = r.get("urn", "")
        name = urn.split("::")[-1]
        if not r.get("custom") or r.get("type", "").startswith("pulumi:"):
            continue
        urns[name], ids[name] = urn, str(r.get("id", ""))
        outputs[name] = {k: v for k, v in (r.get("outputs") or {}).items() if not isinstance(v, dict)}
    pending = tuple(PendingOperation(
        urn=(op.get("resource") or {}).get("urn", ""), kind=op.get("type", ""),
        type=(op.get("resource") or {}).get("type", ""),
        name=(op.get("resource") or {}).get("urn", "").split("::")[-1],
        inputs=(op.get("resource") or {}).get("inputs") or {}) for op in doc.get("pending_operations") or [])
    return Recorded(urns=urns, ids=ids, outputs=outputs, pending=pending)


@dataclass(frozen=True)
class StateFiles:
    """A file backend's directory, read without the CLI (pkg/backend/diy's layout)."""

    root: Path
    project: str

    @classmethod
    def of(cls, project_dir: Path, env: Mapping[str, str]) -> Optional["StateFiles"]:
        root = file_backend_dir(backend_url(project_dir, env))
        return cls(root, project_name(project_dir)) if root is not None else None

    def _checkpoint(self, name: str) -> Optional[tuple[Path, Callable[[bytes], bytes]]]:
        """The stack's checkpoint file as stored, and how to unpack it (None: the stack has none)."""
        for path in _checkpoint_paths(self.root, self.project, name):
            for candidate, unpack in ((path, bytes), (path.with_name(path.name + ".gz"), gzip.decompress)):
                if candidate.is_file():
                    return candidate, unpack
        return None

    def recorded(self, name: str) -> Recorded:
        """The checkpoint's `latest` deployment (nothing recorded when the stack has none)."""
        found = self._checkpoint(name)
        if found is None:
            return Recorded()
        doc = json.loads(found[1](found[0].read_bytes()))
        return read_deployment((doc.get("checkpoint") or {}).get("latest") or {})

    def checkpoint_digest(self, name: str) -> Optional[str]:
        """SHA-256 of the stack's checkpoint file as stored ("none" without one): every command
        that changes the stack rewrites it."""
        found = self._checkpoint(name)
        return hashlib.sha256(found[0].read_bytes()).hexdigest() if found else "none"

    def torn_metadata(self, name: str) -> list[Path]:
        """Metadata files of the stack's checkpoint that a killed run left torn. gocloud.dev's
        file blobs keep metadata beside each file in `<file>.attrs`, written in place
        (blob/fileblob/attrs.go setAttrs: os.Create, then encode), while the file itself is
        renamed into place whole (fileblob.go writer.Close). A kill between the two leaves an
        empty or partial .attrs, and every later command fails with `failed to load checkpoint:
        EOF`; a missing one reads as the defaults (getAttrs)."""
        out = []
        for path in _checkpoint_paths(self.root, self.project, name):
            for blob in (path, path.with_name(path.name + ".gz"), path.with_name(path.name + ".bak")):
                attrs = blob.with_name(blob.name + ".attrs")
                if attrs.is_file() and not _whole_json(attrs):
                    out.append(attrs)
        return out

    def locks(self, name: str) -> list[StackLock]:
        return [StackLock.read(path) for directory in _lock_dirs(self.root, self.project, name)
                for path in sorted(directory.glob("*.json"))]
