"""The containerd patch kindreg gives kind is read by the containerd kind's node images run.

containerd 2.x built from its module (tests/setup.sh) dumps its effective configuration after
the patch is merged into the node image's config.toml as kind merges patches (a TOML merge
patch over the node's file, sigs.k8s.io/kind pkg/internal/patch): the key must land where the
CRI image service reads it, or the default 5 minutes would silently stay.
"""
from __future__ import annotations

import tomllib

import pytest
import yaml

from kindreg.core import render
from tests.helpers import plan_of
from tests.live.images import NODE_CONTAINERD_CONFIG
from tests.live.kind_double import merged

pytestmark = pytest.mark.live


def dump(engine, image: str, config_text: str, tmp_path) -> dict:
    path = tmp_path / "config.toml"
    path.write_text(config_text)
    out = engine.containers.run(image, ["--config", "/etc/containerd/config.toml", "config", "dump"],
                                entrypoint="/bin/containerd", remove=True,
                                volumes={str(path): {"bind": "/etc/containerd/config.toml", "mode": "ro"}})
    return tomllib.loads(out.decode())


def cri_images(config: dict) -> dict:
    return config["plugins"][render.CRI_IMAGES_PLUGIN]


def test_containerd_2_reads_the_pull_progress_timeout_kindreg_patches(engine, test_images, tmp_path):
    patches = yaml.safe_load(render.kind_config(plan_of("qa"), "/abs/certs.d"))["containerdConfigPatches"]
    node_image = test_images[1]
    default = dump(engine, node_image, NODE_CONTAINERD_CONFIG, tmp_path)
    patched = dump(engine, node_image, merged(NODE_CONTAINERD_CONFIG, patches), tmp_path)
    assert cri_images(default)["image_pull_progress_timeout"] == "5m0s"  # the key exists, with its default
    assert cri_images(patched)["image_pull_progress_timeout"] == render.PULL_PROGRESS_TIMEOUT
    # and the node image's own setting survives the merge
    assert cri_images(patched)["registry"]["config_path"] == "/etc/containerd/certs.d"


def test_the_kind_double_starts_nodes_with_the_patch_merged(live, engine, test_images, tmp_path):
    """The live nodes run what kind would give them: containerd reads the patched file."""
    from tests.live.conftest import stack_configs
    configs = stack_configs(live.images, 9, names="kindreg-nc", projects="nc", net="10.211")
    configs["dev"]["kindreg:cluster"]["registries"]["shared"] = {"enabled": False}
    configs["dev"]["kindreg:cluster"]["registries"]["mirrors"] = []
    out = live.up("dev", configs["dev"])
    node = engine.containers.get(out["nodes"][0])
    text = node.exec_run(["cat", "/etc/containerd/config.toml"]).output.decode()
    assert tomllib.loads(text)["plugins"][render.CRI_IMAGES_PLUGIN]["image_pull_progress_timeout"] == "30m"
    assert node.exec_run(["ctr", "version"]).exit_code == 0  # containerd started with it
