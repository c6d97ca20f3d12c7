"""The kindreg package's schema, inferred by Pulumi's analyzer from components/package_types.py,
held to the stack config and the plan it mirrors."""
from __future__ import annotations

import json

import pytest
from pulumi.provider.experimental.util import camel_case
from pydantic import BaseModel

from components import package_types as types
from components.package_host import COMPONENTS, NAME, KindregProvider
from kindreg.core import config, plan

# Config fields the package reads otherwise: a Project gets the shared mirrors' export from its
# `shared` input, not from a stack named by registries.shared.stack.
NOT_IN_PACKAGE = {(config.SharedRef, "stack")}

INPUTS = [
    (types.MirrorArgs, config.MirrorSpec), (types.FrontCacheArgs, config.FrontCacheSpec),
    (types.NetworkArgs, config.NetworkSpec), (types.NetworkArgs, config.SharedNetworkSpec),
    (types.SharedRefArgs, config.SharedRef), (types.RegistriesArgs, config.RegistriesSpec),
    (types.NodesArgs, config.NodesSpec), (types.WorkloadArgs, config.WorkloadSpec),
    (types.ProjectArgs, config.ProjectConfig), (types.MirrorSetArgs, config.SharedStackConfig),
]
OUTPUTS = [(types.NetworkOutput, plan.NetworkPlan), (types.RegistryOutput, plan.RegistryPlan),
           (types.MirrorSetExport, plan.SharedExport)]


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(KindregProvider(COMPONENTS, NAME).schema)


def _aliases(model: type[BaseModel], json_fields_only: bool = False) -> set[str]:
    return {types.input_name(f.alias) if f.alias else camel_case(name) for name, f in model.model_fields.items()
            if (model, name) not in NOT_IN_PACKAGE and not (json_fields_only and f.exclude)}


def _keys(typed: type) -> set[str]:
    keys = {camel_case(k) for k in typed.__annotations__}
    components = (types.ProjectArgs, types.MirrorSetArgs)  # their inputs beside the config
    return keys - {camel_case(k) for k in types.NOT_CONFIG} if typed in components else keys


@pytest.mark.parametrize("typed,model", INPUTS, ids=lambda t: t.__name__)
def test_inputs_are_the_config_fields_under_their_names(typed, model):
    assert _keys(typed) == _aliases(model)


@pytest.mark.parametrize("typed,model", INPUTS, ids=lambda t: t.__name__)
def test_required_inputs_are_the_required_config_fields(typed, model):
    required = {camel_case(k) for k in typed.__required_keys__}
    assert required == {model.model_fields[n].alias or camel_case(n) for n, f in model.model_fields.items()
                        if f.is_required()}


@pytest.mark.parametrize("typed,model", OUTPUTS, ids=lambda t: t.__name__)
def test_outputs_are_what_stacks_export(typed, model):
    assert _keys(typed) == _aliases(model, json_fields_only=True)


def test_the_schema_has_both_components_with_their_outputs(schema):
    resources = schema["resources"]
    assert set(resources) == {"kindreg:index:MirrorSet", "kindreg:index:Project"}
    assert all(r["isComponent"] for r in resources.values())
    assert set(resources["kindreg:index:MirrorSet"]["properties"]) == {"kindreg", "network", "mirrors"}
    assert set(resources["kindreg:index:Project"]["properties"]) == {
        "project", "network", "sharedNetwork", "registries", "mirrors", "certsDir", "certsVolume", "flux", "nodes"}


def _properties(schema: dict):
    for where in (*schema["resources"].values(), *schema["types"].values()):
        for key in ("inputProperties", "properties"):
            yield from (where.get(key) or {}).items()


def test_every_property_is_typed_and_documented(schema):
    text = json.dumps(schema)
    assert "pulumi.json#/Any" not in text
    for name, prop in _properties(schema):
        assert prop.get("description"), name
        assert "\n" not in prop["description"], name
        assert "type" in prop or "$ref" in prop, name


def test_mirror_requires_name_and_url_and_credentials_are_inputs(schema):
    mirror = schema["types"]["kindreg:index:MirrorArgs"]
    assert set(mirror["required"]) == {"name", "url"}
    creds = schema["types"]["kindreg:index:MirrorCredentialsArgs"]["properties"]
    assert not creds["password"].get("plain")  # an Output: may be a secret
    assert schema["resources"]["kindreg:index:Project"]["inputProperties"]["network"]["plain"]


def test_enums_carry_the_vocabulary(schema):
    tree = schema["types"]["kindreg:index:TreePlace"]
    assert {e["value"] for e in tree["enum"]} == {p.value for p in config.TreePlace}


def test_config_of_gives_the_stack_config_form():
    args = {"registries": {"front_cache": {"max_size": "2g"}, "mirrors": [{"name": "a", "url": "https://a.io",
                                                                           "use_docker_login": True}]},
            "nodes": {"certs_tree": config.TreePlace.VOLUME, "control_planes": 1},
            "shared": {"stack": "x"}, "mirror_credentials": {"a": {"username": "u", "password": "p"}}}
    assert types.config_of(args) == {
        "registries": {"frontCache": {"maxSize": "2g"}, "mirrors": [{"name": "a", "url": "https://a.io",
                                                                      "useDockerLogin": True}]},
        "nodes": {"certsTree": "volume", "controlPlanes": 1}}
