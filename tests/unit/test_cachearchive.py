"""The cache archive's names and manifest: what a restore accepts, and every way it refuses."""
from __future__ import annotations

import pytest

from kindreg.core import cachearchive as ca

HEX = "ab" + "0" * 62
BLOB = f"docker/registry/v2/blobs/sha256/ab/{HEX}/data"


def test_member_names_stay_inside_a_mirrors_storage():
    assert ca.split_member(f"mirrors/shared/io-docker/{BLOB}") == ("shared/io-docker", BLOB)
    assert ca.split_member("mirrors/shared/io-docker/docker/") == ("shared/io-docker", "docker")
    assert ca.split_member("mirrors/dev/io-docker/kindreg-reads.json") == ("dev/io-docker", "kindreg-reads.json")
    for bad in ("/etc/passwd", "mirrors/shared/io-docker/../../etc/passwd", "mirrors/shared/io-docker/etc/x",
                "mirrors/shared/IO/docker", "mirrors/io-docker/docker", "mirrors/../io-docker/docker",
                "mirrors/shared/io-docker/docker/registry/v2/a b", "kindreg-cache.json.x"):
        with pytest.raises(ca.ArchiveError, match="not part of a mirror's storage"):
            ca.split_member(bad)


def test_blob_digests_come_from_their_path():
    assert ca.blob_digest(BLOB) == f"sha256:{HEX}"
    assert ca.blob_digest(BLOB.replace("/ab/", "/cd/")) is None  # the prefix is the digest's
    assert ca.blob_digest("docker/registry/v2/repositories/x/_layers/sha256/ab/link") is None


def test_uploads_and_the_expiry_schedule_stay_out():
    assert not ca.keep("docker/registry/v2/repositories/library/a/_uploads/1/data")
    assert not ca.keep("scheduler-state.json")
    assert ca.keep(BLOB)


def doc(**over) -> dict:
    return {"format": ca.FORMAT, "layout": ca.LAYOUT, "created": 1.0,
            "mirrors": {"shared/io-docker": {"upstream": "u", "host": "docker.io", "images": ["a:1"],
                                      "blobs": {f"sha256:{HEX}": 5}}}, **over}


def test_a_manifest_of_another_format_or_layout_is_refused():
    assert ca.parse_manifest(doc()).mirrors["shared/io-docker"].blobs == {f"sha256:{HEX}": 5}
    with pytest.raises(ca.ArchiveError, match="format"):
        ca.parse_manifest(doc(format="kindreg/cache-archive/v0"))
    with pytest.raises(ca.ArchiveError, match="layout"):
        ca.parse_manifest(doc(layout="other"))
    with pytest.raises(ca.ArchiveError, match="does not parse"):
        ca.parse_manifest(doc(mirrors={"shared/io-docker": {"blobs": {}}}))


def test_content_must_be_what_the_manifest_lists():
    m = ca.parse_manifest(doc())
    ok = {"shared/io-docker": {f"sha256:{HEX}": 5}}
    assert ca.mismatches(m, ok) == []
    assert "misses" in ca.mismatches(m, {})[0]
    assert "resized" in ca.mismatches(m, {"shared/io-docker": {f"sha256:{HEX}": 6}})[0]
    assert "no manifest entry" in ca.mismatches(m, {**ok, "shared/io-quay": {"x": 1}})[0]
