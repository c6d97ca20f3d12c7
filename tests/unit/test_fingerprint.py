"""The no-op `up`'s fingerprint (kindreg.core.fingerprint, kindreg.ops.fastpath) is exact: every
change to an input of a stack, and every drift of the world, changes it, so that `up` takes
the full path. Each test changes one thing and sees the part it belongs to change; nothing
else is allowed to hide in a part that stays the same.
"""
from __future__ import annotations

import dataclasses
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from kindreg.core import fingerprint
from kindreg.core.expected import expected
from kindreg.core.fingerprint import Part
from kindreg.core.world import World
from kindreg.ops import fastpath, project
from tests.helpers import PROJECT, PROJECT_FILE
from tests.unit.test_drift import CA, as_planned

ENV = {"PATH": "/usr/bin", "HOME": "/home/u", "DOCKER_HOST": "unix:///var/run/docker.sock",
       "PULUMI_CONFIG_PASSPHRASE_FILE": "/home/u/.config/kindreg/passphrase", "LANG": "C"}


class States:
    def __init__(self, digests: dict):
        self.digests = digests

    def state_digest(self, name):
        return self.digests.get(name, "state-of-" + name)


def print_of(project_dir: Path, stack: str, env=ENV, states=None, world=None) -> fingerprint.Fingerprint:
    plan = project.plan(project_dir, stack)
    want = expected(plan, None, CA)
    reads = "shared" if stack != "shared" else None
    return fastpath.current(states or States({}), project_dir, env, plan, reads, want, world or as_planned(want))


def changed(before: fingerprint.Fingerprint, after: fingerprint.Fingerprint) -> set[str]:
    return set(after.differs(before))


@pytest.fixture
def copy(tmp_path) -> Path:
    shutil.copytree(PROJECT, tmp_path / "project")
    return tmp_path / "project"


# ---------------------------------------------------------------- configuration

def _leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*path, i))
    else:
        yield path, node


def _other(value):
    """Another value of the same kind (validity does not matter to the digest of the file)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    return f"{value}x" if value is not None else "set"


def _set(doc, path, value):
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _leaves_of(path: Path):
    doc = yaml.safe_load(path.read_text())
    for leaf, value in _leaves(doc):
        yield path, leaf, value


@pytest.mark.parametrize("stack, files", [("dev", ("Pulumi.dev.yaml", "Pulumi.shared.yaml", "Pulumi.yaml")),
                                          ("shared", ("Pulumi.shared.yaml", "Pulumi.yaml"))])
def test_every_value_of_the_files_the_program_reads_changes_the_configuration(copy, stack, files):
    """The stack's file, the shared stack's file it reads, and Pulumi.yaml: any edit counts."""
    (copy / "Pulumi.yaml").write_text(yaml.safe_dump({"name": "kindreg", "runtime": {"name": "python"}}))
    leaves = [leaf for name in files for leaf in _leaves_of(copy / name)]
    assert len(leaves) > 10  # the fixture exercises every kind of field
    before = print_of(copy, stack)
    judged = 0
    for path, leaf, value in leaves:
        original = path.read_text()
        doc = yaml.safe_load(original)
        _set(doc, leaf, _other(value))
        path.write_text(yaml.safe_dump(doc))
        try:
            try:
                after = print_of(copy, stack)
            except Exception:  # noqa: BLE001 - an edit that no longer plans cannot be spared either
                continue
            assert Part.CONFIGURATION.value in changed(before, after), (path.name, leaf)
            judged += 1
        finally:
            path.write_text(original)
    assert judged > len(leaves) // 2, f"most edits must still plan ({judged} of {len(leaves)})"
    (copy / "Pulumi.yaml").write_text("# a comment is an edit\n" + (copy / "Pulumi.yaml").read_text())
    assert Part.CONFIGURATION.value in changed(before, print_of(copy, stack))


def test_another_projects_file_is_no_input_of_the_stack(copy):
    """`target` checks the stack against the directory's other stacks on every run; what they
    say is not read by the stack's program."""
    before = print_of(copy, "dev")
    shutil.copy(copy / "Pulumi.qa.yaml", copy / "Pulumi.qa2.yaml")
    (copy / "Pulumi.alt.yaml").unlink()
    assert changed(before, print_of(copy, "dev")) == set()


def test_a_lok8s_file_in_a_folder_counts_through_the_plan_it_makes(tmp_path):
    shutil.copytree(PROJECT_FILE, tmp_path / "p")
    before = print_of(tmp_path / "p", "dev")
    lok8s = tmp_path / "p" / "clusters" / "dev.lok8s.yaml"
    doc = yaml.safe_load(lok8s.read_text())
    doc["spec"].setdefault("nodes", {})["workers"] = 3
    lok8s.write_text(yaml.safe_dump(doc))
    assert Part.CONFIGURATION.value in changed(before, print_of(tmp_path / "p", "dev"))


@pytest.mark.parametrize("name, value", [("DOCKER_HOST", "tcp://other:2375"), ("PATH", "/opt/bin:/usr/bin"),
                                         ("PULUMI_BACKEND_URL", "file:///elsewhere"), ("KINDREG_X", "1"),
                                         ("XDG_CONFIG_HOME", "/tmp/c"), ("HOME", "/home/v")])
def test_a_variable_the_program_or_the_engine_reads_changes_the_configuration(copy, name, value):
    before = print_of(copy, "dev")
    assert changed(before, print_of(copy, "dev", env={**ENV, name: value})) == {Part.CONFIGURATION.value}


def test_a_secret_variable_counts_by_presence_and_its_value_is_never_kept(copy):
    before = print_of(copy, "dev", env={**ENV, "PULUMI_CONFIG_PASSPHRASE": "one"})
    assert "one" not in str(before.to_json())
    assert changed(before, print_of(copy, "dev", env={**ENV, "PULUMI_CONFIG_PASSPHRASE": "two"})) == set()
    assert changed(before, print_of(copy, "dev")) == {Part.CONFIGURATION.value}


def test_a_variable_nothing_reads_changes_nothing(copy):
    before = print_of(copy, "dev")
    assert changed(before, print_of(copy, "dev", env={**ENV, "LANG": "C.UTF-8", "TERM": "xterm"})) == set()


# ---------------------------------------------------------------- program and state

def test_an_edited_program_file_changes_the_program(copy):
    (copy / "components").mkdir()
    module = copy / "components" / "thing.py"
    module.write_text("x = 1\n")
    before = print_of(copy, "dev")
    module.write_text("x = 22\n")
    assert changed(before, print_of(copy, "dev")) == {Part.PROGRAM.value}


def test_another_engine_binary_or_plugin_changes_the_program(copy, tmp_path):
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    (home / "plugins").mkdir(parents=True)
    cli = bin_dir / "pulumi"
    cli.write_text("#!/bin/sh\n")
    cli.chmod(0o755)
    env = {**ENV, "PATH": str(bin_dir), "PULUMI_HOME": str(home)}
    before = print_of(copy, "dev", env=env)
    cli.write_text("#!/bin/sh\n# another build\n")
    assert changed(before, print_of(copy, "dev", env=env)) == {Part.PROGRAM.value}
    before = print_of(copy, "dev", env=env)
    (home / "plugins" / "resource-docker-v4.5.0").mkdir()
    assert changed(before, print_of(copy, "dev", env=env)) == {Part.PROGRAM.value}


@pytest.mark.parametrize("stack", ["dev", "shared"])
def test_the_state_of_the_stack_or_of_the_shared_stack_it_reads(copy, stack):
    before = print_of(copy, "dev")
    assert changed(before, print_of(copy, "dev", states=States({stack: "rewritten"}))) == {Part.STATE.value}


def test_a_state_that_cannot_be_read_cheaply_is_never_spared(copy):
    plan = project.plan(copy, "dev")
    want = expected(plan, None, CA)
    now = fastpath.current(States({"dev": None}), copy, ENV, plan, "shared", want, as_planned(want))
    assert now is None
    assert fastpath.changed_parts(copy, plan, now) != []


# ---------------------------------------------------------------- the world

def _others(value):
    """A different value of the same type, for any field of the observed model."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        return value + "-changed"
    if value is None:
        return "now-set"
    if isinstance(value, frozenset):
        return value | {"ADDED=1"}
    if isinstance(value, tuple):
        return (*value, "10.9.9.0/24")
    if isinstance(value, dict) or hasattr(value, "items"):
        return {**value, "added": "value"}
    raise AssertionError(f"no other value for {value!r}")


def _world_digest(want, world: World) -> str:
    return fingerprint.digest(fingerprint.world_of(want, world))


def _dev():
    return expected(project.plan(PROJECT, "dev"), None, CA)


# A network's members are left out on purpose: other projects' nodes join the shared network,
# and their joining is no change of this stack (each stack's nodes count as node networks).
NOT_IN_THE_WORLD_PART = {("network", "members"), ("container", "health")}  # health: below


@pytest.mark.parametrize("kind", ["containers", "nodes", "networks", "volumes"])
def test_every_field_of_every_observed_thing_changes_the_world(kind):
    want = _dev()
    world = as_planned(want)
    base = _world_digest(want, world)
    things = getattr(world, kind)
    assert things, kind
    for name, thing in things.items():
        for f in dataclasses.fields(thing):
            if (kind.rstrip("s"), f.name) in NOT_IN_THE_WORLD_PART or f.name == "name":
                continue
            moved = replace(thing, **{f.name: _others(getattr(thing, f.name))})
            after = replace(world, **{kind: {**things, name: moved}})
            assert _world_digest(want, after) != base, (kind, name, f.name)


@pytest.mark.parametrize("kind", ["containers", "nodes", "networks", "volumes", "images"])
def test_every_observed_thing_removed_changes_the_world(kind):
    want = _dev()
    world = as_planned(want)
    base = _world_digest(want, world)
    for name in getattr(world, kind):
        gone = replace(world, **{kind: {k: v for k, v in getattr(world, kind).items() if k != name}})
        assert _world_digest(want, gone) != base, (kind, name)


def test_a_health_check_that_fails_or_goes_away_changes_the_world_and_starting_is_healthy():
    """A container the last up restarted is `starting` when that up looks and `healthy` a moment
    later: one passing state. Failing, or no health check at all, is another world."""
    want = _dev()
    world = as_planned(want)
    name = next(iter(world.containers))
    base = _world_digest(want, world)
    def health(h):
        return _world_digest(want, replace(world, containers={**world.containers, name: replace(world.containers[name], health=h)}))
    assert health("starting") == base
    assert health("unhealthy") != base and health(None) != base


def test_a_host_file_removed_or_edited_changes_the_world():
    want = _dev()
    world = replace(as_planned(want), host_files={"/p/.kindreg/dev/certs.d/docker.io/hosts.toml": "abc"})
    base = _world_digest(want, world)
    for files in ({}, {"/p/.kindreg/dev/certs.d/docker.io/hosts.toml": None},
                  {"/p/.kindreg/dev/certs.d/docker.io/hosts.toml": "def"}):
        assert _world_digest(want, replace(world, host_files=files)) != base


def test_another_projects_node_joining_the_shared_network_is_no_change():
    want = _dev()
    world = as_planned(want)
    base = _world_digest(want, world)
    net = world.networks[want.shared_network]
    joined = replace(world, networks={**world.networks, net.name: replace(net, members=("qa-control-plane",))})
    assert _world_digest(want, joined) == base


def test_the_recorded_fingerprint_reads_back_and_a_damaged_record_is_no_record(copy):
    from kindreg.adapters import verified
    plan = project.plan(copy, "dev")
    now = print_of(copy, "dev")
    fastpath.remember(copy, plan, now)
    assert fastpath.changed_parts(copy, plan, now) == []
    record = next(copy.rglob(verified.RECORD))
    record.write_text("{not json")
    assert fastpath.changed_parts(copy, plan, now) == [p.value for p in Part]
    fastpath.remember(copy, plan, now)
    fastpath.forget(copy, plan)
    assert fastpath.changed_parts(copy, plan, now) == [p.value for p in Part]
