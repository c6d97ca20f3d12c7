"""The keeper's shell and awk under busybox (what the registry image has), on a store laid out as
distribution lays it out (registry/storage/paths.go), against kindreg.core.mirrorstore's choice.

The store: `old` and `mid` share a base layer, `multi` is an index of two platform manifests (and
is tagged), `fresh` was read within the in-use time, and a blob no manifest names is left from an
earlier eviction. The target makes room for about two images.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from kindreg.core import keeper, mirrorstore as ms

NOW = int(time.time())
IN_USE = 60
KIB = 1024


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Store:
    def __init__(self, root: Path):
        self.v2 = root / "docker/registry/v2"
        self.blobs: dict[str, bytes] = {}
        self.mtimes: dict[str, int] = {}

    def blob(self, data: bytes, at: int) -> str:
        d = digest(data)
        path = self.v2 / "blobs/sha256" / d[7:9] / d[7:] / "data"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (at, at))
        self.blobs[d], self.mtimes[d] = data, at
        return d

    def link(self, repo: str, kind: str, d: str, at: int, tag: str = "") -> None:
        where = {"revision": f"_manifests/revisions/sha256/{d[7:]}/link", "layer": f"_layers/sha256/{d[7:]}/link",
                 "tag": f"_manifests/tags/{tag}/current/link"}[kind]
        path = self.v2 / "repositories" / repo / where
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(d)
        os.utime(path, (at, at))

    def image(self, repo: str, layers: list[str], at: int, tag: str = "", link: bool = True) -> str:
        config = self.blob(json.dumps({"repo": repo, "at": at}).encode(), at)
        doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"digest": config, "size": 10},
               "layers": [{"digest": d, "size": len(self.blobs[d])} for d in layers]}
        m = self.blob(json.dumps(doc).encode(), at)
        if link:
            self.link(repo, "revision", m, at)
            for d in (config, *layers):
                self.link(repo, "layer", d, at)
            if tag:
                self.link(repo, "tag", m, at, tag)
        return m

    def index(self, repo: str, children: list[str], at: int, tag: str) -> str:
        doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [{"digest": c, "size": 1} for c in children]}
        m = self.blob(json.dumps(doc).encode(), at)
        self.link(repo, "revision", m, at)
        self.link(repo, "tag", m, at, tag)
        return m

    def seen(self) -> ms.SeenStore:
        """What the adapter reads of it (adapters/mirrorstore.py), taken from the files."""
        repos = {}
        for top in sorted((self.v2 / "repositories").glob("**/_manifests")):
            name = str(top.parent.relative_to(self.v2 / "repositories"))
            revs = {"sha256:" + p.parent.name: p.stat().st_mtime for p in top.glob("revisions/sha256/*/link")}
            tags = {p.parent.parent.name: p.read_text() for p in top.glob("tags/*/current/link")}
            repos[name] = ms.SeenRepo(name, tags, revs)
        present = {d: len(b) for d, b in self.blobs.items() if (self.v2 / "blobs/sha256" / d[7:9] / d[7:] / "data").exists()}
        manifests = {}
        for r in repos.values():
            for d in r.revisions:
                manifests[d] = ms.parse_manifest(self.blobs[d]) if d in present else None
        return ms.SeenStore("test", repos, manifests, present, sum(present.values()))

    def has(self, d: str) -> bool:
        return (self.v2 / "blobs/sha256" / d[7:9] / d[7:] / "data").exists()


@pytest.fixture
def busybox(tmp_path) -> Path:
    found = shutil.which("busybox")
    if found is None:
        pytest.fail("busybox is missing: tests/setup.sh installs busybox-static")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    subprocess.run([found, "--install", "-s", str(bin_dir)], check=True)
    return bin_dir


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data")
    base = s.blob(os.urandom(64 * KIB), NOW - 5000)
    s.old_own = s.blob(os.urandom(96 * KIB), NOW - 5000)
    s.old = s.image("library/old", [base, s.old_own], NOW - 5000, tag="1")
    s.mid_own = s.blob(os.urandom(96 * KIB), NOW - 4000)
    s.mid = s.image("library/mid", [base, s.mid_own], NOW - 4000, tag="1")
    s.base = base
    amd = s.image("library/multi", [s.blob(os.urandom(80 * KIB), NOW - 3000)], NOW - 3000)
    arm = s.image("library/multi", [s.blob(os.urandom(80 * KIB), NOW - 3000)], NOW - 3000)
    s.multi = s.index("library/multi", [amd, arm], NOW - 3000, tag="2")
    s.multi_children = (amd, arm)
    s.fresh_own = s.blob(os.urandom(96 * KIB), NOW - 6000)
    s.fresh = s.image("library/fresh", [s.fresh_own], NOW - 6000, tag="1")
    s.garbage = s.blob(os.urandom(40 * KIB), NOW - 7000)
    # Reads as the entrypoint's `record` writes them: `old` was read after `mid` (so `mid` is
    # the least recently used), `fresh` just now, through its tag.
    reads = [f"{NOW - 1000} library/old 1", f"{NOW - 10} library/fresh 1", f"{NOW - 2000} library/multi 2"]
    (tmp_path / "data" / keeper.READS_FILE).write_text("\n".join(reads) + "\n")
    s.reads = ms.parse_recorded("\n".join(reads))
    return s


def keeper_shell(busybox: Path, data: Path, body: str, keep_bytes: int = 1) -> subprocess.CompletedProcess:
    plan = data.parent / "keep.awk"
    plan.write_text(keeper.PLAN_AWK)
    script = "\n".join([f"DATA='{data}'", 'V2="$DATA/docker/registry/v2"', f'KEEP_READS="$DATA/{keeper.READS_FILE}"',
                        "NAME=test", keeper.settings(str(plan)).replace("/tmp/kindreg-keep", str(data.parent / "work")),
                        keeper.KEEP, body])
    return subprocess.run([str(busybox / "sh"), "-c", script], capture_output=True, text=True,
                          env={"PATH": str(busybox), keeper.KEEP_BYTES_ENV: str(keep_bytes), keeper.IN_USE_ENV: str(IN_USE)})


def evicted_by_keeper(busybox, store, target: int) -> list[str]:
    used = store.seen().used
    out = keeper_shell(busybox, store.v2.parents[2], f"mkdir -p \"$KEEP_WORK\"; keep_inventory > \"$KEEP_WORK/inv\"; "
                       f"awk -v now={NOW} -v grace={IN_USE} -v used={used} -v target={target} -f \"$KEEP_PLAN\" \"$KEEP_WORK/inv\"")
    assert out.returncode == 0, out.stderr
    return [line.split()[2].split("@")[0] for line in out.stdout.splitlines() if line.startswith("say evicted ")]


def test_the_keeper_and_core_mirrorstore_evict_the_same_images_in_the_same_order(busybox, store):
    seen = store.seen()
    target = seen.used - 200 * KIB  # `mid` frees about 100 KiB (its base is shared), `multi` 160
    last = ms.last_reads(seen, store.reads)
    ours = ms.plan(seen, last, ms.Policy(max_bytes=target, protect=IN_USE), NOW)
    theirs = evicted_by_keeper(busybox, store, target)
    assert theirs == [d.image.repo for d in ours.evict] == ["library/mid", "library/multi"]


def test_a_round_removes_links_then_data_and_keeps_every_kept_image_whole(busybox, store):
    data = store.v2.parents[2]
    used = store.seen().used
    budget = (used - 120 * KIB) * 100 // keeper.LOW_PERCENT  # room for `mid` and the blob no manifest names
    out = keeper_shell(busybox, data, f"keep_round {used}", keep_bytes=budget)
    assert out.returncode == 0, out.stderr
    assert "keeper of mirror test: evicted library/mid@" in out.stderr, out.stderr
    after = store.seen()
    assert "library/mid" not in after.repos, "an evicted image's repository stays"
    assert not store.has(store.mid) and not store.has(store.mid_own) and not store.has(store.garbage)
    assert store.has(store.base), "the layer `old` shares with the evicted `mid` went"
    kept = ms.images(after)
    assert {i.repo for i in kept} == {"library/old", "library/multi", "library/fresh"}
    assert all(i.whole_in(after.blobs) for i in kept) and not ms.broken(after)


def test_what_is_in_use_stays_whatever_the_bound(busybox, store):
    theirs = evicted_by_keeper(busybox, store, 0)
    assert "library/fresh" not in theirs and set(theirs) == {"library/old", "library/mid", "library/multi"}
    seen = store.seen()
    ours = ms.plan(seen, ms.last_reads(seen, store.reads), ms.Policy(max_bytes=0, protect=IN_USE), NOW)
    assert theirs == [d.image.repo for d in ours.evict]


def test_an_index_goes_with_its_platform_manifests(busybox, store):
    out = keeper_shell(busybox, store.v2.parents[2], "keep_round 999999999")
    assert out.returncode == 0, out.stderr
    assert "library/multi" not in store.seen().repos
    assert not any(store.has(c) for c in (store.multi, *store.multi_children))


def test_recorded_reads_parse_as_the_keeper_writes_them():
    assert ms.parse_recorded("1700000000 library/a sha256:ab\nnot a line\n17 x\n") == [
        ms.Read(1700000000.0, "library/a", "", "sha256:ab")]
