"""What kindreg reads from a Docker engine, behind a small interface.

The commands that look at a running machine (`status`, `doctor`, `cache`) take an `Engine`;
`DockerCli` implements it with the docker CLI's JSON output (the same engine and
DOCKER_HOST the user's docker command uses), and tests give a fake with the same shape.
No Docker library is imported: the docker CLI is the one client, whatever engine it reaches.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import contextlib
from datetime import datetime
from typing import IO, ContextManager, Iterator, Mapping, Optional, Protocol, Sequence

from kindreg.core.vocabulary import MANAGED_VALUE, Label, Role


DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"


class EngineError(Exception):
    """The Docker engine could not be asked (not running, not reachable, no docker CLI)."""


class Engine(Protocol):
    def ping(self) -> str:
        """The engine's version; EngineError when it cannot be reached."""

    def containers(self) -> list[dict]:
        """`docker inspect` of every container (running or not)."""

    def networks(self) -> list[dict]:
        """`docker network inspect` of every network."""

    def volumes(self) -> list[dict]:
        """`docker volume inspect` of every volume."""

    def exec(self, container: str, argv: Sequence[str]) -> tuple[int, str]:
        """Run argv in a running container; (exit code, output)."""

    def network_containers(self, network: str) -> Optional[list[dict]]:
        """`docker inspect` of every container on the network; None when there is no such network."""

    def network_connect(self, network: str, container: str) -> None:
        """Attach a container to a network (EngineError when the engine refuses)."""

    def network_disconnect(self, network: str, container: str) -> None:
        """Detach a container from a network; forced, so that the entry of a network removed
        meanwhile goes too (moby's DisconnectFromNetwork drops it for a stopped container)."""

    def endpoint(self) -> str:
        """The engine's address as the docker CLI uses it: unix:///..., ssh://..., tcp://..."""

    def image_ids(self, refs: Sequence[str]) -> dict[str, str]:
        """Image reference -> ID, for those present on the engine."""

    def start(self, container: str) -> None:
        """Start a stopped container (EngineError when the engine refuses)."""

    def remove(self, container: str) -> None:
        """Remove a container, running or not; its volumes stay."""

    def network_remove(self, network: str) -> None:
        """Remove a network with nothing attached."""

    def stop(self, container: str) -> None:
        """Stop a running container; its restart policy then leaves it stopped."""

    def archive(self, container: str, path: str) -> Optional[bytes]:
        """A tar of `path` inside the container (running or not); None when there is no such path."""

    def put_archive(self, container: str, directory: str, tar: bytes) -> None:
        """Unpack a tar into `directory` inside the container (into its volume where one is mounted)."""

    def logs(self, container: str, since: Optional[float] = None) -> list[tuple[float, str]]:
        """(time, line) of what the container wrote, from `since` (a Unix time) on."""

    def run_once(self, image: str, argv: Sequence[str], *, name: str, volumes_from: str, entrypoint: str,
                 env: Mapping[str, str], labels: Mapping[str, str]) -> tuple[int, str]:
        """Run a container to its end and remove it; (exit code, output). `env` reaches it through
        this process's environment, never the command line."""

    def read_tar(self, container: str, path: str) -> ContextManager[IO[bytes]]:
        """A stream of the tar of `path` inside the container, for content too big to hold."""

    def write_tar(self, container: str, directory: str) -> ContextManager[IO[bytes]]:
        """A stream a tar is written into, unpacked into `directory` inside the container."""

    def volume_create(self, name: str, labels: Mapping[str, str]) -> None:
        """Create a volume; an existing one of that name is left as it is (Docker hands it back)."""

    def create(self, image: str, argv: Sequence[str], *, name: str, mounts: Mapping[str, str], entrypoint: str,
               labels: Mapping[str, str]) -> None:
        """Create (not start) a container that removes itself once it has run; `mounts`: volume -> path."""

    def start_attached(self, container: str) -> tuple[int, str]:
        """Start a created container and wait for its end; (exit code, output)."""


class DockerCli:
    """The docker CLI, against `host` (a stack's docker:host) or else DOCKER_HOST / the default."""

    def __init__(self, docker: str = "docker", host: Optional[str] = None):
        self.docker = docker
        self.env = {**os.environ, "DOCKER_HOST": host} if host else None

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        try:
            out = subprocess.run([self.docker, *args], capture_output=True, text=True, timeout=60, env=self.env)
        except FileNotFoundError:
            raise self._no_cli() from None
        except subprocess.TimeoutExpired:
            raise EngineError(f"`docker {' '.join(args)}` did not answer within 60s") from None
        if check and out.returncode != 0:
            raise _failed(out, args)
        return out

    def ping(self) -> str:
        out = self._run("version", "--format", "{{.Server.Version}}", check=False)
        if out.returncode != 0 or not out.stdout.strip():
            detail = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "no answer"
            raise EngineError(f"cannot reach the Docker engine ({detail}); start Docker or check DOCKER_HOST")
        return f"engine {out.stdout.strip()}"

    def _inspect(self, ids: list[str], *kind: str) -> list[dict]:
        """Those of `ids` still there: one removed between the listing and the inspect (by
        another program at work on the same engine) is left out, not an error. (The docker CLI
        prints the objects it found, then fails naming each missing one: cli/command/inspect.)"""
        if not ids:
            return []
        out = self._run(*kind, "inspect", *ids, check=False)
        errors = [line for line in out.stderr.splitlines() if line.strip()]
        if out.returncode != 0 and (not errors or not all(_gone(line) for line in errors)):
            raise _failed(out, [*kind, "inspect"])
        return json.loads(out.stdout or "[]")

    def containers(self) -> list[dict]:
        ids = self._run("ps", "-aq", "--no-trunc").stdout.split()
        return self._inspect(ids)

    def networks(self) -> list[dict]:
        ids = self._run("network", "ls", "-q", "--no-trunc").stdout.split()
        return self._inspect(ids, "network")

    def volumes(self) -> list[dict]:
        names = self._run("volume", "ls", "-q").stdout.split()
        return self._inspect(names, "volume")

    def exec(self, container: str, argv: Sequence[str]) -> tuple[int, str]:
        out = self._run("exec", container, *argv, check=False)
        return out.returncode, out.stdout + out.stderr

    def network_containers(self, network: str) -> Optional[list[dict]]:
        # `network ls` with an exact-name filter fails only when the engine cannot be asked, so
        # "no such network" is never confused with "no answer".
        found = self._run("network", "ls", "-q", "--no-trunc", "--filter",
                          f"name=^{re.escape(network)}$").stdout.split()
        info = [n for n in self._inspect(found, "network") if n.get("Name") == network]
        if not info:
            return None
        return self._inspect(list(info[0].get("Containers") or {}))

    def network_connect(self, network: str, container: str) -> None:
        out = self._run("network", "connect", network, container, check=False)
        # The engine's own connect step may have joined it already (a recreated network): done.
        if out.returncode != 0 and "already exists in network" not in out.stderr:
            raise EngineError(out.stderr.strip() or f"`docker network connect {network} {container}` failed")

    def network_disconnect(self, network: str, container: str) -> None:
        self._run("network", "disconnect", "--force", network, container)

    def image_ids(self, refs: Sequence[str]) -> dict[str, str]:
        out = {}
        for ref in refs:  # one at a time: an absent image must not hide the others
            found = self._run("image", "inspect", "--format", "{{.Id}}", ref, check=False)
            if found.returncode == 0 and found.stdout.strip():
                out[ref] = found.stdout.strip()
        return out

    def start(self, container: str) -> None:
        self._run("start", container)

    def remove(self, container: str) -> None:
        self._run("rm", "-f", container)

    def network_remove(self, network: str) -> None:
        self._run("network", "rm", network)

    def stop(self, container: str) -> None:
        self._run("stop", container)

    def archive(self, container: str, path: str) -> Optional[bytes]:
        out = self._bytes("cp", f"{container}:{path}", "-")
        if out.returncode != 0:
            err = out.stderr.decode(errors="replace")
            if "Could not find the file" in err or "No such container:path" in err:
                return None
            raise EngineError(err.strip() or f"`docker cp {container}:{path} -` failed")
        return out.stdout

    def put_archive(self, container: str, directory: str, tar: bytes) -> None:
        out = self._bytes("cp", "-", f"{container}:{directory}", stdin=tar)
        if out.returncode != 0:
            raise EngineError(out.stderr.decode(errors="replace").strip() or f"`docker cp - {container}:{directory}` failed")

    def logs(self, container: str, since: Optional[float] = None) -> list[tuple[float, str]]:
        out = self._bytes("logs", "--timestamps", *(["--since", f"{since:.3f}"] if since else []), container)
        if out.returncode != 0:
            raise EngineError(out.stderr.decode(errors="replace").strip() or f"`docker logs {container}` failed")
        return [entry for text in (out.stdout, out.stderr)
                for line in text.decode(errors="replace").splitlines() if (entry := _timestamped(line))]

    def run_once(self, image: str, argv: Sequence[str], *, name: str, volumes_from: str, entrypoint: str,
                 env: Mapping[str, str], labels: Mapping[str, str]) -> tuple[int, str]:
        # --rm is done by the daemon (AutoRemove): the container goes even if this process is killed.
        flags = ["--rm", "--name", name, "--volumes-from", volumes_from, "--entrypoint", entrypoint,
                 "--network", "none", *[f for k in env for f in ("-e", k)], *_label_flags(labels)]
        out = self._bytes("run", *flags, image, *argv, env_extra=env, timeout=3600)
        return out.returncode, (out.stdout + out.stderr).decode(errors="replace")

    def read_tar(self, container: str, path: str) -> ContextManager[IO[bytes]]:
        return self._stream("cp", f"{container}:{path}", "-", reading=True)

    def write_tar(self, container: str, directory: str) -> ContextManager[IO[bytes]]:
        return self._stream("cp", "-", f"{container}:{directory}", reading=False)

    @contextlib.contextmanager
    def _stream(self, *args: str, reading: bool) -> Iterator[IO[bytes]]:
        try:
            proc = subprocess.Popen([self.docker, *args], env=self.env, stderr=subprocess.PIPE,
                                    stdout=subprocess.PIPE if reading else subprocess.DEVNULL,
                                    stdin=None if reading else subprocess.PIPE)
        except FileNotFoundError:
            raise self._no_cli() from None
        pipe = proc.stdout if reading else proc.stdin
        try:
            yield pipe
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            pipe.close()
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            raise EngineError(err.strip() or f"`docker {' '.join(args)}` failed")

    def volume_create(self, name: str, labels: Mapping[str, str]) -> None:
        self._run("volume", "create", *_label_flags(labels), name)

    def create(self, image: str, argv: Sequence[str], *, name: str, mounts: Mapping[str, str], entrypoint: str,
               labels: Mapping[str, str]) -> None:
        self._run("create", "--rm", "--name", name, "--network", "none", "--entrypoint", entrypoint,
                  *[f for vol, path in mounts.items() for f in ("--mount", f"type=volume,source={vol},target={path}")],
                  *_label_flags(labels), image, *argv)

    def start_attached(self, container: str) -> tuple[int, str]:
        out = self._bytes("start", "--attach", container, timeout=3600)
        return out.returncode, (out.stdout + out.stderr).decode(errors="replace")

    def _bytes(self, *args: str, stdin: Optional[bytes] = None, env_extra: Mapping[str, str] = {},
               timeout: float = 600) -> subprocess.CompletedProcess:
        env = {**(self.env or os.environ), **env_extra} if env_extra else self.env
        try:
            return subprocess.run([self.docker, *args], input=stdin, capture_output=True, timeout=timeout, env=env)
        except FileNotFoundError:
            raise self._no_cli() from None
        except subprocess.TimeoutExpired:
            raise EngineError(f"`docker {' '.join(args[:2])}` did not answer within {timeout:.0f}s") from None

    def _no_cli(self) -> EngineError:
        return EngineError(f"the docker CLI ({self.docker}) is not on PATH; install Docker")

    def endpoint(self) -> str:
        host = (self.env or os.environ).get("DOCKER_HOST")
        if host:
            return host
        # No DOCKER_HOST: the current context's (Docker Desktop and Colima set one).
        out = self._run("context", "inspect", "--format", "{{.Endpoints.docker.Host}}", check=False)
        return out.stdout.strip() or DEFAULT_ENDPOINT


def label(container: dict, key: str) -> Optional[str]:
    return ((container.get("Config") or {}).get("Labels") or {}).get(key)


def env_value(container: dict, name: str) -> Optional[str]:
    """A variable of the container's environment, as the engine holds it."""
    for entry in (container.get("Config") or {}).get("Env") or []:
        key, _, value = entry.partition("=")
        if key == name:
            return value
    return None


def name_of(container: dict) -> str:
    return container.get("Name", "").lstrip("/")


def by_name(containers: Sequence[dict]) -> dict[str, dict]:
    return {name_of(c): c for c in containers}


def _label_flags(labels: Mapping[str, str]) -> list[str]:
    return [f for k, v in labels.items() for f in ("--label", f"{k}={v}")]


def state_of(container: dict) -> str:
    state = container.get("State") or {}
    health = (state.get("Health") or {}).get("Status")
    status = state.get("Status", "unknown")
    return f"{status} ({health})" if health and status == "running" else status


def running(container: dict) -> bool:
    return bool((container.get("State") or {}).get("Running"))


def is_registry(container: dict) -> bool:
    """A registry kindreg created (build, cache or mirror), by the labels it sets."""
    return label(container, Label.MANAGED) == MANAGED_VALUE and label(container, Label.ROLE) in tuple(Role)


def addresses(container: dict) -> dict[str, str]:
    """Network name -> the container's IPv4 address on it."""
    nets = (container.get("NetworkSettings") or {}).get("Networks") or {}
    return {name: info.get("IPAddress", "") for name, info in nets.items()}


def _timestamped(line: str) -> Optional[tuple[float, str]]:
    """`docker logs --timestamps` prefixes each line with RFC 3339 time in nanoseconds."""
    stamp, _, text = line.partition(" ")
    try:
        # Python reads at most microseconds: the nanosecond digits past them are dropped.
        head, _, frac = stamp.rstrip("Z").partition(".")
        return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00").timestamp(), text
    except ValueError:
        return None


def _failed(out: subprocess.CompletedProcess, args: Sequence[str]) -> EngineError:
    return EngineError(out.stderr.strip() or f"`docker {' '.join(args)}` failed")


_GONE = re.compile(r"^Error( response from daemon)?: (.*no such \w+.*|network \S+ not found)$", re.IGNORECASE)


def _gone(line: str) -> bool:
    """An inspect error that says the object is no longer there; the daemon words it per kind
    (docker 20.10: "Error: No such object: ID", "... get NAME: no such volume", "... network NAME not found")."""
    return bool(_GONE.match(line.strip()))


class Snapshot:
    """An engine whose listings (containers, networks, volumes, image IDs) are read once and
    then answered from memory; everything else goes to the engine. For looks at several stacks
    between which nothing acts: a `preview`, or an `up` whose earlier stacks were spared."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._lists: dict[str, list[dict]] = {}
        self._images: dict[str, str] = {}
        self._asked: set[str] = set()

    def _list(self, what: str) -> list[dict]:
        if what not in self._lists:
            self._lists[what] = getattr(self._engine, what)()
        return self._lists[what]

    def containers(self) -> list[dict]:
        return self._list("containers")

    def networks(self) -> list[dict]:
        return self._list("networks")

    def volumes(self) -> list[dict]:
        return self._list("volumes")

    def image_ids(self, refs: Sequence[str]) -> dict[str, str]:
        new = [r for r in refs if r not in self._asked]
        if new:
            self._images.update(self._engine.image_ids(new))
            self._asked.update(new)
        return {r: self._images[r] for r in refs if r in self._images}

    def __getattr__(self, name: str):
        return getattr(self._engine, name)
