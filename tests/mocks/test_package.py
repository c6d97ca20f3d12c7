"""The kindreg package's components under recording mocks: a MirrorSet and a Project built from
the same config as the shared and dev stacks declare what those stacks declare."""
from __future__ import annotations

import pulumi
import pytest
from pydantic.alias_generators import to_snake

from components import program
from components.package_types import python_names
from components.package_mirrors import MirrorSet
from components.package_project import Project
from tests.mocks.harness import KindregMocks, RecordingMonitor, fake_host, run_function, run_stack
from tests.mocks.test_program import STACKREF, stack_config

PACKAGE_TYPES = {"kindreg:index:MirrorSet", "kindreg:index:Project"}


def snake(value):
    """Inputs as the provider host hands them to a component: Python names."""
    if isinstance(value, dict):
        return {to_snake(k): snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


def run_package(build, host, monkeypatch, stack="demo"):
    monkeypatch.setattr(program, "package_host", lambda: host)
    mocks = KindregMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.settings.reset_options(project="kindreg", stack=stack, preview=False)
    pulumi.runtime.set_mocks(mocks, project="kindreg", stack=stack, preview=False, monitor=monitor)
    outputs: dict = {}
    error = None
    try:
        run_function(build, outputs)
    except Exception as err:  # noqa: BLE001 - handed to the test
        error = err
    return monitor.records, outputs, error


@pytest.fixture
def host(tmp_path):
    return fake_host(tmp_path)


def _both(shared_cfg, dev_cfg, credentials=None):
    async def build():
        mirrors = MirrorSet("shared", {**snake(shared_cfg), **({"mirror_credentials": credentials} if credentials else {})})
        dev = Project("dev", {**snake(dev_cfg), "shared": mirrors.kindreg})
        return {"kindreg": mirrors.kindreg, "network": dev.network, "mirrors": dev.mirrors, "nodes": dev.nodes}
    return build


def _declared(records):
    return {(r.type, r.name) for r in records if r.type not in PACKAGE_TYPES and r.type != STACKREF}


def test_mirror_set_and_project_declare_what_the_stacks_declare(host, monkeypatch):
    shared = run_stack("shared", stack_config("shared"), host)
    dev = run_stack("dev", stack_config("dev"), host, stack_outputs={"shared": shared.outputs})
    records, outputs, error = run_package(_both(stack_config("shared")["kindreg:shared"],
                                                stack_config("dev")["kindreg:cluster"]), host, monkeypatch)
    assert error is None
    assert _declared(records) == _declared(shared.resources) | _declared(dev.resources)
    # Same inputs, resource by resource: the plan is the same plan.
    by_name = {(r.type, r.name): r.inputs for r in records}
    for r in [*shared.resources, *dev.resources]:
        if r.type != STACKREF and r.type not in ("kindreg:shared:SharedRegistries",):
            assert by_name[(r.type, r.name)] == r.inputs, r.name
    # Under the Python names the provider host maps to the schema's camelCase ones.
    assert outputs["kindreg"] == python_names(shared.outputs["kindreg"])
    assert outputs["network"] == python_names(dev.outputs["network"])
    assert outputs["mirrors"] == python_names(dev.outputs["mirrors"])


def test_the_stacks_resources_sit_under_the_package_components(host, monkeypatch):
    records, _, error = run_package(_both(stack_config("shared")["kindreg:shared"],
                                          stack_config("dev")["kindreg:cluster"]), host, monkeypatch)
    assert error is None
    roots = {r.urn: r for r in records if r.type in PACKAGE_TYPES}
    tops = [r for r in records if r.type in ("kindreg:shared:SharedRegistries", "kindreg:project:ProjectRegistries")]
    assert {roots[t.parent].type for t in tops} == PACKAGE_TYPES


def test_credentials_given_to_the_package_stay_secret(host, monkeypatch):
    creds = {"io-docker": {"username": "robot", "password": pulumi.Output.secret("hunter2-package")}}
    records, _, error = run_package(_both(stack_config("shared")["kindreg:shared"],
                                          stack_config("dev")["kindreg:cluster"], creds), host, monkeypatch)
    assert error is None
    holders = [r for r in records if "hunter2-package" in repr(r.inputs)]
    assert holders and all(r.secret_inputs for r in holders)


def test_bad_input_is_an_invalid_inputs_error_naming_the_field(host, monkeypatch):
    cfg = stack_config("shared")["kindreg:shared"]
    bad = {**cfg, "network": {**cfg["network"], "cidr": "10.300.0.0/24"},
           "mirrors": [{"name": "io-docker", "url": "https://registry-1.docker.io", "password": "hunter2-literal"}]}

    async def build():
        MirrorSet("shared", snake(bad))
        return {}
    records, _, error = run_package(build, host, monkeypatch)
    assert isinstance(error, pulumi.InputPropertiesError), error
    paths = {e["property_path"] for e in error.errors}
    assert "network.cidr" in paths
    # The engine prints each entry's value: the password's problem is in the message alone.
    assert "mirrors[0].password" not in paths and "mirrors[0].password" in error.message
    assert "hunter2-literal" not in str(error) and "hunter2-literal" not in repr(error.errors)
    assert not [r for r in records if r.type.startswith("docker:")]


def test_whole_numbers_from_the_wire_are_integers(host, monkeypatch):
    cfg = stack_config("dev")["kindreg:cluster"]
    wire = {**cfg, "nodes": {"controlPlanes": 1.0, "workers": 2.0}}

    async def build():
        mirrors = MirrorSet("shared", snake(stack_config("shared")["kindreg:shared"]))
        dev = Project("dev", {**snake(wire), "shared": mirrors.kindreg})
        return {"nodes": dev.nodes}
    records, _, error = run_package(build, host, monkeypatch)
    assert error is None
    cluster = next(r for r in records if r.type == "kindreg:cluster:KindCluster")
    assert cluster.name == "dev"


def test_a_project_in_shared_mode_needs_the_shared_input(host, monkeypatch):
    async def build():
        Project("dev", snake(stack_config("dev")["kindreg:cluster"]))
        return {}
    records, _, error = run_package(build, host, monkeypatch)
    assert isinstance(error, pulumi.InputPropertiesError), error
    assert [e["property_path"] for e in error.errors] == ["shared"]
    assert not [r for r in records if r.type.startswith("docker:")]


def test_credentials_as_one_secret_value_are_refused_with_the_fix(host, monkeypatch):
    whole = pulumi.Output.secret({"io-docker": {"username": "robot", "password": "hunter2-whole"}})

    async def build():
        MirrorSet("shared", {**snake(stack_config("shared")["kindreg:shared"]), "mirror_credentials": whole})
        return {}
    records, _, error = run_package(build, host, monkeypatch)
    assert isinstance(error, pulumi.InputPropertiesError), error
    assert [e["property_path"] for e in error.errors] == []  # a secret field: the message alone
    assert "mirrorCredentials: is one secret or computed value" in error.message
    assert "hunter2-whole" not in error.message
    assert not [r for r in records if r.type.startswith("docker:")]
