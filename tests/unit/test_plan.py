"""The address plan: exact IPs, names, ranges and SANs, from the specification's examples."""
import ipaddress
import json

import pytest

from kindreg.core import document
from kindreg.core.errors import ConfigError
from kindreg.adapters.files import read_text
from kindreg.core.layout import IFNAME_MAX, bridge_name
from kindreg.core.plan import SharedExport, plan_shared
from kindreg.core.sources import from_config_map, read_stack_config
from kindreg.core.stacks import plan_loaded
from kindreg.ops.project import load as load_stack
from tests.helpers import PROJECT, plan_of


def ips(regs):
    return [r.ip for r in regs]


def test_shared_mode_slot_125_as_in_the_specification():
    plan = plan_of("dev")
    assert plan.network.subnet == "10.125.125.0/24"
    assert (plan.build.ip, plan.cache.ip) == ("10.125.125.101", "10.125.125.102")
    assert ips(plan.mirrors) == ["10.125.200.2", "10.125.200.3", "10.125.200.4", "10.125.200.5"]
    assert all(m.network == "lok8s-registries" for m in plan.mirrors)
    assert [r.container for r in plan.registries] == ["lok8s-registry-build", "lok8s-registry-cache"]
    assert [m.container for m in plan.mirrors] == [
        "lok8s-registry-io-docker", "lok8s-registry-io-quay", "lok8s-registry-io-k8s",
        "lok8s-registry-io-ghcr"]
    assert [m.host for m in plan.mirrors] == ["docker.io", "quay.io", "registry.k8s.io", "ghcr.io"]
    assert plan.shared.network.name == "lok8s-registries"


def test_non_shared_slot_50_as_in_the_specification():
    plan = plan_of("alt")
    assert (plan.build.ip, plan.cache.ip) == ("10.125.50.101", "10.125.50.102")
    assert ips(plan.mirrors) == ["10.125.50.103", "10.125.50.104", "10.125.50.105", "10.125.50.106"]
    assert all(m.network == "alt" for m in plan.registries)
    assert plan.shared is None
    # Owned here: build, cache and its own four mirrors.
    assert [r.container for r in plan.registries] == [
        "alt-registry-build", "alt-registry-cache", "alt-registry-io-docker",
        "alt-registry-io-quay", "alt-registry-io-k8s", "alt-registry-io-ghcr"]
    assert [r.volume for r in plan.registries][:2] == ["alt-registry-build-data", "alt-registry-cache-data"]


def test_tls_moves_registries_to_443_and_https():
    plan = plan_of("qa")
    assert (plan.build.port, plan.build.url) == (443, "https://10.125.60.101")
    # The shared mirrors keep the shared stack's own scheme.
    assert {m.url for m in plan.mirrors} == {"http://10.125.200.2", "http://10.125.200.3",
                                              "http://10.125.200.4", "http://10.125.200.5"}
    assert plan_of("dev").build.url == "http://10.125.125.101"


def test_the_two_config_sources_give_the_same_plan():
    from_object = plan_loaded(load_stack(PROJECT, "dev"), PROJECT, read_text)
    config = read_stack_config(PROJECT, "dev-file", read_text)
    from_file = plan_loaded(from_config_map(config, "dev", "Pulumi.dev-file.yaml", PROJECT, read_text), PROJECT,
                            read_text)
    assert document.plan_document(from_file) == document.plan_document(from_object)


@pytest.mark.parametrize("stack", ["dev", "alt", "qa", "ksail", "tls-user"])
def test_dynamic_range_is_fenced_off_from_every_registry(stack):
    plan = plan_of(stack)
    nets = [plan.network] + ([plan.shared.network] if plan.shared else [])
    for net in nets:
        dynamic = ipaddress.ip_network(net.ip_range)
        assert dynamic.subnet_of(ipaddress.ip_network(net.subnet))
        assert net.ip_range.endswith(".128/25")
    for reg in plan.endpoints:
        net = next(n for n in nets if n.name == reg.network)
        assert ipaddress.ip_address(reg.ip) in ipaddress.ip_network(net.subnet)
        assert ipaddress.ip_address(reg.ip) not in ipaddress.ip_network(net.ip_range)


@pytest.mark.parametrize("name, bridge", [
    ("lok8s", "kr-lok8s"),
    ("alt", "kr-alt"),
    ("lok8s-registries", "kr-lok8s-r-dcf7"),
    ("ksail-project-network", "kr-ksail-p-f1f5"),
])
def test_bridge_names_fit_linux_interface_names(name, bridge):
    assert bridge_name(name) == bridge
    assert len(bridge) <= IFNAME_MAX


def test_san_list_covers_every_registry_ip_and_the_framework_hostnames():
    assert plan_of("qa").san == ("10.125.60.101", "10.125.60.102", "lok8s.local", "lok8s.cache",
                                 "localhost", "127.0.0.1")
    assert plan_of("alt").san == (
        "10.125.50.101", "10.125.50.102", "10.125.50.103", "10.125.50.104", "10.125.50.105",
        "10.125.50.106", "lok8s.local", "lok8s.cache", "docker.io", "quay.io",
        "registry.k8s.io", "ghcr.io")
    shared = plan_of("shared-tls")
    assert shared.san == ("10.125.201.2", "10.125.201.3", "docker.io", "quay.io")


def test_node_names_are_the_ones_kind_gives():
    assert plan_of("qa").nodes.names == ("qa-control-plane", "qa-worker", "qa-worker2")
    assert plan_of("ksail").nodes.names == ()


def test_shared_export_round_trips_to_the_view_projects_read():
    shared = plan_of("shared")
    exported = json.loads(json.dumps(shared.export().to_json()))
    assert SharedExport.read("shared", exported) == shared.export()


@pytest.mark.parametrize("exported", [None, {}, {"format": "other"}, {"format": "kindreg/shared/v1"}])
def test_a_shared_stack_without_outputs_says_to_run_it_first(exported):
    with pytest.raises(ConfigError) as err:
        SharedExport.read("shared", exported)
    assert "run `pulumi up -s shared` first" in err.value.render()


def test_plan_document_shape_is_stable():
    doc = document.plan_document(plan_of("dev"))
    assert list(doc) == ["format", "stack", "role", "project", "tls", "sharedStack", "stateDir",
                         "networks", "registries", "mirrors", "hostPort", "san", "certsDir",
                         "hostsFiles", "caFile", "nodes", "deleteVolumesOnDestroy"]
    assert doc["format"] == "kindreg/plan/v1"
    assert list(doc["registries"][0]) == [
        "role", "name", "container", "network", "ip", "port", "scheme", "url", "host",
        "upstream", "ttl", "username", "passwordFrom", "volume", "image", "scope", "owner", "files"]
    shared = document.plan_document(plan_of("shared"))
    assert [r["ip"] for r in shared["registries"]] == ["10.125.200.2", "10.125.200.3",
                                                      "10.125.200.4", "10.125.200.5"]


def test_shared_plan_of_the_shared_stack_file():
    loaded = load_stack(PROJECT, "shared")
    assert plan_shared(loaded.config, "shared").export() == plan_of("dev").shared
