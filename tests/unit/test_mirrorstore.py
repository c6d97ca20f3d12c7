"""Which images an eviction removes, and that a blob a kept image needs is never freed."""
from __future__ import annotations

import hashlib
import json

import pytest

from kindreg.core import mirrorstore as ms
from kindreg.core.quantity import QuantityError, duration_seconds, size_bytes

NOW = 1_000_000.0
MIB = 1 << 20


def d(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def image_manifest(*layers: tuple[str, int]) -> ms.Manifest:
    return ms.Manifest(blobs={d("config-" + "-".join(n for n, _ in layers)): 1000, **{d(n): s for n, s in layers}})


def store(repos: dict, manifests: dict, extra_blobs: dict | None = None) -> ms.SeenStore:
    """repos: name -> (tags, revisions); sizes on disk as the manifests give them."""
    blobs = {m: 500 for m in manifests}
    for m in manifests.values():
        if m:
            blobs.update(m.blobs)
    blobs.update(extra_blobs or {})
    return ms.SeenStore("io-docker", {n: ms.SeenRepo(n, t, r) for n, (t, r) in repos.items()}, manifests, blobs,
                        used=sum(blobs.values()))


@pytest.fixture
def shared_layer():
    """alpha and beta share a 10 MiB layer; each has a 1 MiB layer of its own."""
    manifests = {d("alpha"): image_manifest(("shared", 10 * MIB), ("alpha-own", MIB)),
                 d("beta"): image_manifest(("shared", 10 * MIB), ("beta-own", MIB))}
    repos = {"library/alpha": ({"1": d("alpha")}, {d("alpha"): NOW - 9000}),
             "library/beta": ({"1": d("beta")}, {d("beta"): NOW - 8000})}
    return store(repos, manifests)


def test_a_layer_two_images_share_is_not_freed_while_one_is_kept(shared_layer):
    ev = ms.plan(shared_layer, ms.last_reads(shared_layer, []), ms.Policy(older_than=8500), NOW)
    assert [x.image.name for x in ev.evict] == ["library/alpha:1"]
    assert [x.image.name for x in ev.keep] == ["library/beta:1"]
    # alpha frees its own layer, config and manifest; the shared layer stays for beta.
    assert ev.evict[0].frees == MIB + 1000 + 500
    assert ev.after == shared_layer.used - (MIB + 1000 + 500)


def test_both_gone_frees_the_shared_layer(shared_layer):
    ev = ms.plan(shared_layer, ms.last_reads(shared_layer, []), ms.Policy(older_than=100), NOW)
    assert len(ev.evict) == 2 and ev.after == 0


def test_recency_is_the_last_real_read_not_the_first_fetch(shared_layer):
    # alpha was fetched first but read a minute ago through one of its blobs: beta goes first.
    reads = ms.parse_access([(NOW - 700, f'1.2.3.4 - - [x] "GET /v2/library/alpha/blobs/{d("alpha-own")}?ns=docker.io '
                                         'HTTP/1.1" 200 1048576 "" "containerd/2.1"')])
    last = ms.last_reads(shared_layer, reads)
    assert last[("library/alpha", d("alpha"))] == NOW - 700
    ev = ms.plan(shared_layer, last, ms.Policy(max_bytes=shared_layer.used - 1), NOW)
    assert [x.image.name for x in ev.evict] == ["library/beta:1"] and ev.short == 0


def test_a_failed_request_is_not_a_read(shared_layer):
    reads = ms.parse_access([(NOW, '"GET /v2/library/alpha/manifests/1 HTTP/1.1" 404 19 "" "x"'),
                             (NOW, '"PUT /v2/library/alpha/manifests/1 HTTP/1.1" 201 0 "" "x"')])
    assert reads == []


def test_an_image_read_within_the_protection_window_stays_past_the_bound(shared_layer):
    reads = ms.parse_access([(NOW - 30, '"GET /v2/library/beta/manifests/1 HTTP/1.1" 200 500 "" "x"'),
                             (NOW - 20, '"GET /v2/library/alpha/manifests/1 HTTP/1.1" 200 500 "" "x"')])
    ev = ms.plan(shared_layer, ms.last_reads(shared_layer, reads), ms.Policy(max_bytes=1), NOW)
    assert ev.evict == () and ev.short == shared_layer.used - 1
    assert all("in use" in k.reason for k in ev.keep)


def test_lru_stops_as_soon_as_the_bound_holds(shared_layer):
    ev = ms.plan(shared_layer, ms.last_reads(shared_layer, []), ms.Policy(max_bytes=shared_layer.used - 1), NOW)
    assert [x.image.name for x in ev.evict] == ["library/alpha:1"]  # the older first fetch


def test_an_index_takes_its_platform_manifests_with_it():
    amd, arm = d("amd64"), d("arm64")
    manifests = {d("index"): ms.Manifest(children=(amd, arm)),
                 amd: image_manifest(("amd-layer", 5 * MIB)), arm: image_manifest(("arm-layer", 5 * MIB))}
    s = store({"library/app": ({"v1": d("index")}, {d("index"): NOW - 9000, amd: NOW - 9000, arm: NOW - 9000})},
              manifests)
    found = ms.images(s)
    assert [(i.name, i.manifests) for i in found] == [("library/app:v1", frozenset({d("index"), amd, arm}))]
    ev = ms.plan(s, ms.last_reads(s, []), ms.Policy(older_than=60), NOW)
    paths = ms.removals(s, ev)
    assert paths[0] == f"{ms.REPOSITORIES}/library/app/_manifests/tags/v1"
    assert {p.rsplit("/", 1)[1] for p in paths[1:4]} == {x.split(":")[1] for x in (d("index"), amd, arm)}
    assert paths[-1] == f"{ms.REPOSITORIES}/library/app"


def test_a_digest_only_pull_is_an_image_and_a_missing_manifest_is_removed_as_broken():
    manifests = {d("pinned"): image_manifest(("l", MIB)), d("lost"): None}
    s = store({"library/pin": ({}, {d("pinned"): NOW - 50, d("lost"): NOW - 50})}, manifests)
    assert [i.name for i in ms.images(s)] == [f"library/pin@{d('pinned')}"]
    ev = ms.plan(s, ms.last_reads(s, []), ms.Policy(), NOW)
    assert ev.evict == () and ev.broken == (("library/pin", d("lost")),) and ev.changes
    assert ms.removals(s, ev) == [f"{ms.REPOSITORIES}/library/pin/_manifests/revisions/sha256/{d('lost')[7:]}"]


def test_a_ledger_keeps_reads_the_log_no_longer_has(shared_layer):
    last = ms.last_reads(shared_layer, [], {f"library/alpha@{d('alpha')}": NOW - 10})
    assert last[("library/alpha", d("alpha"))] == NOW - 10


def test_manifests_parse_as_distribution_references_them():
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"digest": d("a"), "size": 5}]}).encode()
    image = json.dumps({"schemaVersion": 2, "config": {"digest": d("c"), "size": 7},
                        "layers": [{"digest": d("l"), "size": 9}]}).encode()
    assert ms.parse_manifest(index) == ms.Manifest(children=(d("a"),))
    assert ms.parse_manifest(image).blobs == {d("c"): 7, d("l"): 9}


@pytest.mark.parametrize("text,value", [("20GiB", 20 << 30), ("500MB", 500_000_000), ("1.5 KiB", 1536)])
def test_sizes(text, value):
    assert size_bytes(text) == value


@pytest.mark.parametrize("text", ["", "twenty", "-1GiB", "0", "20 GiBs"])
def test_bad_sizes(text):
    with pytest.raises(QuantityError, match="write it like"):
        size_bytes(text)


@pytest.mark.parametrize("text,value", [("7d", 604800), ("1h30m", 5400), ("90s", 90), ("168h", 604800)])
def test_durations(text, value):
    assert duration_seconds(text) == value


@pytest.mark.parametrize("text", ["", "7", "7 d", "1h;id", "-1h", "7days"])
def test_bad_durations(text):
    with pytest.raises(QuantityError, match="write it like"):
        duration_seconds(text)
