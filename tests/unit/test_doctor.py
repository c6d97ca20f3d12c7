"""`doctor` against a fake engine and fake host facts: every check, exact lines."""
import pytest

from kindreg import cli
from kindreg.ops import doctor
from kindreg.core.render import network_labels, volume_labels
from kindreg.core.vocabulary import Scope
from kindreg.ops.doctor import HostFacts
from kindreg.adapters.reach import HostRoutes
from tests.fake_engine import FakeEngine, container, network, node, planted, registry
from tests.helpers import PROJECT, plan_of

GOOD_HOST = HostFacts(which=lambda t: f"/usr/bin/{t}", ca_file=lambda: "/ca/rootCA.pem",
                      trusted=lambda ca: True, port_free=lambda p: True, pulumi=lambda: "/usr/bin/pulumi")


def facts(**kw) -> HostFacts:
    return HostFacts(**{**GOOD_HOST.__dict__, **kw})


def running_dev(shared_cidr="10.125.200.0/24", worker_nets=None, extra=()):
    shared, dev = plan_of("shared"), plan_of("dev")
    regs = [registry(r) for r in (*shared.mirrors, *dev.registries)]
    nodes = [node("dev-control-plane", "dev", {"lok8s": "10.125.125.129", "lok8s-registries": "10.125.200.129"}),
             node("dev-worker", "dev", worker_nets or {"lok8s": "10.125.125.130", "lok8s-registries": "10.125.200.130"})]
    nets = [network("lok8s-registries", shared_cidr, containers={m.container: m.ip for m in shared.mirrors},
                    labels=network_labels(Scope.SHARED, "shared")),
            network("lok8s", "10.125.125.0/24", containers={r.container: r.ip for r in dev.registries},
                    labels=network_labels(Scope.PROJECT, "dev"))]
    volumes = [{"Name": r.volume, "Labels": volume_labels(r)} for r in (*shared.mirrors, *dev.registries)]
    return planted(FakeEngine(regs + nodes + list(extra), nets, volumes=volumes), shared, dev)


def report(engine, stacks=("dev",), host=GOOD_HOST):
    plans = [(plan_of(s), "kindreg:shared" if s.startswith("shared") else "kindreg:cluster") for s in stacks]
    return doctor.run(plans, engine, host)


def test_a_healthy_machine_passes_every_check():
    passed, text = report(running_dev(), ("shared", "dev"))
    assert passed
    assert text == """\
kindreg doctor
  ok    Docker engine reachable (engine 20.10.24)
  ok    Pulumi CLI: /usr/bin/pulumi
  ok    kind: /usr/bin/kind
  ok    this host reaches the registries at their addresses on the Docker networks
stack shared (shared):
  ok    network lok8s-registries: 10.125.200.0/24 as planned
  ok    registry addresses free or held by their own registries (4 checked)
stack dev (project):
  ok    network lok8s: 10.125.125.0/24 as planned
  ok    network lok8s-registries: 10.125.200.0/24 as planned
  ok    registry addresses free or held by their own registries (2 checked)
  ok    kind cluster dev: 2 node(s) on lok8s and lok8s-registries
all checks passed"""


def test_subnet_mismatch_names_the_real_config_field():
    passed, text = report(running_dev(shared_cidr="10.0.0.0/24"), ("shared", "dev"))
    assert not passed
    assert ("  FAIL  registry network 'lok8s-registries' exists with subnet 10.0.0.0/24, expected 10.125.200.0/24\n"
            "        fix: align kindreg:cluster.registries.shared.network.cidr with 10.0.0.0/24, or remove the "
            "network (`pulumi destroy` of the stack that owns it, or `docker network rm lok8s-registries`) and "
            "let the next `pulumi up` recreate it") in text
    assert "fix: align kindreg:shared.network.cidr with 10.0.0.0/24" in text
    assert text.endswith("2 check(s) failed")


def test_a_registry_address_taken_by_a_stranger():
    engine = running_dev()
    engine._networks[1]["Containers"]["id-squatter"] = {"Name": "squatter", "IPv4Address": "10.125.125.101/24"}
    passed, text = report(engine)
    assert not passed
    assert ("  FAIL  10.125.125.101 on lok8s (planned for lok8s-registry-build) is taken by container "
            "'squatter', which kindreg does not own there\n"
            "        fix: `docker network disconnect lok8s squatter` (or remove it), or give the stack "
            "another slot (kindreg:cluster.network.cidr)") in text


def test_a_node_missing_the_shared_network_gets_the_connect_command():
    passed, text = report(running_dev(worker_nets={"lok8s": "10.125.125.130"}))
    assert not passed
    assert ("  FAIL  node dev-worker is not on lok8s-registries\n"
            "        fix: docker network connect lok8s-registries dev-worker") in text


def test_a_new_network_that_would_overlap_another():
    engine = FakeEngine([], [network("someone-elses", "10.125.0.0/16")])
    passed, text = report(engine, ("alt",))
    assert not passed
    assert ("  FAIL  network alt 10.125.50.0/24 would overlap network 'someone-elses' (10.125.0.0/16); "
            "Docker will refuse it\n        fix: choose another slot in kindreg:cluster.network.cidr, "
            "or remove network 'someone-elses'") in text


@pytest.mark.parametrize("engine_extra, free, expected", [
    ([], True, "  ok    host port 5050 is free"),
    ([], False, "  FAIL  host port 5050 is in use by another program on this machine\n"
                "        fix: set kindreg:cluster.registries.hostPort to a free port"),
    ([container("web", {}, {"bridge": "172.17.0.2"}, ports={"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "5050"}]})],
     True, "  FAIL  host port 5050 is published by container 'web'\n"
           "        fix: stop it, or set kindreg:cluster.registries.hostPort to a free port"),
    ([container("qa-registry-build", {}, {"qa": "10.125.60.101"},
                ports={"443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5050"}]})],
     True, "  ok    host port 5050 publishes qa-registry-build"),
])
def test_host_port(engine_extra, free, expected):
    _, text = report(FakeEngine(engine_extra), ("qa",), facts(port_free=lambda p: free))
    assert expected in text


@pytest.mark.parametrize("host, expected", [
    (facts(which=lambda t: None), "  FAIL  mkcert is not on PATH (TLS registries need its local CA)\n"
                                  "        fix: install mkcert, then run `mkcert -install` once on this machine"),
    (facts(ca_file=lambda: None), "  FAIL  mkcert's local CA does not exist\n"
                                  "        fix: run `mkcert -install` once on this machine"),
    (facts(trusted=lambda ca: False), "  FAIL  mkcert CA is not in the host's trust store: docker push and curl "
                                      "to the registries will fail verification\n"
                                      "        fix: run `mkcert -install` once on this machine"),
    (facts(trusted=lambda ca: None), "  ok    mkcert CA trust by the host: not checked on this platform"),
    (GOOD_HOST, "  ok    mkcert CA is trusted by the host (docker push and curl need no -k)"),
])
def test_tls_checks(host, expected):
    _, text = report(FakeEngine(), ("qa",), host)
    assert expected in text


def test_unreachable_engine_fails_and_the_host_checks_still_run():
    passed, text = report(FakeEngine(reachable=False), ("qa",), facts(trusted=lambda ca: False))
    assert not passed
    assert text.splitlines()[:2] == [
        "kindreg doctor",
        "  FAIL  cannot reach the Docker engine (connection refused); start Docker or check DOCKER_HOST"]
    assert "mkcert CA is not in the host's trust store" in text
    assert "network" not in text  # nothing engine-side was claimed


def test_unreachable_engine_prints_no_empty_stack_headers():
    passed, text = report(FakeEngine(reachable=False), ("shared", "dev"))
    assert not passed
    assert "stack shared (shared):" not in text and "stack dev (project):" not in text
    assert "not checked against the engine (it is unreachable): stacks shared, dev" in text


def test_missing_pulumi_and_kind_fail_with_the_fix():
    passed, text = report(running_dev(), ("dev",), facts(which=lambda t: None, pulumi=lambda: None))
    assert not passed
    assert "FAIL  the Pulumi CLI is not on PATH (kindreg up, preview and down run it)" in text
    assert "FAIL  kind is not on PATH (stacks with nodes create their cluster with it)" in text
    assert text.endswith("2 check(s) failed")


def test_kind_is_not_needed_by_a_stack_without_nodes():
    passed, text = report(FakeEngine([], []), ("shared",), facts(which=lambda t: None))
    assert "kind:" not in text and "kind is not on PATH" not in text


def test_doctor_cli_exit_codes(monkeypatch, capsys):
    monkeypatch.setattr(cli, "ENGINE", running_dev)
    monkeypatch.setattr(cli.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(cli.pulumi_engine, "installed", lambda env: "/usr/bin/pulumi")
    assert cli.main(["doctor", "--project-dir", str(PROJECT), "--stack", "dev"]) == 0
    monkeypatch.setattr(cli, "ENGINE", lambda: running_dev(shared_cidr="10.9.9.0/24"))
    assert cli.main(["doctor", "--project-dir", str(PROJECT), "--stack", "dev"]) == 1
    assert "exists with subnet 10.9.9.0/24" in capsys.readouterr().out


def test_a_name_another_stack_holds_on_the_engine_fails_naming_it():
    shared, dev = plan_of("shared"), plan_of("dev")
    taken = container(dev.build.container, {"kindreg.managed": "true", "kindreg.stack": "other"},
                      {"lok8s": "10.125.125.101"})
    stray = {"Name": dev.cache.volume, "Labels": {}}
    engine = FakeEngine([taken], [], volumes=[stray])
    passed, text = report(engine, ("dev",))
    assert not passed
    assert "FAIL  container lok8s-registry-build exists on the engine and belongs to stack other" in text
    assert "FAIL  volume lok8s-registry-cache-data exists on the engine and belongs to something kindreg did not create" in text


def desktop(published: bool = True, docker_host: str = "unix:///var/run/docker.sock"):
    """dev's registries on an engine whose container addresses this host cannot reach."""
    dev = plan_of("dev")
    ports = {r.name: {f"{r.port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(32770 + i)}]} if published else {}
             for i, r in enumerate(dev.registries)}
    engine = FakeEngine([registry(r, ports=ports[r.name]) for r in dev.registries], [], docker_host=docker_host)
    return engine, HostRoutes(docker_host, connect=lambda host, port: False)


def test_doctor_says_when_only_published_ports_reach_the_registries():
    engine, routes = desktop()
    passed, text = doctor.run([], engine, GOOD_HOST, routes)
    assert passed, text
    assert ("ok    container addresses are not reachable from this host (Docker Desktop, Colima or a rootless "
            "engine): cache, push and status go through the ports published on 127.0.0.1 (lok8s-registry-build "
            "127.0.0.1:32770, lok8s-registry-cache 127.0.0.1:32771); the nodes still pull by address") in text


def test_doctor_fails_a_registry_neither_routable_nor_published():
    engine, routes = desktop(published=False)
    passed, text = doctor.run([], engine, GOOD_HOST, routes)
    assert not passed
    assert ("FAIL  registry lok8s-registry-build cannot be reached from this host: its address is not reachable "
            "from this host and it publishes no port on 127.0.0.1") in text
    assert "fix: run `kindreg up` for its stack: build and cache registries are published on 127.0.0.1" in text


def test_doctor_only_warns_when_the_engine_is_remote():
    engine, routes = desktop(docker_host="ssh://builder@ci-box")
    passed, text = doctor.run([], engine, GOOD_HOST, routes)
    assert passed, text
    assert ("warn  2 registries cannot be reached from this host: the engine is remote (ssh://builder@ci-box): "
            "its container addresses and published ports are on that machine") in text


def test_a_mirror_with_traffic_and_no_hits_is_flagged():
    from tests.unit.test_status import debug_vars, with_traffic
    engine = with_traffic(running_dev(), "lok8s-registry-io-docker", debug_vars(40, 0, 40, 10 ** 9, 10 ** 9))
    engine = with_traffic(engine, "lok8s-registry-io-quay", debug_vars(40, 30, 10, 10 ** 8, 10 ** 9))
    passed, text = report(engine, ("shared",))
    assert passed  # a warning: the pulls worked, only slower than they should
    assert ("  warn  mirror lok8s-registry-io-docker: 40 requests since it started and no cache hit: every pull "
            "went to the upstream\n        fix: check `kindreg status` (DISK, MODE)") in text
    assert "io-quay" not in text


def test_mirrors_that_hit_their_caches_pass_with_the_hit_rate():
    from tests.unit.test_status import debug_vars, with_traffic
    engine = with_traffic(running_dev(), "lok8s-registry-io-docker", debug_vars(40, 30, 10, 10 ** 8, 10 ** 9))
    engine = with_traffic(engine, "lok8s-registry-io-quay", debug_vars(5, 0, 5, 10 ** 6, 10 ** 6))  # young
    passed, text = report(engine, ("shared",))
    assert passed and "  ok    mirrors answer from their caches (67% of 45 requests)" in text
    assert "warn" not in text
