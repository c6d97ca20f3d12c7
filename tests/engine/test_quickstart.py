"""The README's quick start, as a new user runs it: a copy of the checkout (the files git
tracks), a home directory with nothing in it, and the README's own first command, taken from
the README. It must install kindreg's Python packages, bring up the shared stack and the
default project on this machine's engine through the real Pulumi engine (kind replaced by its
double, the providers by the engine level's doubles), and print where things are. The second
command is the test suite itself, which `.ci/run` runs (tests/unit/test_readme.py checks that).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kindreg.core.describe import where
from kindreg.ops import project
from tests.doubles import ownership
from tests.engine.conftest import checkout_copy, engine_environment
from tests.helpers import ROOT
from tests.live.conftest import engine, test_images  # noqa: F401
from tests.unit.test_readme import quick_start

pytestmark = pytest.mark.engine



def taken_by_others(engine, plans) -> list[str]:
    """Names the default stacks create that something else on this engine already holds."""
    names = {("network", p.network.name) for p in plans}
    names |= {("container", r.container) for p in plans for r in p.registries}
    names |= {("container", n) for p in plans if hasattr(p, "nodes") for n in p.nodes.names}
    out = []
    for kind, name in sorted(names):
        found = (engine.networks.list(names=[name]) if kind == "network" else
                 engine.containers.list(all=True, filters={"name": f"^{name}$"}))
        out += [f"{kind} {name}" for obj in found if not ownership.ours(obj.attrs.get("Labels") or
                                                                    (obj.attrs.get("Config") or {}).get("Labels"))]
    return out


@pytest.fixture(scope="module")
def new_user(engine, test_images, stand_in_images, pulumi_cli, tmp_path_factory):
    plans = [project.plan(ROOT, s) for s in ("shared", "dev")]
    clash = taken_by_others(engine, plans)
    if clash:
        pytest.fail("the quick start brings up the repository's default stacks, but this engine already has "
                    f"{', '.join(clash)} (not this test run's); run the tests on another engine", pytrace=False)
    clone = checkout_copy(tmp_path_factory.mktemp("clone"))
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "XDG_", "KINDREG_PROJECT"))}
    # Pulumi resolves the `~` of Pulumi.yaml's backend from the user database, not $HOME, so the
    # state is kept off the user's own with the documented override, at a path that does not exist
    # yet, as ~/.pulumi-kindreg does not on a fresh machine.
    env.update(engine_environment(test_images), HOME=str(home), PULUMI_SKIP_UPDATE_CHECK="true",
               PULUMI_BACKEND_URL=f"file://{home}/.pulumi-kindreg",
               PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
               PIP_CACHE_DIR=str(Path(os.environ.get("HOME", "/root")) / ".cache" / "pip"))
    yield clone, home, env
    subprocess.run(["bin/kindreg", "down", "--stack", "dev", "--shared", "--yes"], cwd=clone, env=env,
                   capture_output=True, text=True, stdin=subprocess.DEVNULL)
    ownership.sweep(engine)


def test_the_readme_first_command_brings_up_shared_and_dev_and_says_where(new_user, engine):
    clone, home, env = new_user
    command = quick_start()[0]
    out = subprocess.run(["sh", "-c", command], cwd=clone, env=env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=1200)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "installing its Python packages" in out.stderr  # a fresh checkout: the first run installs
    assert (clone / ".venv" / "bin" / "python").exists()
    assert where(project.plan(clone, "dev")) in out.stdout
    assert out.stdout.index("== stack shared: up") < out.stdout.index("== stack dev: up")
    state = home / ".pulumi-kindreg"
    assert f"created {state} for the stacks' state" in out.stdout
    assert {p.stem for p in state.rglob("*.json") if p.parent.name == "kindreg"} >= {"shared", "dev"}, \
        sorted(str(p) for p in state.rglob("*"))
    assert (home / ".config" / "kindreg" / "passphrase").exists()
    up = {c.name for c in engine.containers.list(filters={"status": "running"})}
    assert {"lok8s-registry-build", "lok8s-registry-cache", "lok8s-registry-io-docker",
            "dev-control-plane", "dev-worker"} <= up
    assert (clone / ".kindreg" / "dev" / "certs.d" / "docker.io" / "hosts.toml").exists()
