"""An interrupted run is recovered by the next one with no hand work.

`kindreg up` (and `down`) is killed with SIGKILL, process group and all (what an OOM kill, a
cancelled CI job or a crashed laptop does), at several points of its work under the real
engine; the next `kindreg up` succeeds, its checks pass, and `status` says up. Where the engine
had taken its lock, the next run removes it and says so. Ctrl-C once (SIGINT) stops cleanly
and says how to go on.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Callable

import pytest

from tests.doubles import ownership
from tests.engine.conftest import EngineProject, engine_environment
from tests.engine.test_lifecycle import User, project_config, shared_config
from tests.live.conftest import engine, test_images, upstream  # noqa: F401

pytestmark = pytest.mark.engine

NET, PREFIX = "10.218", "krin"
MIRROR, BUILD = f"{PREFIX}-registry-io-docker", f"{PREFIX}-dev-registry-build"
NODE = "in-dev-control-plane"
DEADLINE = 180


def configs(registry_image: str, node_image: str, port: int) -> dict[str, dict]:
    return {"shared": shared_config(registry_image, port, prefix=PREFIX, net=NET),
            "dev": project_config("dev", 125, registry_image, node_image, prefix=PREFIX, net=NET, cluster="in")}


@pytest.fixture(scope="module")
def user(engine, test_images, upstream, tmp_path_factory, pulumi_cli):
    project = EngineProject(tmp_path_factory.mktemp("interrupted"), engine_environment(test_images))
    for stack, config in configs(*test_images, upstream.port).items():
        project.write(stack, config)
    u = User(project, tmp_path_factory.mktemp("config-home"))
    yield u
    for stack in ("dev", "shared"):
        u.run("down", "--stack", stack, "--yes")
    ownership.sweep(engine)


def engine_started(proc: subprocess.Popen) -> bool:
    """The Pulumi CLI runs in the job's process group (it has taken the stack's lock)."""
    out = subprocess.run(["pgrep", "-g", str(proc.pid), "-f", "pulumi"], capture_output=True, text=True)
    return out.returncode == 0


def exists(engine, name: str) -> Callable[[subprocess.Popen], bool]:
    # The low-level listing: the high-level one inspects each container it lists, and fails on
    # one removed in between (the very moment this waits for).
    return lambda proc: bool(engine.api.containers(all=True, filters={"name": f"^{name}$"}))


def gone(engine, name: str) -> Callable[[subprocess.Popen], bool]:
    return lambda proc: not exists(engine, name)(proc)


def kill_when(user: User, args: tuple[str, ...], ready: Callable[[subprocess.Popen], bool]) -> str:
    """Start `kindreg ARGS`, SIGKILL its whole process group the moment `ready` holds."""
    proc = user.start(*args)
    deadline = time.monotonic() + DEADLINE
    while not ready(proc):
        assert proc.poll() is None, f"finished before the kill point: {proc.stdout.read()}"
        assert time.monotonic() < deadline, "the kill point never came"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    return proc.stdout.read()


def locks(user: User) -> list:
    return list(user.project.state.rglob(".pulumi/locks/**/*.json"))


def recovers(user: User, engine) -> str:
    up = user.run("up", "--stack", "dev", "--yes")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "FAIL" not in up.stdout and "stack dev is up" in up.stdout, up.stdout
    status = user.run("status")
    assert status.returncode == 0, status.stdout
    assert "Verdict: stack dev is up as planned" in status.stdout
    assert not locks(user)
    for name in (MIRROR, BUILD, NODE):  # one of each, not two (no duplicate from the killed run)
        assert len(engine.containers.list(filters={"name": f"^{name}$"})) == 1, name
    return up.stdout


KILL_POINTS = {
    "before-the-first-resource": lambda engine: engine_started,
    "while-containers-are-created": lambda engine: exists(engine, MIRROR),
    "while-node-files-are-written": lambda engine: exists(engine, NODE),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_up_killed_is_recovered_by_the_next_up(user, engine, point):
    kill_when(user, ("up", "--stack", "dev", "--yes"), KILL_POINTS[point](engine))
    left = locks(user)
    out = recovers(user, engine)
    if left:  # the engine had its lock: the next run says it removed it
        assert "which is no longer running" in out and "removed the lock on stack" in out, out
    # the next kill point starts from nothing again
    assert user.run("down", "--stack", "dev", "--shared", "--yes").returncode == 0


def test_down_killed_is_recovered_by_the_next_down_and_up(user, engine):
    assert user.run("up", "--stack", "dev", "--yes").returncode == 0
    kill_when(user, ("down", "--stack", "dev", "--yes"), gone(engine, NODE))
    down = user.run("down", "--stack", "dev", "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not engine.containers.list(all=True, filters={"name": "^in-dev-"})
    recovers(user, engine)


def test_a_lock_of_a_live_process_is_never_removed(user, engine):
    """A second run while the first holds the stack waits for it (kindreg's machine lock) and
    then finds nothing to recover."""
    for stack in ("shared", "dev"):  # the first run must run the engine, not take the no-op path
        (user.project.dir / ".kindreg" / stack / "verified.json").unlink(missing_ok=True)
    first = user.start("up", "--stack", "dev", "--yes")
    deadline = time.monotonic() + DEADLINE
    while not engine_started(first):
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    second = user.run("up", "--stack", "dev", "--yes")
    assert first.wait(DEADLINE) == 0, first.stdout.read()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "is being changed by another kindreg (pid" in second.stdout and "waiting for it to finish" in second.stdout
    assert "removed the lock" not in second.stdout


def test_ctrl_c_once_stops_cleanly_and_says_how_to_resume(user, engine):
    assert user.run("down", "--stack", "dev", "--yes").returncode == 0
    proc = user.start("up", "--stack", "dev", "--yes")
    deadline = time.monotonic() + DEADLINE
    while not exists(engine, BUILD)(proc):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # to kindreg alone, as `kill -INT` does: it passes it on once
    code = proc.wait(DEADLINE)
    out = proc.stdout.read()
    assert code == 1, out
    assert "interrupted: the engine finishes the steps under way and saves the state" in out
    assert "run `kindreg up --stack dev` to go on" in out
    assert not locks(user), "a clean stop leaves no lock"
    recovers(user, engine)
