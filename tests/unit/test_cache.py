"""`cache`: image references, idempotency, failures that stop no other copy, parallelism."""
import threading
import time

import pytest

from kindreg.ops import cache
from kindreg import cli
from kindreg.adapters.reach import HostRoutes
from kindreg.adapters.skopeo import CopyError
from kindreg.ops.cache import target_of as parse
from tests.fake_engine import FakeEngine, registry
from tests.helpers import plan_of

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("image, source, in_cache, node", [
    ("ghcr.io/org/app:1.2", "ghcr.io/org/app:1.2", "10.1.1.102/org/app:1.2", "lok8s.cache/org/app:1.2"),
    ("nginx", "docker.io/library/nginx:latest", "10.1.1.102/library/nginx:latest", "lok8s.cache/library/nginx:latest"),
    ("bitnami/redis:7", "docker.io/bitnami/redis:7", "10.1.1.102/bitnami/redis:7", "lok8s.cache/bitnami/redis:7"),
    ("localhost:5000/x/y", "localhost:5000/x/y:latest", "10.1.1.102/x/y:latest", "lok8s.cache/x/y:latest"),
    (f"quay.io/a/b@{DIGEST}", f"quay.io/a/b@{DIGEST}", f"10.1.1.102/a/b:sha256-{'a' * 32}", f"lok8s.cache/a/b@{DIGEST}"),
])
def test_image_references(image, source, in_cache, node):
    ref = parse(image)
    assert (ref.source, ref.in_cache("10.1.1.102"), ref.node_ref) == (source, in_cache, node)


@pytest.mark.parametrize("bad", ["", "UPPER/Case:tag:x", "ghcr.io/", "a b"])
def test_bad_references_are_refused(bad):
    results = cache.cache_images([bad], "10.1.1.102", False, FakeCopier(), progress=lambda s: None)
    assert results[0].outcome == "failed" and "is not an image reference" in results[0].detail


class FakeCopier:
    def __init__(self, source=None, target=None, fail=(), delay=0.0):
        self.source = source or {}
        self.target = dict(target or {})
        self.fail, self.delay = fail, delay
        self.copies, self.active, self.max_active = [], 0, 0
        self.lock = threading.Lock()

    def digest(self, ref, tls_verify):
        return self.source.get(ref) or self.target.get(ref)

    def copy(self, source, target, source_tls_verify, target_tls_verify):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        time.sleep(self.delay)
        with self.lock:
            self.active -= 1
        if source in self.fail:
            raise CopyError("reading manifest 1.0 in ghcr.io/org/private: unauthorized: authentication required")
        self.copies.append((source, target, source_tls_verify, target_tls_verify))
        self.target[target] = self.source[source]


def test_copies_skips_what_is_there_and_reports_each_image():
    lines = []
    copier = FakeCopier(source={"ghcr.io/org/app:1.2": "sha256:1", "ghcr.io/org/private:1.0": "sha256:2",
                                "docker.io/library/nginx:latest": "sha256:3"},
                        target={"10.1.1.102/library/nginx:latest": "sha256:3"},
                        fail=("ghcr.io/org/private:1.0",))
    results = cache.cache_images(["ghcr.io/org/app:1.2", "ghcr.io/org/private:1.0", "nginx"],
                                 "10.1.1.102", False, copier, progress=lines.append)
    assert [r.outcome for r in results] == ["copied", "failed", "skipped"]
    assert lines == [
        "[1/3] ghcr.io/org/app:1.2: copied (sha256:1); nodes pull lok8s.cache/org/app:1.2",
        "[2/3] ghcr.io/org/private:1.0: failed reading manifest 1.0 in ghcr.io/org/private: unauthorized: "
        "authentication required",
        "[3/3] nginx: skipped already cached (sha256:3); nodes pull lok8s.cache/library/nginx:latest",
    ]
    assert cache.summary(results) == "1 copied, 1 already cached, 1 failed"
    assert copier.copies == [("ghcr.io/org/app:1.2", "10.1.1.102/org/app:1.2", True, False)]
    # Again: everything that made it is skipped, nothing copied twice.
    again = cache.cache_images(["ghcr.io/org/app:1.2", "nginx"], "10.1.1.102", False, copier, progress=lambda s: None)
    assert [r.outcome for r in again] == ["skipped", "skipped"]
    assert len(copier.copies) == 1


def test_an_unreadable_source_names_the_image_and_the_likely_fix():
    results = cache.cache_images(["ghcr.io/org/nope:1"], "h", False, FakeCopier(), progress=lambda s: None)
    assert results[0].detail == ("cannot read ghcr.io/org/nope:1 (does it exist, and are you logged in to "
                                 "its registry? `docker login` or `skopeo login`)")


def test_parallel_copies_run_at_once():
    images = [f"ghcr.io/org/app{i}:1" for i in range(6)]
    copier = FakeCopier(source={parse(i).source: f"sha256:{n}" for n, i in enumerate(images)}, delay=0.2)
    cache.cache_images(images, "h", False, copier, parallel=3, progress=lambda s: None)
    assert copier.max_active == 3
    serial = FakeCopier(source=copier.source, delay=0.01)
    cache.cache_images(images, "h", False, serial, parallel=1, progress=lambda s: None)
    assert serial.max_active == 1


def test_cache_cli_finds_the_stacks_cache_registry(monkeypatch, capsys):
    copier = FakeCopier(source={"ghcr.io/org/app:1.2": "sha256:1"})
    monkeypatch.setattr(cli, "ENGINE", lambda: FakeEngine([registry(r) for r in plan_of("dev").registries]))
    monkeypatch.setattr(cli, "COPIER", lambda ca: copier)
    assert cli.main(["cache", "--stack", "dev", "ghcr.io/org/app:1.2"]) == 0
    assert copier.copies == [("ghcr.io/org/app:1.2", "10.125.125.102/org/app:1.2", True, False)]
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "caching 1 image(s) in 10.125.125.102 (stack dev's cache registry)"
    assert cli.main(["cache", "--stack", "qa", "ghcr.io/org/app:1.2"]) == 1
    assert capsys.readouterr().err.strip() == (
        "kindreg cache: no running cache registry for stack qa on this Docker engine; run `pulumi up -s qa` first")


def test_cache_goes_through_the_published_port_where_addresses_are_unreachable(monkeypatch, capsys):
    """The Docker Desktop case: the cache registry's address does not answer, its published port does."""
    dev = plan_of("dev")
    published = {f"{dev.cache.port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32799"}]}
    engine = FakeEngine([registry(dev.build), registry(dev.cache, ports=published)])
    copier = FakeCopier(source={"ghcr.io/org/app:1.2": "sha256:1"})
    monkeypatch.setattr(cli, "ENGINE", lambda: engine)
    monkeypatch.setattr(cli, "COPIER", lambda ca: copier)
    monkeypatch.setattr(cli, "ROUTES", lambda e: HostRoutes(e.endpoint(), connect=lambda host, port: False))
    assert cli.main(["cache", "--stack", "dev", "ghcr.io/org/app:1.2"]) == 0
    assert copier.copies == [("ghcr.io/org/app:1.2", "127.0.0.1:32799/org/app:1.2", True, False)]
    assert "nodes pull lok8s.cache/org/app:1.2" in capsys.readouterr().out
    engine._containers[1] = registry(dev.cache)  # published nothing (created before kindreg published)
    assert cli.main(["cache", "--stack", "dev", "ghcr.io/org/app:1.2"]) == 1
    assert ("kindreg cache: the cache registry of stack dev (lok8s-registry-cache) cannot be reached from this "
            "host: its address is not reachable from this host and it publishes no port on 127.0.0.1; run "
            "`kindreg up` again to publish it") in capsys.readouterr().err
