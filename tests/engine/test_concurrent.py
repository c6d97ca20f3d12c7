"""Several projects at once on one machine, under the real engine.

2, then 4, projects' `kindreg up` started at the same moment from nothing: all succeed, the
shared mirrors are created once (one container, one network), and whoever comes second to the
shared stack waits with a message. Then `kindreg down` of one project while another's `up`
runs: both succeed and neither touches the other's things.
"""
from __future__ import annotations

import pytest

from tests.doubles import ownership
from tests.engine.conftest import EngineProject, engine_environment
from tests.engine.test_lifecycle import User
from tests.live import images
from tests.live.conftest import engine, test_images, upstream  # noqa: F401

pytestmark = pytest.mark.engine

NET, PREFIX = "10.219", "krcc"
MIRROR, SHARED_NET = f"{PREFIX}-registry-io-docker", f"{PREFIX}-registries"
PROJECTS = ("p1", "p2", "p3", "p4")
TIMEOUT = 600


def configs(registry_image: str, node_image: str, port: int) -> dict[str, dict]:
    out = {"shared": {"kindreg:shared": {
        "network": {"name": SHARED_NET, "cidr": f"{NET}.200.0/24"}, "prefix": PREFIX,
        "image": registry_image, "frontCache": images.front_cache(),
        "mirrors": [{"name": "io-docker", "url": f"http://{NET}.200.1:{port}", "host": "docker.io"}]}}}
    for i, name in enumerate(PROJECTS, start=11):
        out[name] = {"kindreg:cluster": {
            "name": f"cc-{name}", "network": {"name": f"{PREFIX}-{name}", "cidr": f"{NET}.{i}.0/24"},
            "registries": {"image": registry_image, "shared": {"enabled": True}},
            "nodes": {"workers": 0, "image": node_image}}}
    return out


@pytest.fixture(scope="module")
def user(engine, test_images, upstream, tmp_path_factory, pulumi_cli):
    project = EngineProject(tmp_path_factory.mktemp("concurrent"), engine_environment(test_images))
    for stack, config in configs(*test_images, upstream.port).items():
        project.write(stack, config)
    u = User(project, tmp_path_factory.mktemp("config-home"))
    yield u
    for stack in (*PROJECTS, "shared"):
        u.run("down", "--stack", stack, "--yes")
    ownership.sweep(engine)


def together(user: User, *runs: tuple[str, ...]) -> list[tuple[int, str]]:
    """Start every run at once; (exit code, output) of each once all are done."""
    procs = [user.start(*args) for args in runs]
    return [(p.wait(TIMEOUT), p.stdout.read()) for p in procs]


def shared_once(engine) -> None:
    assert len(engine.containers.list(all=True, filters={"name": f"^{MIRROR}$"})) == 1
    assert len([n for n in engine.networks.list() if n.name == SHARED_NET]) == 1


def down_all(user: User) -> None:
    for stack in (*PROJECTS, "shared"):
        out = user.run("down", "--stack", stack, "--yes")
        assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("count", [2, 4])
def test_projects_brought_up_at_once_all_succeed_and_share_one_mirror_set(user, engine, count):
    names = PROJECTS[:count]
    results = together(user, *(("up", "--stack", n, "--yes") for n in names))
    for name, (code, out) in zip(names, results):
        assert code == 0, f"{name}: {out}"
        assert f"stack {name} is up" in out and "FAIL" not in out, out
        assert "already exists" not in out
    shared_once(engine)
    waited = [out for _, out in results if "stack shared is being changed by another kindreg" in out]
    assert waited, "whoever came second to the shared stack must have waited, saying so"
    status = user.run("status")
    assert status.returncode == 0, status.stdout
    for name in names:
        assert f"Verdict: stack {name} is up as planned" in status.stdout
    down_all(user)


def test_down_of_one_project_while_another_comes_up_breaks_neither(user, engine):
    for name in ("p1", "p2"):
        assert user.run("up", "--stack", name, "--yes").returncode == 0
    (up_code, up_out), (down_code, down_out) = together(user, ("up", "--stack", "p3", "--yes"),
                                                        ("down", "--stack", "p1", "--yes"))
    assert up_code == 0, up_out
    assert down_code == 0, down_out
    assert not engine.containers.list(all=True, filters={"name": "^cc-p1-"})
    status = user.run("status")
    assert status.returncode == 0, status.stdout
    for name in ("p2", "p3", "shared"):
        assert f"Verdict: stack {name} is up as planned" in status.stdout
    shared_once(engine)
