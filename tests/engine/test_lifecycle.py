"""`kindreg up / preview / down` as a user runs them, through the real Pulumi engine.

The commands run as processes in a copy of the program, with no passphrase in the environment
(kindreg creates one), against the engine-level provider doubles and the kind double. The
tests build on each other in file order: up from nothing, up again, a preview after a change,
a second project, down, and down --shared (refused while the second project is attached).
"""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import pytest

from kindreg.ops.lifecycle import SPARED
from tests.doubles import ownership
from tests.live import images
from tests.engine.conftest import EngineProject, engine_environment
from tests.live.conftest import engine, test_images, upstream  # noqa: F401

pytestmark = pytest.mark.engine

NET, PREFIX = "10.216", "krlc"


def shared_config(registry_image: str, port: int, prefix: str = PREFIX, net: str = NET) -> dict:
    """A shared stack of one mirror (and its front cache) of the test upstream on `port`; each
    module gives its own `prefix` and `net`, so modules can run side by side on one engine."""
    return {"kindreg:shared": {
        "network": {"name": f"{prefix}-registries", "cidr": f"{net}.200.0/24"}, "prefix": prefix,
        "image": registry_image, "frontCache": images.front_cache(),
        "mirrors": [{"name": "io-docker", "url": f"http://{net}.200.1:{port}", "host": "docker.io"}]}}


def project_config(name: str, slot: int, registry_image: str, node_image: str, workers: int = 1,
                   prefix: str = PREFIX, net: str = NET, cluster: str = "lc") -> dict:
    """A project in shared mode; its kind cluster is `<cluster>-<name>`."""
    return {"kindreg:cluster": {
        "name": f"{cluster}-{name}", "network": {"name": f"{prefix}-{name}", "cidr": f"{net}.{slot}.0/24"},
        "registries": {"image": registry_image, "shared": {"enabled": True}},
        "nodes": {"workers": workers, "image": node_image}}}


class User:
    """`python -m kindreg` in the project copy, as the user's shell would run it."""

    def __init__(self, project: EngineProject, config_home):
        self.project = project
        self.env = {**os.environ, **project.env, "XDG_CONFIG_HOME": str(config_home),
                    "PYTHONPATH": str(project.dir)}
        self.env.pop("PULUMI_CONFIG_PASSPHRASE")
        self.passphrase = config_home / "kindreg" / "passphrase"

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "kindreg", *args, "--project-dir", str(self.project.dir)]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        out = subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        self.project.logs += [out.stdout, out.stderr]
        return out

    def start(self, *args: str) -> subprocess.Popen:
        """A run in a session of its own (as a shell's job is): its process group can be killed
        whole, the engine and its plugins with it, and nothing else."""
        return subprocess.Popen(self.argv(*args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, stdin=subprocess.DEVNULL, start_new_session=True)


@pytest.fixture(scope="module")
def user(engine, test_images, upstream, tmp_path_factory):
    # No sweep before: it would take the upstream this fixture was just given (labelled as this run's).
    project = EngineProject(tmp_path_factory.mktemp("lifecycle"), engine_environment(test_images))
    registry, node = test_images
    project.write("shared", shared_config(registry, upstream.port))
    project.write("dev", project_config("dev", 125, registry, node))
    project.write("qa", project_config("qa", 126, registry, node))
    u = User(project, tmp_path_factory.mktemp("config-home"))
    yield u
    for stack in ("qa", "dev", "shared"):
        u.run("down", "--stack", stack, "--yes")
    ownership.sweep(engine)


def updates(user: User, stack: str) -> int:
    """How many updates (up, refresh or destroy) the stack's history holds. (One large page:
    unpaged, the CLI lists the latest 10; and a file backend numbers no update, version 0.)"""
    project = user.project
    project.env.pop("PULUMI_CONFIG_PASSPHRASE", None)
    project.env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(user.passphrase)
    return len(project.stack(stack).history(page_size=100_000))


def running(engine, *names: str) -> dict[str, bool]:
    found = {c.name for c in engine.containers.list(filters={"status": "running"})}
    return {n: n in found for n in names}


DEV = ("krlc-dev-registry-build", "lc-dev-control-plane", "lc-dev-worker")
SHARED = ("krlc-registry-io-docker",)


def test_up_from_nothing_brings_up_shared_then_the_project(user, engine, pulumi_cli):
    out = user.run("up", "--stack", "dev", "--yes")
    assert out.returncode == 0, out.stderr + out.stdout
    assert out.stdout.index("== stack shared: up") < out.stdout.index("== stack dev: up")
    assert "stack dev is up: project lc-dev" in out.stdout
    assert "kind cluster lc-dev: kubectl --context kind-lc-dev" in out.stdout
    assert f"created a passphrase for this machine's stacks in {user.passphrase} (mode 0600)" in out.stdout
    assert stat.S_IMODE(user.passphrase.stat().st_mode) == 0o600
    assert user.passphrase.read_text().strip() not in out.stdout + out.stderr
    assert all(running(engine, *DEV, *SHARED).values()), running(engine, *DEV, *SHARED)


def test_up_again_spares_the_engine_and_leaves_shared_alone(user):
    before = {s: updates(user, s) for s in ("shared", "dev")}
    out = user.run("up", "--stack", "dev", "--yes")
    assert out.returncode == 0, out.stderr + out.stdout
    assert f"stack shared {SPARED}" in out.stdout and f"stack dev {SPARED}" in out.stdout, out.stdout
    assert "created a passphrase" not in out.stdout
    assert {s: updates(user, s) for s in ("shared", "dev")} == before  # not even a no-op update


def test_up_without_a_record_runs_the_engine_and_leaves_a_current_shared_stack_alone(user):
    for stack in ("shared", "dev"):
        (user.project.dir / ".kindreg" / stack / "verified.json").unlink()
    before = {s: updates(user, s) for s in ("shared", "dev")}
    out = user.run("up", "--stack", "dev", "--yes")
    assert out.returncode == 0, out.stderr + out.stdout
    assert "stack shared is current: left alone" in out.stdout
    assert updates(user, "shared") == before["shared"]  # not even a no-op update
    last = user.project.stack("dev").history(page_size=1)[0]
    assert updates(user, "dev") == before["dev"] + 1
    assert set(last.resource_changes) == {"same"}, last.resource_changes


def test_push_credentials_come_decrypted_from_the_stacks_secret_config(user):
    """What `push` reads for workload.registry: `config set --secret --path` values, decrypted by
    the engine with the passphrase kindreg created; the stack file holds only ciphertext."""
    from kindreg.adapters.pulumi import Engine
    updates(user, "dev")  # the helper's engine now uses the passphrase file too
    for field, value in (("username", "robot"), ("password", "Workload-Canary-do-not-print")):
        user.project.secret("dev", f"kindreg:workloadCredentials.{field}", value)
    stacks = Engine(user.project.dir, {**user.env, "PULUMI_CONFIG_PASSPHRASE_FILE": str(user.passphrase)})
    assert stacks.config_object("dev", "kindreg:workloadCredentials") == {
        "username": "robot", "password": "Workload-Canary-do-not-print"}
    assert "Workload-Canary" not in (user.project.dir / "Pulumi.dev.yaml").read_text()
    out = user.run("validate", "--stack", "dev")
    assert out.returncode == 0, out.stderr
    user.project.remove("dev", "kindreg:workloadCredentials")


def test_preview_after_a_config_change_shows_it_and_changes_nothing(user, engine, test_images):
    registry, node = test_images
    user.project.write("dev", project_config("dev", 125, registry, node, workers=2))
    before = updates(user, "dev")
    out = user.run("preview", "--stack", "dev", "--diff")
    assert out.returncode == 0, out.stderr + out.stdout
    assert out.stdout.index("== stack shared: preview") < out.stdout.index("== stack dev: preview")
    dev = out.stdout.split("== stack dev: preview")[1]
    # A new node: the kind config's diff shows it, and kind makes the cluster again.
    assert re.search(r'\+ role\s*: "worker"', dev) and "+-3 to replace" in dev, dev
    assert updates(user, "dev") == before
    assert not running(engine, "lc-dev-worker2")["lc-dev-worker2"]


def test_a_bad_config_is_refused_before_the_engine(user, test_images):
    registry, node = test_images
    user.project.write("qa", project_config("qa", 125, registry, node))  # dev's subnet
    out = user.run("up", "--stack", "qa", "--yes")
    assert out.returncode == 2
    assert "== stack" not in out.stdout
    user.project.write("qa", project_config("qa", 126, registry, node))


def test_down_shared_is_refused_while_another_project_is_attached(user, engine):
    up = user.run("up", "--stack", "qa", "--yes")
    assert up.returncode == 0, up.stderr + up.stdout
    assert f"stack shared {SPARED}" in up.stdout, up.stdout
    out = user.run("down", "--stack", "dev", "--shared", "--yes")
    assert out.returncode == 1
    assert "not destroying the shared registries: network krlc-registries is still used by" in out.stderr
    assert "project lc-qa: lc-qa-control-plane, lc-qa-worker" in out.stderr
    assert "lc-dev" not in out.stderr  # the project going down with it does not count
    assert all(running(engine, *DEV, *SHARED).values())  # nothing half-done


def test_down_destroys_the_project_only(user, engine):
    out = user.run("down", "--stack", "qa", "--yes")
    assert out.returncode == 0, out.stderr + out.stdout
    assert not any(running(engine, "krlc-qa-registry-build", "lc-qa-control-plane").values())
    assert all(running(engine, *DEV, *SHARED).values())


def test_down_shared_destroys_the_project_then_the_mirrors(user, engine):
    out = user.run("down", "--stack", "dev", "--shared", "--yes")
    assert out.returncode == 0, out.stderr + out.stdout
    assert out.stdout.index("== stack dev: destroy") < out.stdout.index("== stack shared: destroy")
    assert not any(running(engine, *DEV, *SHARED).values())
    assert user.project.outputs("shared") == {}
