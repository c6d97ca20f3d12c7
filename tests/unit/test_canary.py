"""A canary password through every credential source and every command: it reaches the
registry container's secret environment and nothing else (no message, plan, output, file).

Sources: a ${VAR} placeholder, a `docker login` (opted in with useDockerLogin) in `auths` and
through a credential helper, Pulumi secret config. Commands: validate, plan (text and JSON), plan --all, diff, doctor, status, and the
Pulumi program's resources and outputs (under mocks; the engine level checks the state file).
"""
from __future__ import annotations

import base64
import contextlib
import io
import json

import pytest
import yaml

from kindreg import cli
from tests.fake_engine import FakeEngine, registry
from tests.mocks.harness import fake_host, run_stack

CANARY = "Canary-Pa55word-do-not-print"
ENV_CANARY = "Env-Canary-do-not-print"
LOGIN_CANARY = "Login-Canary-do-not-print"
HELPER_CANARY = "Helper-Canary-do-not-print"
CANARIES = (CANARY, ENV_CANARY, LOGIN_CANARY, HELPER_CANARY)
HELPER = f"""#!/bin/sh
read -r server
[ "$server" = gcr.io ] || {{ echo "credentials not found in native keychain"; exit 1; }}
printf '{{"ServerURL":"gcr.io","Username":"_json_key","Secret":"{HELPER_CANARY}"}}\\n'
"""

SHARED = {"kindreg:shared": {"mirrors": [
    {"name": "io-ghcr", "url": "https://ghcr.io", "username": "octo", "password": "${GHCR_TOKEN}"},
    {"name": "io-docker", "url": "https://registry-1.docker.io", "useDockerLogin": True},
    {"name": "io-quay", "url": "https://quay.io"},
    {"name": "io-gcr", "url": "https://gcr.io", "useDockerLogin": True}]}}
PROJECT = {"kindreg:cluster": {"network": {"cidr": "10.125.70.0/24"}, "nodes": {"enabled": False}}}


@pytest.fixture
def machine(tmp_path, monkeypatch):
    (tmp_path / "Pulumi.shared.yaml").write_text(yaml.safe_dump({"config": SHARED}))
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": PROJECT}))
    docker_config = tmp_path / "docker"
    docker_config.mkdir()
    auth = base64.b64encode(f"hubuser:{LOGIN_CANARY}".encode()).decode()
    (docker_config / "config.json").write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": auth}},
                                                           "credHelpers": {"gcr.io": "canary"}}))
    helper = tmp_path / "bin" / "docker-credential-canary"
    helper.parent.mkdir()
    helper.write_text(HELPER)
    helper.chmod(0o755)
    env = {"GHCR_TOKEN": ENV_CANARY, "DOCKER_CONFIG": str(docker_config), "HOME": str(tmp_path)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return tmp_path, env


def run_cli(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        cli.main(list(args))
    return out.getvalue() + err.getvalue()


def assert_clean(text: str, where: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{where} shows a password"


def test_no_command_shows_a_password(machine, monkeypatch, tmp_path):
    project, _ = machine
    d = str(project)
    for args in (["validate", "--project-dir", d], ["plan", "--project-dir", d, "--stack", "shared"],
                 ["plan", "--project-dir", d, "--stack", "shared", "--json"],
                 ["plan", "--project-dir", d, "--all", "--json"], ["plan", "--project-dir", d, "--stack", "dev"]):
        assert_clean(run_cli(*args), " ".join(args[:1]))
    plans = tmp_path / "plans.json"
    plans.write_text(run_cli("plan", "--project-dir", d, "--all", "--json"))
    assert_clean(run_cli("diff", str(plans), str(plans)), "diff")
    from tests.helpers import plan_of
    shared = plan_of("shared", project)
    engine = FakeEngine([registry(m) for m in shared.mirrors])
    monkeypatch.setattr(cli, "ENGINE", lambda: engine)
    for args in (["status"], ["status", "--json"], ["doctor", "--project-dir", d]):
        assert_clean(run_cli(*args), args[0])


def test_the_program_puts_passwords_only_in_secret_inputs(machine):
    project, env = machine
    host = fake_host(project, env=env)
    host.which = lambda tool: str(project / "bin" / tool) if tool.startswith("docker-credential-") else f"/usr/bin/{tool}"
    config = {**SHARED, "kindreg:mirrorCredentials": {"io-quay": {"username": "q", "password": CANARY}}}
    run = run_stack("shared", config, host, secret_keys=("kindreg:mirrorCredentials",))
    found = {}
    for r in run.resources:
        for key, value in r.inputs.items():
            text = json.dumps(value, default=str)
            for canary in CANARIES:
                if canary in text:
                    found.setdefault(canary, []).append((r.name, key, key in r.secret_inputs))
    # Each password is in exactly one place: its mirror container's environment, as a secret.
    assert found == {
        ENV_CANARY: [("shared-io-ghcr-container", "envs", True)],
        LOGIN_CANARY: [("shared-io-docker-container", "envs", True)],
        CANARY: [("shared-io-quay-container", "envs", True)],
        HELPER_CANARY: [("shared-io-gcr-container", "envs", True)],
    }
    assert_clean(json.dumps(run.outputs, default=str), "stack outputs")
    assert_clean(repr(run.logs), "program logs")


def test_a_secret_config_that_is_not_json_is_not_quoted(machine):
    project, env = machine
    run = run_stack("shared", {**SHARED, "kindreg:mirrorCredentials": f"not json {CANARY}"},
                    fake_host(project, env=env), secret_keys=("kindreg:mirrorCredentials",), expect_error=True)
    assert "kindreg:mirrorCredentials" in str(run.error)
    assert_clean(str(run.error) + repr(run.logs), "error")


def test_doctor_says_what_a_docker_login_on_a_shared_mirror_exposes(machine, monkeypatch):
    project, _ = machine
    monkeypatch.setattr(cli, "ENGINE", lambda: FakeEngine())
    text = run_cli("doctor", "--project-dir", str(project), "--stack", "shared")
    assert ("warn  mirror io-docker pulls from https://registry-1.docker.io with your docker login: every "
            "container on network lok8s-registries (the kind nodes of every project that uses it) can pull "
            "your private images from http://10.125.200.2 without credentials, over plain HTTP") in text
