"""distribution's proxy TTL and a layer two images share, reproduced with the registry kindreg
runs (distribution 3.x, built by tests/setup.sh) and the storage settings kindreg renders for a
mirror (`delete: enabled`, a proxy `ttl`).

What the source (v3.1.2) does: a blob fetched from the remote is scheduled to expire as
`repository@digest` once it is committed (registry/proxy/proxyblobstore.go, `AddBlob` after
`bw.Commit`); a pull of another image with the same layer is served from local storage and
schedules nothing. When the entry fires, `OnBlobExpire` unlinks the blob from that repository
and then removes its data for every repository (`v.RemoveBlob`, registry/proxy/proxyregistry.go;
distribution#2367, #4191). A TTL left unset is 7 days; `ttl: 0` starts no scheduler at all
(proxyregistry.go: `config.TTL == nil` -> 7 days, `> 0` -> that).

So beta, pulled after alpha and not yet expired itself, loses the layer it shares with alpha
when alpha's entries fire: with the upstream gone it cannot be pulled; with the upstream back
the layer is fetched again. With no TTL nothing is lost. Facts for the eviction kindreg does
instead (the issue "Mirrors as a managed asset"); a TTL of seconds makes them run in seconds.
"""
from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

import docker.errors
import pytest

from tests.doubles import ownership
from tests.images import layer
from tests.live.conftest import Upstream, engine, free_port, test_images, wait_http  # noqa: F401

pytestmark = pytest.mark.live

SHARED = {"shared.bin": bytes(range(256)) * 512}  # the layer both images carry
OWN = {"alpha": {"alpha.txt": b"alpha\n"}, "beta": {"beta.txt": b"beta\n"}}
TTL_SECONDS = 6
# beta is pulled BETA_AFTER seconds after alpha and looked at CHECK_AT seconds after alpha:
# alpha's entries have fired by then, beta's own (scheduled at its own first fetch) have not.
BETA_AFTER, CHECK_AT = 3.5, TTL_SECONDS + 1.5
BLOBS = "/var/lib/registry/docker/registry/v2/blobs/sha256"


def digest(files: dict) -> str:
    return hashlib.sha256(layer(files)[0]).hexdigest()


@pytest.fixture
def upstream(engine, test_images, tmp_path):
    up = Upstream(engine, test_images[0], f"kindreg-expiry-up-{free_port()}", tmp_path / "upstream")
    for repo, own in OWN.items():
        up.push(repo, "1", [SHARED, own])
    yield up
    up.remove()


def proxy(engine, image: str, upstream: Upstream, ttl: str):
    """A pull-through registry with kindreg's mirror storage settings and the given TTL."""
    port = free_port()
    container = engine.containers.run(
        image, name=f"kindreg-expiry-proxy-{port}", network_mode="host", detach=True,
        environment={"REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}", "REGISTRY_STORAGE_DELETE_ENABLED": "true",
                     "REGISTRY_PROXY_REMOTEURL": upstream.url("127.0.0.1"), "REGISTRY_PROXY_TTL": ttl},
        labels={"kindreg.test-double": "expiry-proxy", **ownership.labels()})
    wait_http(f"http://127.0.0.1:{port}/v2/")
    return container, port


def pull(port: int, repo: str, dest: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["skopeo", "copy", "--insecure-policy", "--src-tls-verify=false",
                           f"docker://127.0.0.1:{port}/{repo}:1", f"dir:{dest}"], capture_output=True, text=True)


def has_blob(container, files: dict) -> bool:
    d = digest(files)
    try:
        container.get_archive(f"{BLOBS}/{d[:2]}/{d}/data")
        return True
    except docker.errors.NotFound:
        return False


def _alpha_then_beta(engine, test_images, upstream, tmp_path, ttl: str):
    """Both pulled through a fresh proxy, beta a little later; back when alpha has expired."""
    container, port = proxy(engine, test_images[0], upstream, ttl)
    start = time.monotonic()
    for repo, at in (("alpha", 0), ("beta", BETA_AFTER)):
        time.sleep(max(0.0, start + at - time.monotonic()))
        out = pull(port, repo, tmp_path / f"{repo}-1")
        assert out.returncode == 0, out.stderr
    assert has_blob(container, SHARED)
    time.sleep(max(0.0, start + CHECK_AT - time.monotonic()))
    return container, port


def test_the_ttl_takes_a_shared_layer_from_an_image_still_cached(engine, test_images, upstream, tmp_path):
    container, port = _alpha_then_beta(engine, test_images, upstream, tmp_path, f"{TTL_SECONDS}s")
    try:
        # alpha's entries fired: its own layer and the shared one are gone; beta's own is not.
        assert not has_blob(container, OWN["alpha"])
        assert has_blob(container, OWN["beta"]), "beta expired too: the timing did not hold"
        assert not has_blob(container, SHARED)
        upstream.stop()
        out = pull(port, "beta", tmp_path / "beta-offline")
        assert out.returncode != 0, "beta pulled with the upstream gone and its shared layer deleted"
        upstream.start()
        before = upstream.blob_fetches("beta", settle=1.0)
        out = pull(port, "beta", tmp_path / "beta-again")
        assert out.returncode == 0, out.stderr
        assert upstream.blob_fetches("beta", settle=1.0) > before  # the layer crossed the link again
    finally:
        container.remove(force=True)


def test_with_no_ttl_nothing_cached_is_lost(engine, test_images, upstream, tmp_path):
    container, port = _alpha_then_beta(engine, test_images, upstream, tmp_path, "0")
    try:
        assert all(has_blob(container, files) for files in (SHARED, *OWN.values()))
        upstream.stop()
        for repo in OWN:
            out = pull(port, repo, tmp_path / f"{repo}-offline")
            assert out.returncode == 0, f"{repo}: {out.stderr}"
    finally:
        container.remove(force=True)
