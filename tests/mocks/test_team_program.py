"""The team tier's graph under recording mocks: what reaches the containers, and as what."""
from __future__ import annotations

import pytest

from kindreg.adapters.files import read_text
from kindreg.core import frontcache, htpasswd, render
from kindreg.core.sources import read_stack_config
from tests.helpers import PROJECT
from tests.mocks.harness import fake_host, run_stack

CONTAINER = "docker:index/container:Container"
SECRET_KEY, PASSWORD = "team-secret-key-7", "team-password-9"
TEAM_SECRETS = {"kindreg:s3Credentials": {"accessKey": "AKTEAM", "secretKey": SECRET_KEY},
                "kindreg:authPasswords": {"ci": PASSWORD, "alice": PASSWORD + "a"}}
SECRET_KEYS = ("kindreg:s3Credentials", "kindreg:authPasswords", "kindreg:mirrorCredentials")
CA = "-----BEGIN CERTIFICATE-----\nteam\n-----END CERTIFICATE-----\n"


@pytest.fixture
def host(tmp_path):
    (tmp_path / "team-ca.pem").write_text(CA)
    return fake_host(tmp_path, caroot=tmp_path / "caroot")


def config(stack: str, **extra) -> dict:
    return {**read_stack_config(PROJECT, stack, read_text), **extra}


def container(run, name: str):
    return next(c for c in run.of_type(CONTAINER) if c.inputs["name"] == name)


def uploads(c) -> dict:
    return {u["file"]: (i, u) for i, u in enumerate(c.inputs["uploads"])}


def test_the_keys_and_the_htpasswd_reach_the_team_mirror_as_secrets_only(host):
    run = run_stack("team", config("team", **TEAM_SECRETS), host, secret_keys=SECRET_KEYS)
    mirror = container(run, "team-registry-io-docker")
    assert "REGISTRY_STORAGE_S3_ACCESSKEY=AKTEAM" in mirror.inputs["envs"]
    assert f"REGISTRY_STORAGE_S3_SECRETKEY={SECRET_KEY}" in mirror.inputs["envs"]
    assert "envs" in mirror.secret_inputs
    i, up = uploads(mirror)[render.HTPASSWD_PATH]
    assert f"uploads[{i}].content" in mirror.secret_inputs and up["permissions"] == "0600"
    assert htpasswd.matches(up["content"], "ci", PASSWORD) and PASSWORD not in up["content"]
    assert mirror.inputs["ports"] == [{"internal": 443, "external": 5001, "ip": "0.0.0.0"}]
    for r in run.resources:  # nowhere else, and never outside a secret
        for key, value in r.inputs.items():
            if key not in r.secret_inputs and key != "uploads":
                assert SECRET_KEY not in repr(value) and PASSWORD not in repr(value), f"{r.name}.{key}"
        for i, u in enumerate(r.inputs.get("uploads") or []):
            if f"uploads[{i}].content" not in r.secret_inputs:
                assert SECRET_KEY not in repr(u) and "$2b$" not in repr(u), f"{r.name} {u['file']}"
    assert SECRET_KEY not in repr(run.outputs) and PASSWORD not in repr(run.outputs)


@pytest.mark.parametrize("secrets,missing", [
    ({"kindreg:authPasswords": {"ci": "x", "alice": "y"}}, "kindreg:s3Credentials: is missing"),
    ({"kindreg:s3Credentials": TEAM_SECRETS["kindreg:s3Credentials"], "kindreg:authPasswords": {"ci": "x"}},
     "kindreg:authPasswords.alice: is missing"),
])
def test_a_missing_team_secret_fails_before_anything_is_created(host, secrets, missing):
    run = run_stack("team", config("team", **secrets), host, secret_keys=SECRET_KEYS, expect_error=True)
    assert missing in str(run.error)
    assert run.resources == []


def test_a_chained_machines_fronts_trust_the_team_ca_and_its_registries_carry_no_ca(host):
    run = run_stack("laptop", config("laptop"), host)
    chained = container(run, "laptop-registry-io-docker-front")
    i, up = uploads(chained)[frontcache.VIA_CA_PATH]
    assert up["content"] == CA
    plain = container(run, "laptop-registry-io-quay-front")
    assert frontcache.VIA_CA_PATH not in uploads(plain)
    registry = container(run, "laptop-registry-io-docker")
    assert not any("CERTIFICATE" in repr(u) for u in registry.inputs["uploads"])


def test_a_via_ca_that_is_not_a_certificate_is_named(host):
    (host.project_dir / "team-ca.pem").write_text("not a certificate\n")
    run = run_stack("laptop", config("laptop"), host, expect_error=True)
    assert "kindreg:shared.viaCa: \"team-ca.pem\" holds no PEM certificate" in str(run.error)
    assert run.resources == []
