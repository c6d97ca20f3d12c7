"""What an interrupted or concurrent run leaves, and how kindreg acts on differences: locks,
pending operations, the machine lock, the order of the fixes, and the reading of the world."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from kindreg.adapters import machinelock, world as world_reader
from kindreg.core import drift
from kindreg.core.drift import Difference, Drift, Fix
from kindreg.core.expected import Thing, expected
from kindreg.core.vocabulary import MANAGED_VALUE, Label
from kindreg.core.world import PendingOperation, Recorded
from kindreg.ops import recover
from kindreg.ops.reconcile import Machine
from tests.fake_engine import FakeEngine, container, network, node, planted, registry
from tests.helpers import plan_of


@dataclass
class FileLock:
    path: Path
    pid: Optional[int]
    username: str = "ana"
    hostname: str = "laptop"
    since: str = "2026-12-06T07:00:00Z"


def lock_file(tmp_path: Path, pid: Optional[int] = 4242, hostname: str = "laptop") -> FileLock:
    path = tmp_path / "lock.json"
    path.write_text("{}")
    return FileLock(path, pid, hostname=hostname)


# ---------------------------------------------------------------- the engine's lock

def test_a_lock_of_a_dead_process_of_this_machine_is_removed_saying_so(tmp_path):
    lock, said = lock_file(tmp_path), []
    recover.clear_stale_locks("dev", [lock], said.append, alive=lambda pid: False, hostname="laptop")
    assert not lock.path.exists()
    assert said == ["removed the lock on stack dev left by ana@laptop (pid 4242, since 2026-12-06T07:00:00Z), "
                    "which is no longer running"]


def test_a_lock_of_a_live_process_is_kept_and_named(tmp_path):
    lock = lock_file(tmp_path)
    with pytest.raises(recover.Refused, match=r"locked by a running process of this machine, ana@laptop "
                                              r"\(pid 4242.*`kill 4242`"):
        recover.clear_stale_locks("dev", [lock], print, alive=lambda pid: True, hostname="laptop")
    assert lock.path.exists()


def test_a_lock_of_another_machine_is_never_removed(tmp_path):
    lock = lock_file(tmp_path, hostname="ci-runner-7")
    with pytest.raises(recover.Refused, match="another machine, ana@ci-runner-7.*pulumi cancel --stack dev"):
        recover.clear_stale_locks("dev", [lock], print, alive=lambda pid: False, hostname="laptop")
    assert lock.path.exists()


def test_a_pid_reused_by_another_program_is_not_a_pulumi_run():
    assert recover.pulumi_alive(os.getpid()) is False  # pytest, not pulumi
    assert recover.pulumi_alive(2 ** 22 + 12345) is False  # beyond pid_max: no such process


# ---------------------------------------------------------------- pending operations

def ours(stack: str) -> dict:
    return {Label.MANAGED: MANAGED_VALUE, Label.STACK: stack}


def pending(kind: str, type_: str, name: str) -> PendingOperation:
    return PendingOperation(f"urn:pulumi:dev::kindreg::{type_}::{name}", kind, type_, name, {"name": name})


def test_what_a_pending_create_made_is_found_only_when_it_is_this_stacks():
    made = {**container("kr-dev-registry-build", ours("dev"), {}), "Id": "c0ffee"}
    other = {**container("kr-qa-registry-build", ours("qa"), {}), "Id": "bad"}
    engine = FakeEngine([made, other], networks=[{**network("kr-dev", "10.1.0.0/24", ours("dev")), "Id": "n1"}],
                        volumes=[{"Name": "kr-dev-data", "Labels": ours("dev")}])
    assert recover.existing_id(engine, "dev", pending("creating", "docker:index/container:Container",
                                                      "kr-dev-registry-build")) == "c0ffee"
    assert recover.existing_id(engine, "dev", pending("creating", "docker:index/container:Container",
                                                      "kr-qa-registry-build")) is None
    assert recover.existing_id(engine, "dev", pending("creating", "docker:index/network:Network", "kr-dev")) == "n1"
    assert recover.existing_id(engine, "dev", pending("creating", "docker:index/volume:Volume", "kr-dev-data")) == "kr-dev-data"
    assert recover.existing_id(engine, "dev", pending("creating", "command:local:Command", "kr-dev-certs")) is None


class Resolver:
    def __init__(self):
        self.calls = []

    def resolve_pending(self, name, imports):
        self.calls.append((name, imports))
        return ""


def test_pending_operations_are_kept_when_they_exist_and_dropped_otherwise():
    made = {**container("kr-dev-registry-build", ours("dev"), {}), "Id": "c0ffee"}
    ops = (pending("creating", "docker:index/container:Container", "kr-dev-registry-build"),
           pending("creating", "docker:index/container:Container", "kr-dev-registry-cache"),
           pending("deleting", "docker:index/network:Network", "kr-dev"))
    said, resolver = [], Resolver()
    assert recover.resolve_pending(resolver, FakeEngine([made]), "dev", Recorded(pending=ops), said.append)
    assert resolver.calls == [("dev", {ops[0].urn: "c0ffee"})]
    assert "kept (they exist): kr-dev-registry-build" in said[1]
    assert "kr-dev-registry-cache (creating), kr-dev (deleting)" in said[2]
    assert not recover.resolve_pending(resolver, FakeEngine(), "dev", Recorded(), said.append)
    assert len(resolver.calls) == 1


def test_the_nodes_a_killed_kind_create_left_are_removed_and_no_other_clusters():
    from kindreg.core import scripts
    from kindreg.core.vocabulary import KIND_CLUSTER_LABEL
    nodes = [container(n, {KIND_CLUSTER_LABEL: c}, {}) for n, c in
             (("dev-control-plane", "dev"), ("dev-worker", "dev"), ("qa-control-plane", "qa"))]
    engine = FakeEngine(nodes)
    op = PendingOperation("urn:pulumi:dev::kindreg::command:local:Command::dev-kind", "creating",
                          "command:local:Command", "dev-kind",
                          {"create": scripts.KIND_CREATE, "environment": {"KINDREG_CLUSTER": "dev"}})
    said = []
    recover.resolve_pending(Resolver(), engine, "dev", Recorded(pending=(op,)), said.append)
    assert [c for c in engine.calls if c[0] == "rm"] == [("rm", ("dev-control-plane",)), ("rm", ("dev-worker",))]
    assert any("kind cluster dev" in line and "dev-worker" in line for line in said), said
    other = PendingOperation(op.urn, "creating", op.type, op.name, {"create": "true", "environment": {"KINDREG_CLUSTER": "qa"}})
    recover.resolve_pending(Resolver(), engine, "dev", Recorded(pending=(other,)), said.append)
    assert [c for c in engine.calls if c[0] == "rm"] == [("rm", ("dev-control-plane",)), ("rm", ("dev-worker",))]  # not a kind create: nothing more


# ---------------------------------------------------------------- the machine lock

def test_a_second_kindreg_waits_with_a_message_then_goes_on(tmp_path):
    path = machinelock.lock_path(tmp_path, "file:///state", "kindreg", "shared")
    said, order = [], []
    held = threading.Event()

    def first():
        with machinelock.exclusive(path, "stack shared", lambda s: None):
            held.set()
            time.sleep(1.0)
            order.append("first done")

    t = threading.Thread(target=first)
    t.start()
    held.wait(5)
    with machinelock.exclusive(path, "stack shared", said.append):
        order.append("second in")
    t.join()
    assert order == ["first done", "second in"]
    assert len(said) == 1 and "stack shared is being changed by another kindreg (pid" in said[0]
    assert said[0].endswith("waiting for it to finish")


def test_the_machine_lock_is_one_file_per_backend_project_and_stack(tmp_path):
    a = machinelock.lock_path(tmp_path, "file:///a", "kindreg", "dev")
    assert a == machinelock.lock_path(tmp_path, "file:///a", "kindreg", "dev")
    assert a != machinelock.lock_path(tmp_path, "file:///b", "kindreg", "dev")
    assert a != machinelock.lock_path(tmp_path, "file:///a", "kindreg", "qa")


# ---------------------------------------------------------------- acting on differences

def diff(fix: Fix, name: str, thing: Thing = Thing.NODE, network: Optional[str] = None) -> Difference:
    return Difference("dev", thing, name, Drift.CHANGED, "", fix, network=network)


def test_nodes_are_detached_before_they_start_and_joined_after_the_engine(tmp_path):
    nodes = [node("dev-worker", "dev", {"lok8s": "10.1.0.200", "lok8s-registries": "10.2.0.200"})]
    engine = FakeEngine(nodes)
    m = Machine(engine, tmp_path)
    found = [diff(Fix.START, "dev-worker"), diff(Fix.RECONNECT, "dev-worker on lok8s", Thing.NODE_NETWORK, "lok8s"),
             diff(Fix.REMOVE, "lok8s-registry-build", Thing.BUILD),
             diff(Fix.CONNECT, "dev-worker on lok8s-registries", Thing.NODE_NETWORK, "lok8s-registries"),
             diff(Fix.ENGINE, "lok8s-registry-cache", Thing.CACHE)]
    said = []
    engine.network_disconnect("lok8s-registries", "dev-worker")  # the CONNECT case's starting point
    engine.calls.clear()
    m.before(found, said.append)
    assert engine.calls == [("rm", ("lok8s-registry-build",)), ("network disconnect", ("lok8s", "dev-worker")),
                            ("start", ("dev-worker",))]
    engine.calls.clear()
    m.after(found, said.append)
    assert engine.calls == [("network connect", ("lok8s", "dev-worker")),
                            ("network connect", ("lok8s-registries", "dev-worker"))]
    assert said[1] == "  detached node dev-worker from the removed network lok8s"


# ---------------------------------------------------------------- reading the world

def machine_as_planned():
    dev, shared = plan_of("dev"), plan_of("shared")
    regs = [registry(r) for p in (dev, shared) for r in p.registries]
    nodes = [node(n, "dev", {"lok8s": "10.125.125.200", "lok8s-registries": "10.200.0.200"}) for n in dev.nodes.names]
    return dev, planted(FakeEngine([*regs, *nodes]), dev, shared)


def test_the_world_is_read_with_file_digests_and_the_configmap():
    dev, engine = machine_as_planned()
    want = expected(dev)
    seen = world_reader.observe(engine, [want])
    cp = seen.nodes["dev-control-plane"]
    assert cp.hosting_read and cp.registry_hosting == want.nodes[0].registry_hosting
    assert cp.files == {p: f.sha256 for p, f in want.nodes[0].files.items()}
    assert seen.containers["lok8s-registry-build"].files == dict(want.containers[0].files)
    # no volume or network in the fake: the comparison says so, and nothing else
    assert {d.thing for d in drift.compare(want, seen)} == {Thing.NETWORK, Thing.VOLUME}


def test_a_removed_node_file_and_a_deleted_configmap_are_read_as_missing():
    dev, engine = machine_as_planned()
    want = expected(dev)
    path = next(iter(want.nodes[1].files))
    del engine.files["dev-worker"][path]
    del engine.hosting["dev-control-plane"]
    seen = world_reader.observe(engine, [want])
    assert seen.nodes["dev-worker"].files[path] is None
    assert seen.nodes["dev-control-plane"].hosting_read and seen.nodes["dev-control-plane"].registry_hosting is None


def test_secret_variables_are_kept_by_name_only():
    dev, engine = machine_as_planned()
    engine.containers()[0]["Config"]["Env"] = ["REGISTRY_PROXY_PASSWORD=Canary-do-not-keep", "PATH=/bin"]
    seen = world_reader.observe(engine, [expected(dev)])
    c = seen.containers[engine.containers()[0]["Name"].lstrip("/")]
    assert "REGISTRY_PROXY_PASSWORD" in c.env_names
    assert not any("Canary" in e for e in c.env)
