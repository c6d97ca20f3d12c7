"""A mirror keeps serving its cache when its upstream is unreachable, even after a restart.

distribution's proxy mode exits at start-up when the upstream is unreachable; kindreg's
mirror entrypoint serves the cache read-only instead and returns to pull-through by itself.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.doubles import ownership

from tests.helpers import ROOT
from tests.live.conftest import TEST_LAYERS, TEST_REPO, node_forget, node_pull, stack_configs

pytestmark = pytest.mark.live
MIRROR = "kindreg-off-registry-io-docker"


@pytest.fixture(scope="module")
def world(live, upstream):
    configs = stack_configs(live.images, upstream.port, names="kindreg-off", projects="off", net="10.215")
    return {stack: live.up(stack, configs[stack]) for stack in ("shared", "dev")}


def kindreg_status() -> dict:
    out = subprocess.run([sys.executable, "-m", "kindreg", "status", "--json"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def mirror_mode() -> str:
    return next(r["mode"] for r in kindreg_status()["shared"] if r["container"] == MIRROR)


def wait_for(predicate, timeout: float) -> float:
    start = time.time()
    while time.time() - start < timeout:
        if predicate():
            return time.time() - start
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout}s")


def http(method: str, url: str) -> tuple[int, str]:
    try:
        r = urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_mirror_serves_its_cache_offline_and_recovers(live, world, upstream):
    client = live.machine.client
    node = world["dev"]["nodes"][0]
    mirror_url = world["shared"]["mirrors"][0]["url"]
    digest = upstream.push(TEST_REPO, "1", TEST_LAYERS["1"])  # same content: the digest of :1
    code, out = node_pull(client, node, f"docker.io/{TEST_REPO}:1")
    assert code == 0, out
    upstream.blob_fetches()  # let the cache fill settle
    assert mirror_mode() == "pull-through"

    # The upstream goes away and the mirror restarts (a reboot on a train).
    upstream.stop()
    try:
        client.containers.get(MIRROR).restart(timeout=5)
        healthy_after = wait_for(lambda: client.containers.get(MIRROR).attrs["State"].get("Health", {})
                                 .get("Status") == "healthy", 30)
        print(f"\nmirror healthy {healthy_after:.1f}s after a restart with the upstream unreachable")
        assert client.containers.get(MIRROR).attrs["RestartCount"] == 0  # it did not crash-loop
        assert mirror_mode() == "cache-only"

        # Every cached image: by tag and by digest, through containerd and hosts.toml.
        node_forget(client, node, f"docker.io/{TEST_REPO}:1")
        code, out = node_pull(client, node, f"docker.io/{TEST_REPO}:1")
        assert code == 0, out
        code, out = node_pull(client, node, f"docker.io/{TEST_REPO}@{digest}")
        assert code == 0, out

        # What it does not have: a clear registry error, and a failed pull.
        status, body = http("GET", f"{mirror_url}/v2/{TEST_REPO}/manifests/2")
        assert status == 404 and "MANIFEST_UNKNOWN" in body
        code, out = node_pull(client, node, f"docker.io/{TEST_REPO}:2")
        assert code != 0, out
        # And no pushes into a cache that serves alone (read-only mode refuses uploads).
        status, body = http("POST", f"{mirror_url}/v2/{TEST_REPO}/blobs/uploads/")
        assert status == 405, (status, body)
        layout = live.workdir / "oci-push"
        from tests.images import oci_layout
        oci_layout(layout, "x", [{"x.txt": b"x\n"}])
        push = subprocess.run(["skopeo", "copy", "--insecure-policy", "--dest-tls-verify=false",
                               f"oci:{layout}:x", f"docker://{mirror_url.split('://')[1]}/pushed:x"],
                              capture_output=True, text=True)
        assert push.returncode != 0 and "405" in push.stderr, push.stderr
    finally:
        upstream.start()

    # The upstream is back: pull-through again without anyone's help.
    back_after = wait_for(lambda: mirror_mode() == "pull-through", 40)
    print(f"back to pull-through {back_after:.1f}s after the upstream returned")
    before = upstream.blob_fetches()
    code, out = node_pull(client, node, f"docker.io/{TEST_REPO}:2")
    assert code == 0, out
    assert upstream.blob_fetches() > before  # fetched through the mirror, and cached
    status, body = http("GET", f"{mirror_url}/v2/_catalog")
    assert TEST_REPO in json.loads(body)["repositories"]


def test_control_plain_proxy_mode_exits_when_its_upstream_is_unreachable(engine, test_images, live):
    """What kindreg's entrypoint avoids: the distribution registry started in proxy mode with its
    upstream unreachable (how lok8s and KSail run their mirrors) exits at start-up."""
    from kindreg.core import render
    from kindreg.core.config import SharedStackConfig
    from kindreg.core.plan import plan_shared

    reg = plan_shared(SharedStackConfig.model_validate(
        {"mirrors": [{"name": "io-docker", "url": "http://127.0.0.1:9", "host": "docker.io"}],
         "frontCache": {"enabled": False}}), "s").mirrors[0]
    config = live.workdir / "proxy-config.yml"
    config.write_text(render.registry_config(reg).replace(":80", ":5000"))
    container = engine.containers.run(
        test_images[0], name="kindreg-off-control", detach=True, command=None, labels=ownership.labels(),
        entrypoint=["registry", "serve", "/config.yml"],
        volumes={str(config): {"bind": "/config.yml", "mode": "ro"}})
    try:
        result = container.wait(timeout=30)
        logs = container.logs().decode(errors="replace")
        assert result["StatusCode"] != 0
        assert "panic" in logs and "connection refused" in logs, logs[-500:]
        print(f"\nplain proxy mode, upstream unreachable: exited {result['StatusCode']}: "
              f"{next(line for line in logs.splitlines() if 'panic' in line)[:160]}")
    finally:
        container.remove(force=True)
