"""Fetch once: nodes pulling the same cold image at once cost the upstream one copy.

The upstream is tests/hub.py, which behaves as Docker Hub does where a mirror notices: bearer
tokens from another origin that expire, blob GETs answered 307 to a CDN origin that refuses
an Authorization header, Range requests. The mirror's front cache (nginx, Debian's build of
what the official image runs) sits between the registry and the hub.
"""
from __future__ import annotations

import socket
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.hub import HubProcess
from tests.images import layer
from tests.live.conftest import free_port, node_forget, node_pull, stack_configs

pytestmark = pytest.mark.live
NET = "10.212"
MIRROR = "kindreg-fo-registry-io-docker"
MiB = 1024 * 1024


def payload(seed: int, size: int) -> list[dict]:
    import random
    return [{"payload.bin": random.Random(seed).randbytes(size)}]


def blob_digest(layers: list[dict]) -> tuple[str, int]:
    import hashlib
    data = layer(layers[0])[0]
    return hashlib.sha256(data).hexdigest(), len(data)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    work = tmp_path_factory.mktemp("hub")
    ports = (free_port(), free_port())
    # Tokens live 60 s, the shortest lifetime registry clients honour (distribution and
    # containerd treat a shorter expires_in as 60 s); the CDN is slowed so a pull takes seconds.
    proc = HubProcess(work / "root", work / "hub.log", "0.0.0.0", ports,
                      extra=("--token-ttl", "60", "--cdn-rate", str(8 * MiB)))
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def world(live, hub):
    configs = stack_configs(live.images, hub.port, names="kindreg-fo", projects="fo", net=NET)
    configs["dev"]["kindreg:cluster"]["nodes"]["workers"] = 2
    return {stack: live.up(stack, configs[stack]) for stack in ("shared", "dev")}


def cdn_bytes(hub: HubProcess, digest: str) -> int:
    return hub.stats()["cdn_by_blob"].get(digest, 0)


def wait_cached(client, digest: str, timeout: float = 60) -> None:
    path = f"/var/lib/registry/docker/registry/v2/blobs/sha256/{digest[:2]}/{digest}/data"
    deadline = time.time() + timeout
    while client.containers.get(MIRROR).exec_run(["test", "-f", path]).exit_code != 0:
        assert time.time() < deadline, f"the mirror did not cache {digest[:12]} within {timeout}s"
        time.sleep(0.3)


def test_three_nodes_pulling_one_cold_image_cost_one_upstream_copy(live, world, hub):
    client = live.machine.client
    layers = payload(1, 16 * MiB)
    hub.content.push("library/cold", "1", layers)
    digest, size = blob_digest(layers)
    nodes = world["dev"]["nodes"]
    assert len(nodes) == 3
    with ThreadPoolExecutor(len(nodes)) as pool:
        results = list(pool.map(lambda n: node_pull(client, n, "docker.io/library/cold:1"), nodes))
    assert all(code == 0 for code, _ in results), results
    wait_cached(client, digest)
    stats = hub.stats()
    assert stats["cdn_by_blob"][digest] == size, f"{stats['cdn_by_blob'][digest] / size:.2f} copies"
    assert stats["refused"].get("cdn_authorization_header", 0) == 0  # the token stayed with the hub
    assert stats["blob_redirects"] >= 1 and stats["tokens"] >= 1  # it was the Docker Hub dance


def test_a_client_that_disconnects_mid_pull_does_not_abort_the_fill(live, world, hub):
    client = live.machine.client
    layers = payload(2, 24 * MiB)  # three seconds at the CDN's rate
    hub.content.push("library/abandoned", "1", layers)
    digest, size = blob_digest(layers)
    mirror_ip = world["shared"]["mirrors"][0]["ip"]
    got = threading.Event()

    def walk_away() -> None:
        with socket.create_connection((mirror_ip, 80), timeout=30) as s:
            s.sendall(f"GET /v2/library/abandoned/blobs/sha256:{digest} HTTP/1.1\r\nHost: {mirror_ip}\r\n\r\n".encode())
            s.recv(64 * 1024)  # the first bytes arrived: the fill is under way
            got.set()
        # closed here, mid-blob

    first = threading.Thread(target=walk_away)
    first.start()
    assert got.wait(30), "the mirror sent nothing"
    first.join()
    code, out = node_pull(client, world["dev"]["nodes"][0], "docker.io/library/abandoned:1")
    assert code == 0, out
    time.sleep(1)
    assert cdn_bytes(hub, digest) == size, "the fill was aborted and fetched again"


def test_range_requests_are_served_from_the_front_cache(live, world, hub):
    client = live.machine.client
    layers = payload(3, 4 * MiB)
    hub.content.push("library/ranged", "1", layers)
    digest, size = blob_digest(layers)
    code, out = node_pull(client, world["dev"]["nodes"][0], "docker.io/library/ranged:1")
    assert code == 0, out
    front = client.containers.get(f"{MIRROR}-front")
    front_ip = next(iter(front.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    request = urllib.request.Request(f"http://{front_ip}:8080/v2/library/ranged/blobs/sha256:{digest}",
                                     headers={"Range": "bytes=100-1123"})
    before = cdn_bytes(hub, digest)
    # The front asks the hub only with a token: the cached blob answers without one.
    with urllib.request.urlopen(request, timeout=10) as r:
        body = r.read()
        assert r.status == 206 and len(body) == 1024
        assert r.headers["Content-Range"] == f"bytes 100-1123/{size}"
    assert body == layer(layers[0])[0][100:1124]
    assert cdn_bytes(hub, digest) == before == size


def test_an_expired_token_is_renewed_without_failing_a_pull(live, world, hub):
    """The mirror holds a token for library/cold from the first test; once it has expired, a new
    tag of that repository still pulls, with a token issued after the expiry."""
    client = live.machine.client
    layers = payload(4, 1 * MiB)
    hub.content.push("library/cold", "2", layers)
    time.sleep(62)  # every token the mirror holds has expired
    before = hub.stats()
    code, out = node_pull(client, world["dev"]["nodes"][1], "docker.io/library/cold:2")
    assert code == 0, out
    after = hub.stats()
    digest, size = blob_digest(layers)
    assert after["cdn_by_blob"][digest] == size
    assert after["tokens"] > before["tokens"]


def test_status_reads_the_mirrors_own_counters(live, world, hub):
    """distribution 3's /debug/vars, read inside the running mirror: a warm pull is a hit."""
    from tests.live.test_offline_mirror import kindreg_status
    client = live.machine.client
    node = world["dev"]["nodes"][2]
    before = next(r for r in kindreg_status()["shared"] if r["container"] == MIRROR)["traffic"]
    node_forget(client, node, "docker.io/library/cold:1")
    code, out = node_pull(client, node, "docker.io/library/cold:1")  # cached by the first test
    assert code == 0, out
    after = next(r for r in kindreg_status()["shared"] if r["container"] == MIRROR)["traffic"]
    assert after["hits"] > before["hits"] and after["requests"] > before["requests"]
    assert after["fetched_bytes"] >= 16 * MiB  # the cold image of the first test, at least
    assert after["served_bytes"] > before["served_bytes"]
    assert after["disk_bytes"] >= 16 * MiB
