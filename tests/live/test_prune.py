"""`kindreg cache prune` on a shared stack kindreg brought up: the registry kindreg runs
(distribution 3.x), its front cache, containerd in a node pulling through hosts.toml.

alpha and beta share a layer. alpha is read first, beta a few seconds later; a prune of what was
not read for 2 s removes alpha only. Then, with the upstream gone, beta still pulls whole (the
shared layer stayed), alpha does not (it is gone, as the prune said), and with the upstream back
alpha is fetched and cached again. A dry run changes nothing and does not pause the mirror.
"""
from __future__ import annotations

import hashlib
import re
import time

import docker.errors
import pytest

from kindreg.core import mirrorstore as ms
from kindreg.core.render import DATA_DIR
from tests.images import layer
from tests.live.conftest import kindreg_cli, node_forget, node_pull, stack_configs, write_stack_files

pytestmark = pytest.mark.live
MIRROR = "kindreg-prune-registry-io-docker"
SHARED = {"shared.bin": bytes(range(256)) * 2048}  # 512 KiB both images carry
OWN = {"alpha": {"alpha.bin": bytes(reversed(range(256))) * 1024}, "beta": {"beta.txt": b"beta\n"}}
READ_GAP = 8.0  # seconds between alpha's last read and beta's; the prune's age sits between


@pytest.fixture(scope="module")
def world(live, upstream):
    for repo, own in OWN.items():
        upstream.push(f"library/{repo}", "1", [SHARED, own])
    configs = stack_configs(live.images, upstream.port, names="kindreg-prune", projects="prune", net="10.212")
    configs = {s: configs[s] for s in ("shared", "dev")}
    write_stack_files(live.workdir, configs)
    return {s: live.up(s, configs[s]) for s in configs}


def has_blob(client, files: dict) -> bool:
    digest = "sha256:" + hashlib.sha256(layer(files)[0]).hexdigest()
    try:
        client.containers.get(MIRROR).get_archive(f"{DATA_DIR}/{ms.blob_path(digest)}")
        return True
    except docker.errors.NotFound:
        return False


def pull(client, node: str, repo: str) -> tuple[int, str]:
    node_forget(client, node, f"docker.io/library/{repo}:1")
    return node_pull(client, node, f"docker.io/library/{repo}:1")


def prune(live, *flags: str):
    return kindreg_cli("cache", "prune", "--stack", "shared", "--project-dir", str(live.workdir), *flags)


def test_prune_keeps_the_layer_a_kept_image_shares(live, world, upstream):
    client = live.machine.client
    node = world["dev"]["nodes"][0]
    for repo in ("alpha", "beta"):
        code, out = pull(client, node, repo)
        assert code == 0, out
        upstream.blob_fetches(f"library/{repo}")  # the mirror's cache fill settles
        if repo == "alpha":
            time.sleep(READ_GAP)
    assert all(has_blob(client, f) for f in (SHARED, *OWN.values()))

    out = prune(live, "--older-than", f"{READ_GAP * 0.6:.0f}s")
    print("\n" + out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"remove library/alpha:1 .*not read for", out.stdout), out.stdout
    assert re.search(r"keep +library/beta:1 ", out.stdout), out.stdout
    assert "nodes pull from" in out.stdout and "checked whole" in out.stdout
    assert client.containers.get(MIRROR).attrs["State"]["Running"]
    assert has_blob(client, SHARED) and has_blob(client, OWN["beta"]) and not has_blob(client, OWN["alpha"])

    started = client.containers.get(MIRROR).attrs["State"]["StartedAt"]
    dry = prune(live, "--older-than", "0s", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert re.search(r"remove library/beta:1 ", dry.stdout) and "pausing" not in dry.stdout, dry.stdout
    assert "dry run: nothing changed" in dry.stdout
    assert client.containers.get(MIRROR).attrs["State"]["StartedAt"] == started
    assert has_blob(client, SHARED) and has_blob(client, OWN["beta"])

    upstream.stop()
    try:
        code, out = pull(client, node, "beta")
        assert code == 0, f"beta lost what it shares with the pruned alpha: {out}"
        code, out = pull(client, node, "alpha")
        assert code != 0, "alpha was pruned, yet pulled with the upstream gone"
    finally:
        upstream.start()
    code, out = pull(client, node, "alpha")
    assert code == 0, out
    # Cached again (the mirror fills its store after the client has its bytes; the front cache,
    # which keeps blobs for a while, may have given them instead of the upstream).
    deadline = time.time() + 10
    while not has_blob(client, OWN["alpha"]):
        assert time.time() < deadline, "alpha pulled again but not cached again"
        time.sleep(0.25)
