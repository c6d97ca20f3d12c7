"""The warm-mirrors workflow (.github/workflows/warm-mirrors.yml), its steps run as written on two
engines: a first runner with an empty Actions cache, then a fresh runner (a second Docker
engine, started for this test, with nothing but the images) that gets the archive back.

The `run:` scripts come from the workflow itself and run under bash as Actions runs them; the two
actions/cache steps are played by a directory, keyed as the workflow keys them; each `if:` is
the workflow's. The stacks are a shared and a project stack whose mirrors front this test's
upstream. On the fresh runner, `kindreg up` finds the restored mirrors and the node pulls every
image in ci/images.txt without one byte from the upstream; the save is skipped (exact hit).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.doubles import ownership
from tests.engine.conftest import checkout_copy, engine_environment
from tests.helpers import ROOT
from tests.netns import Netns
from tests.live.conftest import Upstream, engine, free_port, stack_configs, test_images, write_stack_files  # noqa: F401

pytestmark = pytest.mark.engine
WORKFLOW = ROOT / ".github" / "workflows" / "warm-mirrors.yml"
IMAGES = {"library/alpha": [{"shared.bin": bytes(range(256)) * 4096}, {"alpha.txt": b"alpha\n"}],
          "library/beta": [{"shared.bin": bytes(range(256)) * 4096}, {"beta.txt": b"beta\n"}]}
HIT, MISS = "steps.cache.outputs.cache-hit != 'true'", "steps.cache.outputs.cache-matched-key != ''"


def workflow_steps() -> dict[str, dict]:
    return {s["name"]: s for s in yaml.safe_load(WORKFLOW.read_text())["jobs"]["kind"]["steps"] if "name" in s}


def job_env() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["kind"]["env"]


@pytest.fixture(scope="module")
def fresh_engine(engine, test_images, stand_in_images, tmp_path_factory):
    """A second Docker engine of this test's own (its pid, its data directory) in a network
    namespace of its own, as a fresh runner is a machine of its own: its networks, bridges and
    firewall rules are its own, and nothing there reaches this test's upstream. It gets the images
    a runner would pull (what the stacks name), loaded from this engine."""
    if os.geteuid() != 0:
        pytest.fail("a second Docker engine needs root (CI runs as root)", pytrace=False)
    home = tmp_path_factory.mktemp("engine2")
    sock = f"unix://{home}/docker.sock"
    ns = Netns(f"kindreg-wci-{os.getpid()}", [])
    # nsenter, not `ip netns exec`: that one also makes a mount namespace without the cgroups.
    enter = ["nsenter", f"--net=/run/netns/{ns.name}"]
    log = open(home / "dockerd.log", "w")
    proc = subprocess.Popen([*enter, "dockerd", "--data-root", f"{home}/data", "--exec-root", f"{home}/exec",
                             "--pidfile", f"{home}/docker.pid", "-H", sock], stdout=log, stderr=log)
    try:
        env = {**os.environ, "DOCKER_HOST": sock}
        for _ in range(60):
            if subprocess.run(["docker", "info"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the second engine did not come up: {(home / 'dockerd.log').read_text()[-2000:]}")
        names = [*stand_in_images, *stand_in_images.values(), *test_images]
        save = subprocess.Popen(["docker", "save", *names], stdout=subprocess.PIPE)
        subprocess.run(["docker", "load"], stdin=save.stdout, env=env, check=True, capture_output=True)
        assert save.wait() == 0
        yield sock, enter
    finally:
        proc.terminate()  # the engine this test started, by its pid
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        ns.close()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def runner(engine, test_images, stand_in_images, pulumi_cli, tmp_path_factory):
    """A checkout as actions/checkout leaves it, whose stacks mirror this test's upstream."""
    up = Upstream(engine, test_images[0], f"kindreg-wci-up-{free_port()}", tmp_path_factory.mktemp("upstream"))
    for repo, layers in IMAGES.items():
        up.push(repo, "1", layers)
    configs = stack_configs(test_images, up.port, names="kindreg-wci", projects="wci", net="10.223")

    def checkout() -> Path:
        """What actions/checkout gives each runner: the repository, nothing a run left."""
        clone = checkout_copy(tmp_path_factory.mktemp("clone"))
        (clone / ".venv").symlink_to(ROOT / ".venv")  # the packages `bin/kindreg` would install
        write_stack_files(clone, {"shared": configs["shared"], "dev": configs["dev"]})
        (clone / "ci" / "images.txt").write_text("# what the job pulls\n" + "".join(
            f"docker.io/{repo}:1\n" for repo in IMAGES))
        return clone
    yield checkout, up
    up.remove()
    ownership.sweep(engine)


def run_job(clone: Path, cache_dir: Path, home: Path, test_images, runner_engine: tuple[str, list] = ("", [])) -> dict:
    """The job's steps in order; returns what each step printed (None: skipped by its `if:`)."""
    steps = workflow_steps()
    docker_host, inside = runner_engine
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "XDG_", "KINDREG_PROJECT", "DOCKER_HOST"))}
    env.update(engine_environment(test_images), HOME=str(home), PULUMI_SKIP_UPDATE_CHECK="true",
               PULUMI_BACKEND_URL=f"file://{home}/.pulumi-kindreg", PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
               **({"DOCKER_HOST": docker_host} if docker_host else {}))
    # The job's env, with the node of this test's project (its stacks name the project "wci-dev").
    env.update({k: str(v) for k, v in job_env().items()}, KINDREG_NODE="wci-dev-control-plane")
    archive = clone / job_env()["KINDREG_ARCHIVE"]
    out: dict = {}

    def script(name: str, extra: dict = {}) -> str:
        step = steps[name]
        result = subprocess.run([*inside, "bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=clone,
                                env={**env, **extra}, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                timeout=1200)
        assert result.returncode == 0, f"{name}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout + result.stderr

    gh_output = home / "github-output"
    gh_output.write_text("")
    key_step = steps["Key of the mirrors' archive"]
    assert set(key_step["env"]) == {"IMAGES_HASH"} and "hashFiles('ci/images.txt')" in key_step["env"]["IMAGES_HASH"]
    script("Key of the mirrors' archive", {"GITHUB_OUTPUT": str(gh_output),
                                           "IMAGES_HASH": hashlib.sha256((clone / "ci/images.txt").read_bytes()).hexdigest()})
    key = dict(line.split("=", 1) for line in gh_output.read_text().split())["key"]
    # actions/cache/restore: an exact key, else the newest entry under a restore-keys prefix.
    restore = steps["Restore the archive"]["with"]
    assert restore["path"] == job_env()["KINDREG_ARCHIVE"] and restore["key"] == "${{ steps.key.outputs.key }}"
    found = sorted(cache_dir.glob(f"{restore['restore-keys']}*"), key=lambda p: p.stat().st_mtime)
    exact = cache_dir / key
    matched = exact if exact.exists() else (found[-1] if found else None)
    if matched:
        archive.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(matched, archive)
    outputs = {"cache-hit": "true" if matched == exact else "false", "cache-matched-key": matched.name if matched else ""}
    conditions = {HIT: outputs["cache-hit"] != "true", MISS: outputs["cache-matched-key"] != ""}
    for name in ("Restore the mirrors", "Bring up the mirrors and the project", "Pull the images through the mirrors",
                 "Save the mirrors"):
        condition = steps[name].get("if")
        out[name] = script(name) if condition is None or conditions[condition] else None
    save = steps["Save the archive"]
    if conditions[save["if"]]:
        assert save["with"]["path"] == restore["path"] and save["with"]["key"] == restore["key"]
        shutil.copy(archive, cache_dir / key)
    out["key"] = key
    return out


def down(clone: Path, home: Path, test_images, runner_engine: tuple[str, list] = ("", [])) -> None:
    docker_host, inside = runner_engine
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "DOCKER_HOST"))}
    env.update(engine_environment(test_images), HOME=str(home), PULUMI_BACKEND_URL=f"file://{home}/.pulumi-kindreg",
               PULUMI_SKIP_UPDATE_CHECK="true", **({"DOCKER_HOST": docker_host} if docker_host else {}))
    out = subprocess.run([*inside, "bin/kindreg", "down", "--stack", "dev", "--shared", "--yes"], cwd=clone, env=env,
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


def test_a_fresh_runner_restores_the_mirrors_and_pulls_nothing_upstream(runner, fresh_engine, test_images, tmp_path):
    checkout, upstream = runner
    cache_dir = tmp_path / "actions-cache"
    cache_dir.mkdir()

    clone = checkout()
    first = run_job(clone, cache_dir, tmp_path / "home1", test_images)
    assert first["Restore the mirrors"] is None  # an empty cache: nothing to restore
    assert "saved 2 image(s)" in first["Save the mirrors"]
    assert (cache_dir / first["key"]).exists()
    cold = sum(upstream.blob_fetches(repo) for repo in IMAGES)
    assert cold > 0
    down(clone, tmp_path / "home1", test_images)

    clone = checkout()  # a fresh runner: a new checkout, a new engine, only what the cache gives
    second = run_job(clone, cache_dir, tmp_path / "home2", test_images, fresh_engine)
    try:
        assert "shared/io-docker: ok: 2 image(s), placed" in second["Restore the mirrors"], second["Restore the mirrors"]
        assert second["Save the mirrors"] is None  # an exact hit: the archive is unchanged
        # The fresh runner cannot even reach the upstream: every image came from the restored mirrors.
        assert sum(upstream.blob_fetches(repo) for repo in IMAGES) == cold
    finally:
        down(clone, tmp_path / "home2", test_images, fresh_engine)
