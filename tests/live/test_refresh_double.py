"""The provider doubles' refresh (tests/doubles/refresh.py) against real Docker objects: each
rule of the Terraform docker provider's read functions that the module docstring cites."""
from __future__ import annotations

import uuid

import docker.errors
import pytest

from tests.doubles import ownership, refresh
from tests.live.conftest import engine, test_images  # noqa: F401

pytestmark = pytest.mark.live
CONTAINER = "docker:index/container:Container"


@pytest.fixture
def made(engine, test_images):
    """A container, network and volume of this run, removed afterwards by their run label."""
    tag = uuid.uuid4().hex[:8]
    labels = {**ownership.labels(), "kindreg.stack": "t"}
    net = engine.networks.create(f"krrf-{tag}", labels=labels)
    vol = engine.volumes.create(f"krrf-{tag}", labels=labels)
    c = engine.containers.run(test_images[0], name=f"krrf-{tag}", detach=True, labels=labels, network=net.name,
                              environment={"KINDREG_UPSTREAM": "http://a"})
    yield c, net, vol
    ownership.sweep(engine)


def state_of(c) -> dict:
    c.reload()
    return {"name": c.name, "image": c.attrs["Image"], "mustRun": True, "envs": ["KINDREG_UPSTREAM=http://a"],
            "labels": [{"label": "kindreg.stack", "value": "t"}],
            "networksAdvanced": [{"name": next(iter(c.attrs["NetworkSettings"]["Networks"]))}]}


def test_a_removed_container_network_or_volume_reads_as_gone(engine, made):
    c, net, vol = made
    state = state_of(c)
    c.remove(force=True)
    assert refresh.read(engine, CONTAINER, c.id, state, state) is None
    net.remove()
    assert refresh.read(engine, "docker:index/network:Network", net.id, {}, {}) is None
    vol.remove()
    assert refresh.read(engine, "docker:index/volume:Volume", vol.name, {}, {}) is None


def test_a_stopped_container_reads_must_run_false_and_a_running_one_keeps_it(engine, made):
    c, _, _ = made
    state = state_of(c)
    _, read, inputs = refresh.read(engine, CONTAINER, c.id, state, state)
    assert read["mustRun"] is True and inputs["mustRun"] is True
    c.stop(timeout=1)
    _, read, inputs = refresh.read(engine, CONTAINER, c.id, state, state)
    assert read["mustRun"] is False and inputs["mustRun"] is False


def test_environment_and_labels_of_a_container_are_not_read_back(engine, made):
    """Changed outside the provider, they stay as the state has them (lines 893-898)."""
    c, _, _ = made
    state = {**state_of(c), "envs": ["KINDREG_UPSTREAM=http://elsewhere"], "labels": [{"label": "x", "value": "y"}]}
    _, read, inputs = refresh.read(engine, CONTAINER, c.id, state, state)
    assert read["envs"] == ["KINDREG_UPSTREAM=http://elsewhere"] and read["labels"] == [{"label": "x", "value": "y"}]
    assert inputs["envs"] == state["envs"]


def test_the_name_and_image_of_a_container_are_read_back(engine, made):
    c, _, _ = made
    state = {**state_of(c), "name": "what-the-state-had", "image": "sha256:" + "0" * 64}
    _, read, _ = refresh.read(engine, CONTAINER, c.id, state, state)
    assert read["name"] == c.name and read["image"] == c.attrs["Image"]


def test_networks_are_read_only_on_import(engine, made):
    c, net, _ = made
    state = {**state_of(c), "networksAdvanced": [{"name": "what-the-state-had"}]}
    _, read, _ = refresh.read(engine, CONTAINER, c.id, state, state)
    assert read["networksAdvanced"] == [{"name": "what-the-state-had"}]
    _, imported, inputs = refresh.read(engine, CONTAINER, c.id, {}, {})
    assert [n["name"] for n in imported["networksAdvanced"]] == [net.name] and inputs["name"] == c.name


def test_network_and_volume_labels_are_read_back_without_the_test_runs(engine, made):
    _, net, vol = made
    order = {"labels": [{"label": "kindreg.stack", "value": "old"}]}
    _, read, inputs = refresh.read(engine, "docker:index/network:Network", net.id, order, order)
    assert read["labels"] == [{"label": "kindreg.stack", "value": "t"}] == inputs["labels"]
    _, read, _ = refresh.read(engine, "docker:index/volume:Volume", vol.name, order, order)
    assert read["labels"] == [{"label": "kindreg.stack", "value": "t"}] and read["name"] == vol.name


def test_a_remote_image_is_looked_up_by_name(engine, test_images):
    image = engine.images.get(test_images[0])
    rid, read, _ = refresh.read(engine, "docker:index/remoteImage:RemoteImage", "stale-id",
                                {"name": test_images[0]}, {"name": test_images[0]})
    assert rid == f"{image.id}{test_images[0]}" and read["imageId"] == image.id
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get("kindreg-test/absent:none")
    assert refresh.read(engine, "docker:index/remoteImage:RemoteImage", "x",
                        {"name": "kindreg-test/absent:none"}, {}) is None
