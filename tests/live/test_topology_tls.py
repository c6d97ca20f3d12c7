"""Scenario 6: scenarios 1 and 2 with `tls: true`, trusting a temporary mkcert CA."""
from __future__ import annotations

import ssl
import subprocess

import pytest

from tests.live.conftest import (TEST_REPO, check_every_registry_answers, check_node_networks,
                                 check_pulls_share_the_mirror, endpoints, kindreg_cli, live_machine,
                                 stack_configs, write_stack_files)

pytestmark = pytest.mark.live
STACKS = ("shared", "dev", "qa", "alt")


@pytest.fixture(scope="module")
def caroot(tmp_path_factory):
    """A fresh local CA (mkcert creates it on first use); the machine's trust store is untouched."""
    root = tmp_path_factory.mktemp("caroot")
    scratch = tmp_path_factory.mktemp("scratch")
    subprocess.run(["mkcert", "-cert-file", str(scratch / "c.pem"), "-key-file", str(scratch / "k.pem"), "init"],
                   env={"CAROOT": str(root), "PATH": "/usr/bin:/bin"}, check=True, capture_output=True)
    return root


@pytest.fixture(scope="module")
def live(engine, test_images, tmp_path_factory, caroot):
    with live_machine(engine, test_images, tmp_path_factory.mktemp("tls-project"),
                      {"CAROOT": str(caroot)}) as machine:
        yield machine


@pytest.fixture(scope="module")
def world(live, upstream):
    configs = stack_configs(live.images, upstream.port, names="kindreg-tls", projects="tls",
                            net="10.214", tls=True)
    write_stack_files(live.workdir, configs)
    return {stack: live.up(stack, configs[stack]) for stack in STACKS}


def test_6_every_registry_answers_https_trusted_by_the_local_ca(world, caroot):
    context = ssl.create_default_context(cafile=str(caroot / "rootCA.pem"))
    for out in world.values():
        for reg in endpoints(out):
            assert reg["url"].startswith("https://") and reg["scheme"] == "https"
    seen = check_every_registry_answers(world, context)
    assert "kindreg-tls-registry-io-docker" in seen and "kindreg-tls-dev-registry-build" in seen
    untrusted = ssl.create_default_context()
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        check_every_registry_answers({"dev": world["dev"]}, untrusted)


def test_6_nodes_trust_the_ca_through_the_certs_tree(live, world, caroot):
    client = live.machine.client
    check_node_networks(client, world)
    node = client.containers.get(world["dev"]["nodes"][0])
    ca = node.exec_run(["cat", "/etc/containerd/certs.d/.ca/rootCA.pem"]).output.decode()
    assert ca == (caroot / "rootCA.pem").read_text()
    hosts = node.exec_run(["sh", "-c", "cat /etc/containerd/certs.d/*/hosts.toml"]).output.decode()
    assert 'server = "https://10.214.125.101"' in hosts
    assert '[host."https://10.214.200.2"]' in hosts
    assert 'ca = "/etc/containerd/certs.d/.ca/rootCA.pem"' in hosts
    assert "skip_verify" not in hosts


def test_6_pulls_through_tls_mirrors(live, world, upstream):
    check_pulls_share_the_mirror(live.machine.client, world, upstream, f"docker.io/{TEST_REPO}:2")


def test_6_status_shows_https_and_doctor_flags_the_untrusted_ca(live, world, caroot):
    status = kindreg_cli("status")
    assert "https://10.214.200.2/v2/_catalog" in status.stdout
    doctor = kindreg_cli("doctor", "--project-dir", str(live.workdir), "--stack", "dev",
                         env={"CAROOT": str(caroot)})
    # The temporary CA is deliberately not installed on this machine: doctor must say so, with the fix.
    assert doctor.returncode == 1
    assert ("  FAIL  mkcert CA is not in the host's trust store: docker push and curl to the registries "
            "will fail verification\n        fix: run `mkcert -install` once on this machine") in doctor.stdout
    assert doctor.stdout.count("FAIL") == 1, doctor.stdout
