"""lok8s `Lo` files as lok8s's repository and docs write them (fixtures written for this project
in their shapes, tests/testdata/lok8s): what loads, what it plans, what is left to lok8s, and
the errors for what cannot map."""
from __future__ import annotations

import pytest

from kindreg.core.errors import ConfigError
from kindreg.core.plan import plan_project
from kindreg.core.load import file as load_file
from kindreg.adapters.files import read_text
from tests.helpers import PROJECT, TESTDATA, plan_of

LOK8S = TESTDATA / "lok8s"


def load(name: str):
    return load_file(LOK8S / f"{name}.lok8s.yaml", read_text)


def plan(name: str):
    loaded = load(name)
    shared = plan_of("shared").export()
    return loaded, plan_project(loaded.config, loaded.stack, shared if loaded.config.shared_mode else None,
                                loaded.source, loaded.prefix)


@pytest.mark.parametrize("name, subnet, network, tls, shared, image, nodes, left", [
    ("minimal", "10.125.125.0/24", "local", True, True, "kindest/node:v1.31.4", ["local-control-plane"],
     ["spec.kubehz", "spec.bootstrap"]),
    ("slot-42", "10.125.42.0/24", "example", True, True, "kindest/node:v1.31.12", ["example-control-plane"],
     ["spec.bootstrap"]),
    ("shared", "10.125.125.0/24", "lok8s", True, True, "kindest/node:v1.31.4", ["team-shared-control-plane"],
     ["spec.bootstrap", "spec.cluster.namespace"]),
    ("no-shared", "10.125.50.0/24", "lok8s-team", True, False, "kindest/node:v1.31.4", ["team-solo-control-plane"],
     ["spec.cluster.namespace"]),
    ("full", "10.125.60.0/24", "full", True, False, "kindest/node:v1.31.4",
     ["full-control-plane", "full-control-plane2", "full-control-plane3", "full-worker", "full-worker2",
      "full-external-load-balancer"],
     ["spec.loadBalancer", "spec.bootstrap", "spec.provider", "spec.remote", "spec.nodes.hostPorts",
      "spec.nodes.maxConcurrentDownloads", "spec.cluster.namespace"]),
])
def test_lok8s_files_load_with_lok8s_meaning(name, subnet, network, tls, shared, image, nodes, left):
    loaded, p = plan(name)
    assert p.network.subnet == subnet and p.network.name == network
    assert p.tls is tls  # lok8s serves TLS unless the file says tls: false
    assert (p.shared is not None) is shared
    assert p.nodes.image == image and list(p.nodes.names) == nodes
    assert sorted(loaded.left_to_lok8s) == sorted(left)
    # An empty or absent mirror list is lok8s's four default mirrors.
    assert [m.name for m in p.mirrors] == ["io-docker", "io-quay", "io-k8s", "io-ghcr"]


@pytest.mark.parametrize("name, says", [
    ("no-slot", ['spec.network.name: is required: the domain "test.lok8s.dev" names no slot',
                 "spec.network.cidr: is required"]),
    ("typos", ['spec.cluster.domian: unknown field; did you mean "domain"?',
               'spec.registries.mirors: unknown field; did you mean "mirrors"?',
               'spec.nodes.controlPlanes: unknown field; did you mean "controlPlane"?',
               'spec.registries.prefix: "registry.internal" is lok8s\'s image prefix',
               'spec.runtime: "k3s" is not "kind"']),
    ("other-kind", ['kind: "KubeOne" is not a kind kindreg reads']),
])
def test_what_cannot_map_is_an_error_naming_the_lok8s_field(name, says):
    with pytest.raises(ConfigError) as err:
        plan(name)
    text = err.value.render()
    for s in says:
        assert s in text, text


def test_validate_lists_what_is_left_to_lok8s_once(tmp_path):
    from tests.unit.test_cli import kindreg
    out = kindreg("validate", "--file", str(LOK8S / "minimal.lok8s.yaml"), "--project-dir", str(PROJECT))
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("left to lok8s") == 1
    assert "left to lok8s (kindreg does not manage them): spec.kubehz, spec.bootstrap" in out.stdout
