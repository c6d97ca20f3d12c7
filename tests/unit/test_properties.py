"""Arbitrary text in every field: refused naming the field, or rendered into files that parse.

For each text field of a project and of the shared stack, hypothesis generates strings (any
Unicode, control characters, quotes, shell and TOML syntax, near-valid values built from the
field's own grammar). The only allowed outcomes: a ConfigError naming that field, or a plan
whose hosts.toml files parse as TOML with exactly the keys kindreg writes, whose registry
configs and kind config parse as YAML with the value intact, and whose Command scripts are
constants (values reach them only through the environment). Anything else (another
exception, a crash of a renderer, a file that does not parse) fails the run.
"""
from __future__ import annotations

import tomllib

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kindreg.core import render, scripts
from kindreg.core.errors import ConfigError
from kindreg.core.plan import plan_project, plan_shared
from kindreg.core.load import project_mapping, shared_mapping

EXAMPLES = 300  # per field; the closing note quotes the total

# Pieces of the grammars the fields have, so that near-valid values are tried too.
PIECES = st.sampled_from(["https://", "http://", "quay.io", ":5000", ":0", ":65536", "/", "@", "..", "${X}",
                          "${X:-y}", "'", '"', "$(id)", "`id`", "\n", "\r", "\x00", " ", "*", "[", "]", "::1",
                          "10.125.70.101", "lok8s.local", "-", ".", "a" * 70, "é", "\u202e", "#", "=", "\\"])
TEXT = st.one_of(st.text(max_size=40), st.lists(st.one_of(PIECES, st.text(max_size=5)), max_size=6).map("".join))

MIRROR_FIELDS = ("name", "url", "host", "ttl", "address")
PROJECT_FIELDS = {
    "name": ("name",), "network.name": ("network", "name"), "network.cidr": ("network", "cidr"),
    "registries.prefix": ("registries", "prefix"), "registries.image": ("registries", "image"),
    "nodes.image": ("nodes", "image"), "workload.path": ("workload", "path"),
}


def base_project() -> dict:
    return {"network": {"cidr": "10.125.70.0/24"}, "nodes": {"workers": 1},
            "registries": {"shared": {"enabled": False},
                           "mirrors": [{"name": "io-quay", "url": "https://quay.io"}]}}


def check_outcome(build, field: str) -> None:
    try:
        plan = build()
    except ConfigError as err:
        assert field in err.render(), (field, err.render())
        return
    check_files(plan)


def check_front(reg) -> None:
    """The front's nginx.conf parses, and the upstream it fetches from is the mirror's, unchanged."""
    import tempfile

    import crossplane

    from kindreg.core import frontcache
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write(frontcache.nginx_conf(reg))
        f.flush()
        # not strict: map entries are not directives crossplane knows
        parsed = crossplane.parse(f.name, single=True, strict=False, check_ctx=True, check_args=True)
    assert parsed["status"] == "ok", parsed["errors"]
    sets = [d["args"] for d in _walk(parsed["config"][0]["parsed"]) if d["directive"] == "set"]
    assert ["$upstream", reg.upstream] in sets


def _walk(directives):
    for d in directives:
        yield d
        yield from _walk(d.get("block", []))


def check_files(plan) -> None:
    for reg in plan.registries:
        files = render.container_files(reg)
        if render.MIRROR_ENTRYPOINT_PATH in files:  # the same script whatever the mirror
            assert files[render.MIRROR_ENTRYPOINT_PATH] == render.MIRROR_ENTRYPOINT
        for path, content in files.items():
            if path.endswith(".yml"):
                doc = yaml.safe_load(content)
                if reg.upstream and "proxy" in doc:
                    assert doc["proxy"]["remoteurl"] == (reg.front.url if reg.front else reg.upstream)
        if reg.front:
            check_front(reg)
    if hasattr(plan, "certs_volume"):
        for path, content in render.hosts_files(plan).items():
            directory = path.removesuffix("/hosts.toml")
            assert directory and "/" not in directory and directory not in (".", "..")
            assert set(tomllib.loads(content)) <= {"server", "ca", "host"}
        kind = yaml.safe_load(render.kind_config(plan, "/certs.d"))
        assert kind["name"] == plan.nodes.cluster


def test_command_scripts_are_constants():
    # Values reach every script through the environment: each script is one fixed text,
    # not a function of the configuration.
    texts = {name: getattr(scripts, name) for name in dir(scripts) if name.isupper()}
    assert texts and all(isinstance(t, str) for t in texts.values())
    assert not any(callable(getattr(scripts, name)) for name in dir(scripts) if not name.startswith("_"))


@pytest.mark.parametrize("field", MIRROR_FIELDS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=TEXT)
def test_any_text_in_a_mirror_field(field, value):
    raw = base_project()
    raw["registries"]["mirrors"][0][field] = value

    def build():
        loaded = project_mapping(raw, "p", "Pulumi.p.yaml")
        return plan_project(loaded.config, "p", None, "Pulumi.p.yaml", loaded.prefix)
    check_outcome(build, "registries.mirrors[0]")


@pytest.mark.parametrize("field", sorted(PROJECT_FIELDS))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=TEXT)
def test_any_text_in_a_project_field(field, value):
    raw = base_project()
    node = raw
    *parents, last = PROJECT_FIELDS[field]
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value

    def build():
        loaded = project_mapping(raw, "p", "Pulumi.p.yaml")
        return plan_project(loaded.config, "p", None, "Pulumi.p.yaml", loaded.prefix)
    # A bad network name is reported where it is used too (container names built from it).
    check_outcome(build, field.split(".")[0])


@pytest.mark.parametrize("field", ("url", "host", "name", "username"))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=TEXT)
def test_any_text_in_a_shared_mirror(field, value):
    mirror = {"name": "io-quay", "url": "https://quay.io", field: value}
    if field == "username":
        mirror["password"] = "${TOKEN}"

    def build():
        loaded = shared_mapping({"mirrors": [mirror]}, "shared", "Pulumi.shared.yaml")
        return plan_shared(loaded.config, "shared", "Pulumi.shared.yaml", loaded.prefix)
    check_outcome(build, "mirrors")


@settings(max_examples=EXAMPLES, deadline=None)
@given(value=TEXT)
def test_a_password_is_never_shown(value):
    shown = _error_text(value)
    # A value that the message holds whatever the password (e.g. "conf" in "config") says nothing.
    if shown and len(value) >= 4 and value not in _error_text("Neutral-Literal-Password"):
        assert value not in shown


def _error_text(password: str) -> str:
    raw = base_project()
    raw["registries"]["mirrors"][0].update(username="robot", password=password)
    try:
        project_mapping(raw, "p", "Pulumi.p.yaml")
    except ConfigError as err:
        return err.render()
    return ""
