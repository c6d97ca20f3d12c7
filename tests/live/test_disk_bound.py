"""A bounded shared stack (`mirrors: {maxSize, inUseFor, list}`) brought up by kindreg: the
registry kindreg runs, its front cache, containerd in a node pulling through hosts.toml.

Twelve images of 8 MiB each (and a 1 MiB layer they all share) are pulled one after another
through a mirror whose share of the bound is 80 MiB. While they are pulled, the mirror's volume
and its front cache together stay within the share (sampled every 0.2 s); the keeper in the
mirror evicts the least recently read images, keeps the shared layer, and says what it evicted.
Then, with the upstream gone, the images read last still pull and the first one does not; with
the upstream back, the first pulls again; every image the store still holds is whole. The front
cache keeps its part in the mirror's volume, so one measure of the volume is everything.
"""
from __future__ import annotations

import json
import random
import threading
import time

import pytest

from kindreg.adapters.engine import DockerCli
from kindreg.adapters.mirrorstore import read_recorded, read_store
from kindreg.core import frontcache, keeper, mirrorstore as ms
from kindreg.core.render import DATA_DIR, KEEP_PLAN_PATH
from tests.live.conftest import kindreg_cli, node_forget, node_pull, stack_configs, write_stack_files

pytestmark = pytest.mark.live
NAMES = "kindreg-bound"
MIRROR = f"{NAMES}-registry-io-docker"
FRONT_PART = frontcache.VOLUME_CACHE_DIR.removeprefix(frontcache.VOLUME_MOUNT)  # in the volume
SHARE = 80 * 1024 * 1024  # mirrors.maxSize 160MiB over the stack's two mirrors
IMAGES = 12
SHARED = {"shared.bin": random.Random(0).randbytes(1024 * 1024)}
OWN = [{f"own{i}.bin": random.Random(i + 1).randbytes(8 * 1024 * 1024)} for i in range(IMAGES)]
IN_USE = 2  # seconds: mirrors.inUseFor
GAP = IN_USE + 1.0  # between pulls, so only the image being pulled is in use


@pytest.fixture(scope="module")
def world(live, upstream):
    for i, own in enumerate(OWN):
        upstream.push(f"library/img{i}", "1", [SHARED, own])
    configs = stack_configs(live.images, upstream.port, names=NAMES, projects="bound", net="10.208")
    configs = {s: configs[s] for s in ("shared", "dev")}
    shared = configs["shared"]["kindreg:shared"]
    shared["mirrors"] = {"maxSize": "160MiB", "inUseFor": f"{IN_USE}s", "list": shared["mirrors"]}
    write_stack_files(live.workdir, configs)
    return {s: live.up(s, configs[s]) for s in configs}


def used_bytes(client) -> tuple[int, int]:
    """The mirror's volume (its front cache's part included) and that part on disk (`du -k`)."""
    out = []
    for path in (DATA_DIR, DATA_DIR + FRONT_PART):
        text = client.containers.get(MIRROR).exec_run(["du", "-s", "-k", path]).output.decode()
        out.append(int(text.split()[0]) * 1024)
    return out[0], out[1]


class Sampler(threading.Thread):
    def __init__(self, client):
        super().__init__(daemon=True)
        self.client, self.peak, self.done, self.seen = client, 0, threading.Event(), []

    def run(self):
        while not self.done.is_set():
            volume, front = used_bytes(self.client)
            self.seen.append((time.time(), volume, front))
            self.peak = max(self.peak, volume)
            time.sleep(0.2)


def pull(client, node: str, i: int) -> tuple[int, str]:
    node_forget(client, node, f"docker.io/library/img{i}:1")
    return node_pull(client, node, f"docker.io/library/img{i}:1")


def test_the_mirror_keeps_to_its_share_while_nodes_pull(live, world, upstream):
    client = live.machine.client
    node = world["dev"]["nodes"][0]
    sampler = Sampler(client)
    sampler.start()
    try:
        for i in range(IMAGES):
            code, out = pull(client, node, i)
            assert code == 0, f"img{i}: {out}"
            time.sleep(GAP)
        time.sleep(3)  # the keeper's last round
    finally:
        sampler.done.set()
        sampler.join()
    logs = client.containers.get(MIRROR).logs().decode(errors="replace")
    front_peak = max(f for _, _, f in sampler.seen)
    print(f"\npeak {sampler.peak / 2**20:.1f} MiB of a {SHARE / 2**20:.0f} MiB share "
          f"(the front cache's part at most {front_peak / 2**20:.1f} MiB)")
    assert front_peak > 0, "the front cache keeps nothing in the mirror's volume"
    assert sampler.peak <= SHARE * 1.05, f"{sampler.peak} bytes on disk, share {SHARE}"
    assert "keeper of mirror io-docker: evicted library/img0@" in logs, logs[-3000:]

    store = read_store(DockerCli(), "io-docker", MIRROR)
    held = {img.repo for img in ms.images(store)}
    assert "library/img0" not in held and f"library/img{IMAGES - 1}" in held, held
    assert not ms.broken(store)
    assert all(img.whole_in(store.blobs) for img in ms.images(store)), "a kept image lost a blob"

    shown = json.loads(kindreg_cli("status", "--json").stdout)
    mirror = next(r for r in shown["shared"] if r["container"] == MIRROR)
    assert mirror["bound_bytes"] == SHARE and 0 < mirror["traffic"]["disk_bytes"] <= SHARE * 1.05, mirror

    upstream.stop()
    try:
        for i in (IMAGES - 1, IMAGES - 2):
            code, out = pull(client, node, i)
            assert code == 0, f"img{i} was read last, yet does not pull offline: {out}"
        code, _ = pull(client, node, 0)
        assert code != 0, "img0 was evicted, yet pulled with the upstream gone"
    finally:
        upstream.start()
    code, out = pull(client, node, 0)
    assert code == 0, out


def test_the_keeper_chooses_what_core_mirrorstore_chooses(live, world):
    """The keeper's awk and kindreg.core.mirrorstore, on the same store, the same reads and the
    same target: the same images, least recently read first."""
    engine = DockerCli()
    # The first test's last pulls end a moment ago; past the in-use window no image sits on its
    # edge, where the awk's whole-second clock and Python's float clock could disagree.
    time.sleep(GAP)
    store = read_store(engine, "io-docker", MIRROR)
    reads = read_recorded(engine, MIRROR)
    now = int(time.time())  # one clock, in whole seconds as `date +%s` gives the keeper
    last = ms.last_reads(store, reads)
    images = sorted(ms.images(store), key=lambda i: last[i.key])
    assert len(images) >= 4, [i.name for i in images]
    # A target between image boundaries: three images' worth of blobs under what is used.
    per_image = len(OWN[0]["own0.bin"]) + 4096
    target = store.used - int(2.5 * per_image)
    ours = ms.plan(store, last, ms.Policy(max_bytes=target, protect=IN_USE), now)
    script = "\n".join([
        f"DATA='{DATA_DIR}'", 'V2="$DATA/docker/registry/v2"', f'KEEP_READS="$DATA/{keeper.READS_FILE}"',
        keeper.settings(KEEP_PLAN_PATH), keeper.KEEP, "keep_inventory > /tmp/kindreg-agree",
        f"awk -v now={int(now)} -v grace={IN_USE} -v used={store.used} -v target={target} "
        f"-f {KEEP_PLAN_PATH} /tmp/kindreg-agree"])
    out = live.machine.client.containers.get(MIRROR).exec_run(["sh", "-c", script]).output.decode()
    theirs = [line.split()[2].split("@")[0] for line in out.splitlines() if line.startswith("say evicted ")]
    assert theirs == [d.image.repo for d in ours.evict], out
    assert len(theirs) == 3
