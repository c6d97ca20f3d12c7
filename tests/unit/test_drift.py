"""Expected against observed (kindreg.core.drift): each rule, on plain values.

A world "as planned" is built from the expected model itself; each test changes one thing in
it as a user's hand or a daemon restart would, and checks the one difference and its fix.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from kindreg.core import drift, resources
from kindreg.core.drift import Drift, Fix
from kindreg.core.expected import Expected, Thing, WantTls, expected
from kindreg.core.render import PROXY_PASSWORD_ENV, TLS_CERT
from kindreg.core.world import Recorded, SeenContainer, SeenNetwork, SeenNode, SeenVolume, World
from tests.helpers import plan_of

CA = "-----BEGIN CERTIFICATE-----\nlocal CA\n-----END CERTIFICATE-----\n"


def as_planned(want: Expected) -> World:
    nets = {n.name: SeenNetwork(n.name, f"id-{n.name}", (n.subnet,), dict(n.labels), ()) for n in want.networks}
    if want.shared_network:
        nets[want.shared_network] = SeenNetwork(want.shared_network, f"id-{want.shared_network}", ("10.0.0.0/24",), {}, ())
    containers = {c.name: SeenContainer(
        name=c.name, id=f"id-{c.name}", running=True, health="healthy", image=f"sha256:{c.image}",
        env_names=frozenset(e.split("=", 1)[0] for e in c.env), env=c.env, labels=dict(c.labels),
        networks={c.network: c.ip or "10.0.0.9"}, files=dict(c.files), network_ids={c.network: f"id-{c.network}"})
        for c in want.containers}
    nodes = {n.name: SeenNode(n.name, True, {net: "10.0.0.200" for net in n.networks},
                              {p: f.sha256 for p, f in n.files.items()}, n.registry_hosting,
                              n.registry_hosting is not None, {net: f"id-{net}" for net in n.networks})
             for n in want.nodes}
    return World(containers=containers, networks=nets, volumes={v.name: SeenVolume(v.name, {}) for v in want.volumes},
                 images={c.image: f"sha256:{c.image}" for c in want.containers}, nodes=nodes)


@pytest.fixture
def dev() -> Expected:
    return expected(plan_of("dev"), None, CA)


@pytest.fixture
def shared() -> Expected:
    return expected(plan_of("shared"))


def only(found: list) -> drift.Difference:
    assert len(found) == 1, [d.line() for d in found]
    return found[0]


def with_container(world: World, name: str, **changes) -> World:
    return replace(world, containers={**world.containers, name: replace(world.containers[name], **changes)})


def with_node(world: World, name: str, **changes) -> World:
    return replace(world, nodes={**world.nodes, name: replace(world.nodes[name], **changes)})


def test_a_world_as_planned_has_no_difference(dev, shared):
    assert drift.compare(dev, as_planned(dev)) == []
    assert drift.compare(shared, as_planned(shared)) == []


# ---------------------------------------------------------------- containers

def test_a_removed_container_is_missing_and_the_engine_makes_it(shared):
    world = as_planned(shared)
    name = shared.containers[0].name
    d = only(drift.compare(shared, replace(world, containers={k: v for k, v in world.containers.items() if k != name})))
    assert (d.thing, d.name, d.drift, d.fix) == (Thing.MIRROR, name, Drift.MISSING, Fix.ENGINE)
    assert "kindreg up --stack shared" in d.remedy()


def test_a_stopped_container_is_started_by_the_engine(dev):
    name = dev.containers[1].name
    d = only(drift.compare(dev, with_container(as_planned(dev), name, running=False)))
    assert (d.thing, d.drift, d.fix) == (Thing.CACHE, Drift.STOPPED, Fix.ENGINE)


def test_a_stopped_container_has_no_address_and_is_still_only_stopped(dev):
    """Docker reports no IP on a stopped container's endpoint: that is not a change."""
    c = dev.containers[1]
    world = as_planned(dev)
    seen = world.containers[c.name]
    blank = {net: "" for net in seen.networks}
    d = only(drift.compare(dev, with_container(world, c.name, running=False, networks=blank)))
    assert (d.thing, d.drift, d.fix) == (Thing.CACHE, Drift.STOPPED, Fix.ENGINE)


def test_an_unhealthy_container_is_made_anew(dev):
    name = dev.containers[0].name
    d = only(drift.compare(dev, with_container(as_planned(dev), name, health="unhealthy")))
    assert (d.drift, d.fix) == (Drift.UNHEALTHY, Fix.REMOVE)


def test_another_image_is_a_change_kindreg_removes(shared):
    front = next(c for c in shared.containers if c.thing is Thing.FRONT)
    d = only(drift.compare(shared, with_container(as_planned(shared), front.name, image="sha256:other")))
    assert (d.thing, d.drift, d.fix) == (Thing.FRONT, Drift.CHANGED, Fix.REMOVE)
    assert f"planned {front.image}" in d.detail


def test_a_changed_planned_variable_is_named_with_its_name_only(shared):
    mirror = shared.containers[0]
    env = frozenset(e if not e.startswith("KINDREG_UPSTREAM=") else "KINDREG_UPSTREAM=http://elsewhere" for e in mirror.env)
    d = only(drift.compare(shared, with_container(as_planned(shared), mirror.name, env=env)))
    assert d.drift is Drift.CHANGED and "environment differs: KINDREG_UPSTREAM" in d.detail
    assert "elsewhere" not in d.detail


def test_an_added_registry_override_is_a_change_and_the_image_own_variables_are_not(dev):
    cache = dev.containers[1]
    world = as_planned(dev)
    added = with_container(world, cache.name, env_names=frozenset({"PATH", "OTEL_TRACES_EXPORTER",
                                                                    "REGISTRY_STORAGE_DELETE_ENABLED"}))
    d = only(drift.compare(dev, added))
    assert "adds REGISTRY_STORAGE_DELETE_ENABLED" in d.detail and d.fix is Fix.REMOVE
    image_own = with_container(world, cache.name, env_names=frozenset({"PATH", "OTEL_TRACES_EXPORTER"}))
    assert drift.compare(dev, image_own) == []


def test_the_proxy_credentials_are_not_an_addition(shared):
    mirror = shared.containers[0]
    world = with_container(as_planned(shared), mirror.name,
                           env_names=frozenset({*(e.split("=")[0] for e in mirror.env), PROXY_PASSWORD_ENV}))
    assert drift.compare(shared, world) == []


def test_a_container_recreated_outside_kindreg_is_seen_from_the_state(dev):
    cache = dev.containers[1]
    recorded = Recorded(ids={cache.resource: "the-id-kindreg-made"})
    d = only(drift.compare(dev, as_planned(dev), recorded))
    assert "recreated outside kindreg" in d.detail and d.fix is Fix.REMOVE


def test_an_edited_uploaded_file_is_a_change(shared):
    mirror = shared.containers[0]
    path = next(iter(mirror.files))
    d = only(drift.compare(shared, with_container(as_planned(shared), mirror.name,
                                                  files={**mirror.files, path: "edited"})))
    assert f"file {path} differs" in d.detail


def test_files_of_a_stopped_container_are_not_judged(shared):
    mirror = shared.containers[0]
    d = only(drift.compare(shared, with_container(as_planned(shared), mirror.name, running=False, files={})))
    assert d.drift is Drift.STOPPED


def test_a_container_on_a_removed_network_is_made_anew(dev):
    cache = dev.containers[1]
    world = as_planned(dev)
    net = world.networks[cache.network]
    world = replace(world, networks={**world.networks, cache.network: replace(net, id="a-new-id")})
    found = drift.compare(dev, world)
    assert {d.name for d in found if d.fix is Fix.REMOVE} >= {cache.name}
    assert any("network lok8s that was removed" in d.detail for d in found)


def test_a_container_at_another_address_is_a_change(dev):
    build = dev.containers[0]
    d = only(drift.compare(dev, with_container(as_planned(dev), build.name, networks={build.network: "10.125.125.50"})))
    assert f"planned {build.ip}" in d.detail


def test_a_container_kindreg_did_not_label_is_left_to_the_user(dev):
    build = dev.containers[0]
    d = only(drift.compare(dev, with_container(as_planned(dev), build.name, labels={})))
    assert (d.drift, d.fix) == (Drift.FOREIGN, Fix.HAND)
    assert f"docker rm -f {build.name}" in d.remedy()
    assert drift.by_hand([d]) == [d]


# ---------------------------------------------------------------- networks and volumes

def test_a_removed_network_and_volume_are_made_by_the_engine(dev):
    world = as_planned(dev)
    world = replace(world, networks={k: v for k, v in world.networks.items() if k != "lok8s"}, volumes={})
    found = drift.compare(dev, world)
    assert (found[0].thing, found[0].drift, found[0].fix) == (Thing.NETWORK, Drift.MISSING, Fix.ENGINE)
    volumes = [d for d in found if d.thing is Thing.VOLUME]
    assert len(volumes) == 2 and all("empty cache" in d.detail for d in volumes)


def test_a_network_recreated_with_another_subnet(dev):
    world = as_planned(dev)
    net = world.networks["lok8s"]
    empty = replace(world, networks={**world.networks, "lok8s": replace(net, subnets=("10.9.9.0/24",))})
    assert [d.fix for d in drift.compare(dev, empty) if d.thing is Thing.NETWORK] == [Fix.REMOVE]
    attached = replace(world, networks={**world.networks, "lok8s": replace(net, subnets=("10.9.9.0/24",),
                                                                            members=("someone",))})
    d = next(d for d in drift.compare(dev, attached) if d.thing is Thing.NETWORK)
    assert d.fix is Fix.HAND and "someone attached" in d.detail


def test_a_network_of_the_same_name_kindreg_did_not_make(dev):
    world = as_planned(dev)
    world = replace(world, networks={**world.networks, "lok8s": replace(world.networks["lok8s"], labels={})})
    d = only(drift.compare(dev, world))
    assert (d.drift, d.fix) == (Drift.FOREIGN, Fix.HAND) and "docker network rm lok8s" in d.remedy()


# ---------------------------------------------------------------- nodes

def test_a_removed_node_replaces_the_cluster(dev):
    world = as_planned(dev)
    world = replace(world, nodes={k: v for k, v in world.nodes.items() if k != "dev-worker"})
    d = only(drift.compare(dev, world))
    assert (d.thing, d.fix, d.resource) == (Thing.NODE, Fix.REPLACE, resources.kind("dev"))
    assert drift.replacements([d, d]) == [resources.kind("dev")]


def test_a_stopped_node_is_started_and_its_files_not_judged(dev):
    d = only(drift.compare(dev, with_node(as_planned(dev), "dev-worker", running=False, files={})))
    assert (d.thing, d.drift, d.fix) == (Thing.NODE, Drift.STOPPED, Fix.START)


def test_a_node_off_a_network_is_connected(dev):
    world = with_node(as_planned(dev), "dev-worker", networks={"lok8s": "10.125.125.200"})
    d = only(drift.compare(dev, world))
    assert (d.thing, d.name, d.fix, d.network) == (Thing.NODE_NETWORK, "dev-worker on lok8s-registries",
                                                   Fix.CONNECT, "lok8s-registries")


def test_a_node_joined_to_a_removed_network_is_reconnected(dev):
    world = as_planned(dev)
    world = replace(world, networks={k: v for k, v in world.networks.items() if k != "lok8s"})
    found = drift.compare(dev, with_node(world, "dev-worker", running=False, files={}))
    fixes = {(d.name, d.fix) for d in found}
    assert ("dev-worker on lok8s", Fix.RECONNECT) in fixes and ("dev-worker", Fix.START) in fixes
    assert ("dev-control-plane on lok8s", Fix.RECONNECT) in fixes


@pytest.mark.parametrize("digest, drift_", [(None, Drift.MISSING), ("edited", Drift.CHANGED)])
def test_a_node_file_removed_or_edited_replaces_its_command(dev, digest, drift_):
    node = dev.nodes[1]
    path, file = next(iter(node.files.items()))
    world = with_node(as_planned(dev), node.name, files={**{p: f.sha256 for p, f in node.files.items()}, path: digest})
    d = only(drift.compare(dev, world))
    assert (d.thing, d.drift, d.fix, d.resource) == (Thing.NODE_FILE, drift_, Fix.REPLACE, file.resource)


def test_unreadable_node_files_are_unhealthy_and_name_the_command_to_look(dev):
    d = only(drift.compare(dev, with_node(as_planned(dev), "dev-worker", files=None)))
    assert (d.drift, d.fix) == (Drift.UNHEALTHY, Fix.HAND) and "docker exec dev-worker" in d.remedy()


@pytest.mark.parametrize("data, drift_", [(None, Drift.MISSING), ("host: elsewhere\n", Drift.CHANGED)])
def test_the_configmap_deleted_or_edited_is_applied_again(dev, data, drift_):
    cp = next(n for n in dev.nodes if n.registry_hosting is not None)
    d = only(drift.compare(dev, with_node(as_planned(dev), cp.name, registry_hosting=data)))
    assert (d.thing, d.drift, d.resource) == (Thing.CONFIGMAP, drift_, resources.registry_hosting("dev"))


def test_a_configmap_that_could_not_be_asked_for_says_nothing(dev):
    cp = next(n for n in dev.nodes if n.registry_hosting is not None)
    assert drift.compare(dev, with_node(as_planned(dev), cp.name, registry_hosting=None, hosting_read=False)) == []


# ---------------------------------------------------------------- TLS files on this host

def tls_stack(shared: Expected) -> tuple[Expected, World]:
    tls = WantTls("/s/tls/cert.pem", "/s/tls/key.pem", resources.mkcert("shared"))
    want = replace(shared, tls=tls, containers=tuple(replace(c, tls=c.thing is Thing.MIRROR) for c in shared.containers))
    world = as_planned(want)
    world = replace(world, host_files={tls.cert: "cert-digest", tls.key: "key-digest"},
                    containers={n: replace(c, files={**c.files, TLS_CERT: "cert-digest"}) for n, c in world.containers.items()})
    return want, world


def test_tls_files_removed_re_mint_the_certificate(shared):
    want, world = tls_stack(shared)
    d = only(drift.compare(want, replace(world, host_files={want.tls.cert: None, want.tls.key: "key-digest"})))
    assert (d.thing, d.drift, d.fix, d.resource) == (Thing.TLS, Drift.MISSING, Fix.REPLACE, resources.mkcert("shared"))


def test_a_certificate_other_than_the_minted_one_is_a_change(shared):
    want, world = tls_stack(shared)
    minted = Recorded(outputs={resources.mkcert("shared"): {"stdout": "cert-digest"}}, ids={"x": "y"})
    assert drift.compare(want, world, minted) == []
    overwritten = replace(world, host_files={**world.host_files, want.tls.cert: "another"})
    found = drift.compare(want, overwritten, minted)
    assert any(d.thing is Thing.TLS and d.drift is Drift.CHANGED for d in found)
    # The mirrors hold the old pair: they are made anew with the one on this host.
    assert any(d.thing is Thing.MIRROR and "cert.pem differs" in d.detail for d in found)


def test_every_difference_renders_for_json_with_its_remedy(dev):
    world = with_node(as_planned(dev), "dev-worker", running=False, files={})
    doc = only(drift.compare(dev, world)).to_json()
    assert doc["thing"] == "node" and doc["drift"] == "stopped" and "kindreg up --stack dev" in doc["remedy"]


# ---------------------------------------------------------------- what the engine must act on

def test_each_difference_names_the_resource_that_makes_it_and_the_engine_targets_those(dev):
    """Drift of containers alone is healed by replacing them (and, in the engine, updating their
    dependents); a volume or network gone needs the whole stack."""
    world = as_planned(dev)
    cache, build = dev.containers[1], dev.containers[0]
    gone = replace(world, containers={k: v for k, v in world.containers.items() if k != cache.name})
    found = drift.compare(dev, with_container(gone, build.name, health="unhealthy"))
    assert sorted(drift.engine_targets(found)) == sorted({build.resource, cache.resource})
    assert len(drift.engine_targets(found + found)) == 2  # each once
    no_volumes = drift.compare(dev, replace(gone, volumes={}))
    assert all(d.resource for d in no_volumes)
    assert drift.engine_targets(no_volumes) is None


def test_what_kindreg_fixes_on_a_node_is_no_target_and_a_node_file_is_its_command(dev):
    node = dev.nodes[1]
    path, file = next(iter(node.files.items()))
    off = with_node(as_planned(dev), node.name, networks={"lok8s": "10.125.125.200"},
                    files={**{p: f.sha256 for p, f in node.files.items()}, path: "edited"})
    found = drift.compare(dev, off)
    assert {d.fix for d in found} == {Fix.CONNECT, Fix.REPLACE}
    assert drift.engine_targets(found) == [file.resource]
    connect_only = [d for d in found if d.fix is Fix.CONNECT]
    assert drift.engine_targets(connect_only) is None  # nothing for the engine: the whole stack, as before


def test_a_difference_the_user_fixes_leaves_no_targets(dev):
    world = as_planned(dev)
    world = replace(world, networks={**world.networks, "lok8s": replace(world.networks["lok8s"], labels={})})
    assert drift.engine_targets(drift.compare(dev, world)) is None
