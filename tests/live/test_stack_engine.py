"""The command line talks to the engine a stack lives on (`docker:host` in its config), not to
whatever DOCKER_HOST says: run against this machine's engine with DOCKER_HOST pointing nowhere."""
import os
import subprocess
import sys

import yaml

from tests.helpers import ROOT
from tests.live.conftest import engine  # noqa: F401

NOWHERE = "unix:///nonexistent/kindreg-test.sock"


def status(project_dir, *args):
    env = {**os.environ, "DOCKER_HOST": NOWHERE, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "kindreg", "status", "--project-dir", str(project_dir), *args],
                          env=env, capture_output=True, text=True)


def stack_file(tmp_path, docker_host=None):
    config = {"kindreg:cluster": {"network": {"cidr": "10.125.76.0/24"}, "registries": {"shared": {"enabled": False}}}}
    if docker_host:
        config["docker:host"] = docker_host
    (tmp_path / "Pulumi.remote.yaml").write_text(yaml.safe_dump({"config": config}))


def test_status_uses_the_stacks_docker_host(engine, tmp_path):
    real = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    stack_file(tmp_path, real)
    out = status(tmp_path, "--stack", "remote")
    assert out.returncode == 0, out.stderr


def test_without_it_docker_host_applies(engine, tmp_path):
    stack_file(tmp_path)
    out = status(tmp_path, "--stack", "remote")
    assert out.returncode == 1
    assert "cannot reach the Docker engine" in out.stderr
