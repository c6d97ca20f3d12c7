"""kindreg.adapters.engine's DockerCli against the real docker CLI and daemon."""
from __future__ import annotations

import uuid

import pytest

from kindreg.adapters.engine import DockerCli, EngineError
from tests.doubles import ownership
from tests.live.conftest import engine, test_images  # noqa: F401

pytestmark = pytest.mark.live


def test_an_object_removed_between_listing_and_inspect_is_left_out(engine, test_images):
    """Another program removing a container while kindreg reads the world is not an error."""
    tag = uuid.uuid4().hex[:8]
    kept = engine.containers.create(test_images[0], name=f"krea-{tag}-kept", labels=ownership.labels())
    gone = engine.containers.create(test_images[0], name=f"krea-{tag}-gone", labels=ownership.labels())
    gone.remove(force=True)
    try:
        found = DockerCli()._inspect([kept.id, gone.id])
        assert [c["Id"] for c in found] == [kept.id]
        vol = engine.volumes.create(f"krea-{tag}", labels=ownership.labels())
        assert [v["Name"] for v in DockerCli()._inspect([vol.name, f"krea-{tag}-none"], "volume")] == [vol.name]
        net = engine.networks.create(f"krea-{tag}", labels=ownership.labels())
        assert [n["Id"] for n in DockerCli()._inspect([net.id, f"krea-{tag}-none"], "network")] == [net.id]
    finally:
        ownership.sweep(engine)


def test_an_inspect_that_fails_for_another_reason_is_an_error():
    with pytest.raises(EngineError, match="docker"):
        DockerCli(host="unix:///nonexistent/docker.sock")._inspect(["x"])
