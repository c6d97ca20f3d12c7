"""Rendered configs served by real software: mkcert, the distribution registry, containerd."""
from __future__ import annotations

import hashlib
import re
import stat
import subprocess

import pytest

from kindreg.core import render
from kindreg.core.config import ProjectConfig, SharedStackConfig
from kindreg.core.plan import plan_project, plan_shared
from tests.realsw.conftest import (TEST_IMAGE, UPSTREAM, RegistryProcess, mint, write_tree)

pytestmark = pytest.mark.realsw


def shared_plan(tls: bool):
    cfg = SharedStackConfig.model_validate({
        "tls": tls, "mirrors": [{"name": "io-docker", "url": UPSTREAM, "host": "docker.io"}],
        # This level runs registry processes in network namespaces, with no Docker DNS to find a
        # front cache by name: the front is exercised at the live level (tests/live/test_fetch_once.py).
        "frontCache": {"enabled": False}})
    return plan_shared(cfg, "shared")


def project_plan(shared, tls: bool = False, **extra):
    cfg = ProjectConfig.model_validate({"name": "dev", "network": {"name": "lok8s"},
                                        "registries": {"tls": tls, **extra}})
    return plan_project(cfg, "dev", shared.export())


def sans_of(cert) -> list[str]:
    text = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
                          capture_output=True, text=True, check=True).stdout
    return re.findall(r"(?:DNS|IP Address):([^,\s]+)", text)


@pytest.fixture
def caroot(realsw, tmp_path):
    """A fresh mkcert CA in a temporary CAROOT: nothing is installed on the machine."""
    root = tmp_path / "caroot"
    root.mkdir()
    subprocess.run(["mkcert", "-CAROOT"], env={"CAROOT": str(root), "PATH": "/usr/bin:/bin"}, check=True,
                   capture_output=True)
    return root


def test_mkcert_mints_exactly_the_plan_sans(caroot, tmp_path):
    plan = project_plan(shared_plan(False), tls=True, hostPort=5050)
    tls = tmp_path / "tls"
    out = mint(tls, caroot, plan.san)
    assert out.returncode == 0, out.stderr
    assert sans_of(tls / "cert.pem") == ["lok8s.local", "lok8s.cache", "localhost",
                                         "10.125.125.101", "10.125.125.102", "127.0.0.1"]
    assert out.stdout.strip() == hashlib.sha256((tls / "cert.pem").read_bytes()).hexdigest()
    key = (tls / "key.pem").read_text()
    assert "PRIVATE KEY" in key and key not in out.stdout + out.stderr
    assert stat.S_IMODE((tls / "key.pem").stat().st_mode) & 0o077 == 0
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(caroot / "rootCA.pem"), str(tls / "cert.pem")],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_registry_serves_the_rendered_tls_config_and_curl_trusts_it(netns, caroot, tmp_path):
    plan = project_plan(shared_plan(False), tls=True)
    build = plan.build
    tls = tmp_path / "tls"
    assert mint(tls, caroot, plan.san).returncode == 0
    ns = netns([build.ip])
    RegistryProcess(ns, tmp_path / "build", render.registry_config(build), build.url,
                    tls_dir=tls, cacert=caroot / "rootCA.pem")
    assert build.url == "https://10.125.125.101"
    ok = ns.run(f"curl -s --cacert {caroot}/rootCA.pem -w '%{{http_code}}' -o /dev/null {build.url}/v2/")
    assert ok.stdout == "200"
    untrusted = ns.run(f"curl -s -o /dev/null {build.url}/v2/", check=False)
    assert untrusted.returncode == 60  # certificate problem: the CA is not trusted yet
    # Once the CA is trusted by the host (mkcert -install adds it to the system bundle), plain curl
    # works without -k. Simulated in a private mount namespace: the machine's bundle is untouched.
    bundle = tmp_path / "bundle.crt"
    bundle.write_text(open("/etc/ssl/certs/ca-certificates.crt").read() + (caroot / "rootCA.pem").read_text())
    trusted = ns.run("unshare -m sh -c 'mount --bind " f"{bundle} /etc/ssl/certs/ca-certificates.crt && "
                     f"curl -s -w %{{http_code}} -o /dev/null {build.url}/v2/'")
    assert trusted.stdout == "200"


def test_containerd_pulls_through_the_rendered_mirror_and_falls_back_to_the_upstream(
        netns, containerd, upstream_with_image, tmp_path):
    shared = shared_plan(False)
    mirror = shared.mirrors[0]
    assert (mirror.ip, mirror.url) == ("10.125.200.2", "http://10.125.200.2")
    plan = project_plan(shared)
    ns = netns([mirror.ip, "10.125.200.250"])
    upstream = upstream_with_image(ns)
    mirror_proc = RegistryProcess(ns, tmp_path / "mirror", render.registry_config(mirror), mirror.url)
    tree = tmp_path / "certs.d"
    write_tree(tree, render.hosts_files(plan))

    ref = f"docker.io/{TEST_IMAGE}:1"
    pulled = containerd.pull(ns, tree, ref)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert mirror_proc.requests(f"/v2/{TEST_IMAGE}/manifests/1") >= 1
    assert upstream.requests(f"/v2/{TEST_IMAGE}/manifests/1") >= 1

    # The mirror is down: containerd falls back to the upstream kept as `server`.
    mirror_proc.stop()
    containerd.forget(ref)
    before = upstream.requests(f"/v2/{TEST_IMAGE}/blobs/")
    again = containerd.pull(ns, tree, ref)
    assert again.returncode == 0, again.stdout + again.stderr
    assert upstream.requests(f"/v2/{TEST_IMAGE}/blobs/") > before


def test_containerd_pulls_through_a_tls_mirror_trusting_the_copied_ca(
        netns, containerd, upstream_with_image, caroot, tmp_path):
    shared = shared_plan(True)
    mirror = shared.mirrors[0]
    assert mirror.url == "https://10.125.200.2"
    tls = tmp_path / "shared-tls"
    assert mint(tls, caroot, shared.san).returncode == 0
    ns = netns([mirror.ip, "10.125.200.250"])
    upstream_with_image(ns)
    mirror_proc = RegistryProcess(ns, tmp_path / "mirror", render.registry_config(mirror), mirror.url,
                                  tls_dir=tls, cacert=caroot / "rootCA.pem")
    plan = project_plan(shared)
    assert plan.needs_ca
    tree = tmp_path / "certs.d"
    write_tree(tree, render.hosts_files(plan), ca_source=caroot / "rootCA.pem")
    assert "skip_verify" not in (tree / "docker.io" / "hosts.toml").read_text()
    pulled = containerd.pull(ns, tree, f"docker.io/{TEST_IMAGE}:2")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert mirror_proc.requests(f"/v2/{TEST_IMAGE}/manifests/2") >= 1


def test_tls_mirror_is_verified_against_the_copied_ca(netns, containerd, upstream_with_image, caroot, tmp_path):
    """The TLS check is real: with another CA in the tree the mirror's certificate is
    rejected (no request reaches it; the upstream fallback serves), and with no CA file the
    resolve fails outright, so the CA copy must exist before any node pulls."""
    shared = shared_plan(True)
    mirror = shared.mirrors[0]
    tls = tmp_path / "shared-tls"
    assert mint(tls, caroot, shared.san).returncode == 0
    ns = netns([mirror.ip, "10.125.200.250"])
    upstream = upstream_with_image(ns)
    mirror_proc = RegistryProcess(ns, tmp_path / "mirror", render.registry_config(mirror), mirror.url,
                                  tls_dir=tls, cacert=caroot / "rootCA.pem")
    files = render.hosts_files(project_plan(shared))

    other_ca = tmp_path / "other-caroot"
    other_ca.mkdir()
    subprocess.run(["mkcert", "-cert-file", str(tmp_path / "x.pem"), "-key-file", str(tmp_path / "x-key.pem"),
                    "x"], env={"CAROOT": str(other_ca), "PATH": "/usr/bin:/bin"}, check=True, capture_output=True)
    wrong = tmp_path / "wrong-ca"
    write_tree(wrong, files, ca_source=other_ca / "rootCA.pem")
    pulled = containerd.pull(ns, wrong, f"docker.io/{TEST_IMAGE}:1")
    assert pulled.returncode == 0, pulled.stderr
    assert mirror_proc.requests(f"/v2/{TEST_IMAGE}/") == 0
    assert upstream.requests(f"/v2/{TEST_IMAGE}/manifests/1") >= 1

    missing = tmp_path / "no-ca"
    write_tree(missing, files)
    containerd.forget(f"docker.io/{TEST_IMAGE}:1")
    refused = containerd.pull(ns, missing, f"docker.io/{TEST_IMAGE}:1")
    assert refused.returncode != 0
    assert 'unable to read CA cert "/etc/containerd/certs.d/.ca/rootCA.pem"' in refused.stderr


def test_push_to_the_build_registry_and_pull_it_as_lok8s_local(netns, containerd, tmp_path):
    from tests.images import oci_layout

    plan = project_plan(shared_plan(False))
    build = plan.build
    ns = netns([build.ip])
    RegistryProcess(ns, tmp_path / "build", render.registry_config(build), build.url)
    oci_layout(tmp_path / "app", "1", [{"app.txt": b"my app\n"}])
    ns.run(f"skopeo copy --insecure-policy --dest-tls-verify=false oci:{tmp_path / 'app'}:1 "
           f"docker://{build.ip}/my-app:1")
    tree = tmp_path / "certs.d"
    write_tree(tree, render.hosts_files(plan))
    pulled = containerd.pull(ns, tree, "lok8s.local/my-app:1")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    # By address too: `<ip>/hosts.toml` must say plain HTTP (containerd defaults to HTTPS).
    by_ip = containerd.pull(ns, tree, f"{build.ip}/my-app:1")
    assert by_ip.returncode == 0, by_ip.stdout + by_ip.stderr


def test_pull_from_a_mirror_by_address(netns, containerd, upstream_with_image, tmp_path):
    shared = shared_plan(False)
    mirror = shared.mirrors[0]
    ns = netns([mirror.ip, "10.125.200.250"])
    upstream_with_image(ns)
    RegistryProcess(ns, tmp_path / "mirror", render.registry_config(mirror), mirror.url)
    tree = tmp_path / "certs.d"
    write_tree(tree, render.hosts_files(project_plan(shared)))
    pulled = containerd.pull(ns, tree, f"{mirror.ip}/{TEST_IMAGE}:1")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
