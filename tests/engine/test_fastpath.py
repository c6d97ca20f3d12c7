"""The no-op `up` under the real engine: spared only when nothing it depends on moved.

A shared stack and a project come up once. A second `up` with nothing changed does not run the
engine (no update in either stack's history) and still checks everything. Then, one at a time,
an input of the stack or a piece of the world is changed the way a user or another program
changes it, and the next `up` takes the full path (the engine runs; an update is recorded),
after which `up` is spared again. tests/engine/test_heal.py holds every drift kind to the same.
"""
from __future__ import annotations

import subprocess
from typing import Callable

import pytest
import yaml

from kindreg.core import resources
from kindreg.ops.lifecycle import SPARED
from tests.doubles import ownership
from tests.engine.conftest import EngineProject, engine_environment
from tests.engine.test_lifecycle import User, project_config, shared_config, updates
from tests.live.conftest import engine, test_images, upstream  # noqa: F401

pytestmark = pytest.mark.engine

NET, PREFIX = "10.221", "krfp"
CACHE = f"{PREFIX}-dev-registry-cache"


def configs(registry: str, node: str, port: int) -> dict[str, dict]:
    return {"shared": shared_config(registry, port, prefix=PREFIX, net=NET),
            "dev": project_config("dev", 125, registry, node, workers=0, prefix=PREFIX, net=NET, cluster="fp")}


@pytest.fixture(scope="module")
def user(engine, test_images, upstream, tmp_path_factory, pulumi_cli):
    project = EngineProject(tmp_path_factory.mktemp("fastpath"), engine_environment(test_images))
    for stack, config in configs(*test_images, upstream.port).items():
        project.write(stack, config)
    u = User(project, tmp_path_factory.mktemp("config-home"))
    try:
        out = u.run("up", "--stack", "dev", "--yes")
        assert out.returncode == 0, out.stdout + out.stderr
        yield u
    finally:
        for stack in ("dev", "shared"):
            u.run("down", "--stack", stack, "--yes")
        ownership.sweep(engine)


def up(user: User) -> subprocess.CompletedProcess:
    out = user.run("up", "--stack", "dev", "--yes")
    assert out.returncode == 0, out.stdout + out.stderr
    checks = [line for line in out.stdout.splitlines() if line.startswith(("  ok  ", "  FAIL"))]
    assert checks and all(line.startswith("  ok  ") for line in checks), out.stdout
    return out


def spared(out: subprocess.CompletedProcess, stack: str = "dev") -> bool:
    return f"stack {stack} {SPARED}" in out.stdout


def test_a_no_op_up_spares_the_engine_and_still_checks(user):
    up(user)  # the first up's record; a later up must find it
    before = {s: updates(user, s) for s in ("dev", "shared")}
    out = up(user)
    assert spared(out, "dev") and spared(out, "shared"), out.stdout
    assert {s: updates(user, s) for s in ("dev", "shared")} == before
    assert "checks of stack dev:" in out.stdout


def _edit_stack_file(user: User) -> None:
    path = user.project.dir / "Pulumi.dev.yaml"
    path.write_text(path.read_text() + "# a comment is an edit too\n")


def _edit_shared_file(user: User) -> None:
    path = user.project.dir / "Pulumi.shared.yaml"
    path.write_text(path.read_text() + "# the shared stack's file is read by dev's plan\n")


def _add_stack(user: User) -> None:
    """Written, not brought up: the dev stack's plan is checked against it."""
    doc = yaml.safe_load((user.project.dir / "Pulumi.dev.yaml").read_text())
    cluster = doc["config"]["kindreg:cluster"]
    cluster.update(name="fp-qa", network={"name": f"{PREFIX}-qa", "cidr": f"{NET}.126.0/24"})
    (user.project.dir / "Pulumi.qa.yaml").write_text(yaml.safe_dump({"config": {"kindreg:cluster": cluster}}))


def _touch_program(user: User) -> None:
    path = next((user.project.dir / "components").glob("*.py"))
    path.write_text(path.read_text() + "\n")


def _refresh_by_hand(user: User) -> None:
    project = user.project
    project.env.pop("PULUMI_CONFIG_PASSPHRASE", None)
    project.env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(user.passphrase)
    project.stack("dev").refresh()


def _update_restart_policy(user: User) -> None:
    """A setting drift does not model: the container's settings digest still sees it."""
    subprocess.run(["docker", "update", "--restart", "no", CACHE], check=True, capture_output=True)


def _remove_cache(user: User) -> None:
    subprocess.run(["docker", "rm", "-f", CACHE], check=True, capture_output=True)


def _stop_cache(user: User) -> None:
    subprocess.run(["docker", "stop", "-t", "1", CACHE], check=True, capture_output=True)


def _variable(user: User) -> None:
    user.env["DOCKER_CONTEXT"] = "default"


CHANGES: list[tuple[str, Callable[[User], None]]] = [
    ("configuration: the stack file edited", _edit_stack_file),
    ("configuration: the shared stack's file edited", _edit_shared_file),
    ("configuration: a variable the engine reads", _variable),
    ("program: a component's file edited", _touch_program),
    ("state: refreshed outside kindreg", _refresh_by_hand),
    ("world: a container's setting changed", _update_restart_policy),
    ("world: a container removed", _remove_cache),
    ("world: a container stopped", _stop_cache),
]


def test_another_stack_in_the_directory_is_checked_against_and_spares_the_engine(user):
    out = up(user)
    assert spared(out), out.stdout
    _add_stack(user)
    out = up(user)
    assert spared(out), out.stdout
    clash = yaml.safe_load((user.project.dir / "Pulumi.qa.yaml").read_text())
    clash["config"]["kindreg:cluster"]["network"]["cidr"] = f"{NET}.125.0/24"  # dev's subnet
    (user.project.dir / "Pulumi.qa.yaml").write_text(yaml.safe_dump(clash))
    refused = user.run("up", "--stack", "dev", "--yes")
    assert refused.returncode == 2 and "qa" in refused.stderr, refused.stdout + refused.stderr
    (user.project.dir / "Pulumi.qa.yaml").unlink()


def test_preview_skips_a_stack_that_has_not_moved_and_runs_one_that_has(user):
    out = up(user)
    assert spared(out), out.stdout
    out = user.run("preview", "--stack", "dev")
    assert out.returncode == 0, out.stdout + out.stderr
    for stack in ("shared", "dev"):
        assert f"== stack {stack}: preview skipped: it {SPARED}" in out.stdout, out.stdout
    _stop_cache(user)
    out = user.run("preview", "--stack", "dev")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "== stack shared: preview skipped" in out.stdout, out.stdout
    assert "== stack dev: preview (1 thing(s) differ from the plan)" in out.stdout, out.stdout
    up(user)


@pytest.mark.parametrize("change", [c for _, c in CHANGES], ids=[n for n, _ in CHANGES])
def test_any_change_takes_the_full_path_then_up_is_spared_again(user, change):
    out = up(user)
    assert spared(out), f"the round starts from a stack whose up is spared:\n{out.stdout}"
    before = updates(user, "dev")
    change(user)
    out = up(user)
    assert not spared(out), out.stdout
    assert updates(user, "dev") > before, "the engine ran on the stack"
    out = up(user)
    assert spared(out), f"after a verified full path, the next up is spared:\n{out.stdout}"



DRIFTED = "replacing what drifted"


def test_drift_alone_is_healed_through_the_drifted_resources_and_drift_with_an_edit_through_the_stack(user):
    out = up(user)
    assert spared(out), out.stdout
    _remove_cache(user)
    out = up(user)  # every check passes: the cache is back, and nothing else was lost
    assert f"== stack dev: up, {DRIFTED}: {resources.registry_container('dev', 'cache')}" in out.stdout, out.stdout
    assert spared(up(user)), "the targeted heal left a record the next up trusts"
    _remove_cache(user)
    _edit_stack_file(user)
    out = up(user)
    assert "== stack dev: up\n" in out.stdout and DRIFTED not in out.stdout, out.stdout
    assert spared(up(user))
