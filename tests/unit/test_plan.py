"""The address plan: exact IPs, names, ranges and SANs, from the specification's examples."""
import ipaddress
import json

import pytest

from kindreg.core import document
from kindreg.core.errors import ConfigError
from kindreg.adapters.files import read_text
from kindreg.core.layout import IFNAME_MAX, bridge_name
from kindreg.core.config import SharedStackConfig
from kindreg.core.plan import SharedExport, plan_shared
from kindreg.core.load import config_map
from kindreg.core.sources import read_stack_config
from kindreg.core.stacks import plan_loaded
from kindreg.ops.project import load as load_stack
from tests.helpers import PROJECT, PROJECT_FILE, plan_of


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
    config = read_stack_config(PROJECT_FILE, "dev", read_text)
    from_file = plan_loaded(config_map(config, "dev", "Pulumi.dev.yaml", PROJECT_FILE, read_text),
                            PROJECT_FILE, read_text)
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
        "10.125.50.106", "lok8s.local", "lok8s.cache", "localhost", "127.0.0.1", "docker.io", "quay.io",
        "registry.k8s.io", "ghcr.io")
    shared = plan_of("shared-tls")
    assert shared.san == ("10.125.201.2", "10.125.201.3", "docker.io", "quay.io")


def test_build_and_cache_are_published_on_loopback_mirrors_when_asked():
    alt = plan_of("alt")
    assert [(r.role.value, r.publish, r.host_port) for r in alt.registries[:2]] == [
        ("build", True, None), ("cache", True, None)]
    assert not any(m.publish for m in alt.mirrors)
    qa = plan_of("qa")
    assert (qa.build.publish, qa.build.host_port, qa.cache.host_port) == (True, 5050, None)
    shared = plan_shared(SharedStackConfig.model_validate(
        {"publishMirrors": True, "mirrors": [{"name": "io-quay", "url": "https://quay.io"}]}), "shared")
    assert [(m.publish, m.host_port) for m in shared.mirrors] == [(True, None)]
    assert shared.san == ("10.125.200.3", "localhost", "127.0.0.1", "quay.io")


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


# ---------------------------------------------------------------- stable mirror addresses

def shared_plan(mirrors, cidr="10.125.200.0/24"):
    from kindreg.core.load import shared_mapping
    loaded = shared_mapping({"network": {"cidr": cidr}, "mirrors": mirrors}, "shared", "test")
    return plan_shared(loaded.config, "shared")


def addresses(plan):
    return {m.name: m.ip for m in plan.mirrors}


MIRRORS = ["docker.io", "quay.io", "registry.gitlab.com", "mcr.microsoft.com", "ghcr.io"]


@pytest.mark.parametrize("change", [
    lambda ms: list(reversed(ms)),                      # reordered
    lambda ms: ms[1:],                                  # the first removed
    lambda ms: ms[:2] + ["public.ecr.aws"] + ms[2:],    # one inserted
    lambda ms: ["nvcr.io"] + ms,                        # one prepended
])
def test_a_mirror_keeps_its_address_whatever_happens_to_the_others(change):
    before = addresses(shared_plan(MIRRORS))
    after = addresses(shared_plan(change(list(MIRRORS))))
    assert {name: after[name] for name in before if name in after} == \
           {name: ip for name, ip in before.items() if name in after}


def test_the_four_well_known_mirrors_keep_the_specification_addresses():
    assert addresses(shared_plan(["ghcr.io", "docker.io"])) == {"io-ghcr": "10.125.200.5", "io-docker": "10.125.200.2"}


def colliding_names(scope_capacity_first=6):
    """Two mirror names whose derived addresses collide in the shared subnet (found, not hard-coded)."""
    from kindreg.core import layout
    from kindreg.core.vocabulary import DEFAULT_MIRROR_NAMES, Scope
    seen = {}
    for n in range(10_000):
        name = f"m{n}"
        offset = layout.mirror_offset(name, Scope.SHARED, DEFAULT_MIRROR_NAMES)
        if offset in seen:
            return seen[offset], name, offset
        seen[offset] = name
    raise AssertionError("no collision found")


def test_two_mirrors_on_one_derived_address_is_an_error_with_a_free_address():
    a, b, offset = colliding_names()
    mirrors = [{"name": a, "url": f"https://{a}.example"}, {"name": b, "url": f"https://{b}.example"}]
    with pytest.raises(ConfigError) as err:
        shared_plan(mirrors)
    text = err.value.render()
    assert (f"kindreg:shared.mirrors[1]: gets address 10.125.200.{offset} (derived from its name), as "
            f"kindreg:shared.mirrors[0] does; set `address` on one of them to a free address, e.g. "
            f'"10.125.200.6"') in text
    mirrors[1]["address"] = "10.125.200.90"
    assert addresses(shared_plan(mirrors))[b] == "10.125.200.90"


def test_an_explicit_address_must_be_a_mirror_address_of_the_subnet():
    with pytest.raises(ConfigError) as err:
        shared_plan([{"name": "x", "url": "https://x.example", "address": "10.125.200.200"}])
    assert 'mirrors[0].address: "10.125.200.200" is outside the mirrors\' addresses of the shared subnet' in err.value.render()


@pytest.mark.parametrize("setting, docker_host, in_volume", [
    ("auto", None, False), ("auto", "unix:///Users/me/.docker/run/docker.sock", False),
    ("auto", "ssh://me@builder", True), ("auto", "tcp://10.0.0.5:2376", True),
    ("directory", "ssh://me@builder", False), ("volume", None, True),
])
def test_the_containerd_tree_is_a_volume_where_the_engine_cannot_see_this_machine(setting, docker_host, in_volume):
    config = read_stack_config(PROJECT, "dev", read_text)
    config["kindreg:cluster"]["nodes"]["certsTree"] = setting
    plan = plan_loaded(config_map(config, "dev", "dev", PROJECT, read_text), PROJECT, read_text)
    assert plan.tree_in_volume(docker_host) is in_volume
    assert plan.certs_volume == "lok8s-containerd-certs"


def test_certs_tree_takes_only_its_three_places():
    from kindreg.core.config import NodesSpec
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match='is not a place for the containerd tree; use "auto", "directory", "volume"'):
        NodesSpec.model_validate({"certsTree": "nfs"})
