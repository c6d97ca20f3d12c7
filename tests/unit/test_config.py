"""Per-field rules and defaults of the configuration models."""
import pytest

from kindreg.core.config import (
    DEFAULT_MIRRORS,
    MirrorSpec,
    ProjectConfig,
    SharedStackConfig,
    mirror_name_for_host,
)
from kindreg.core.errors import ConfigError
from kindreg.core.ksail import parse_mirror_string
from kindreg.core.sources import load_yaml
from kindreg.core.load import project_mapping


@pytest.mark.parametrize("text, expected", [
    ("docker.io", {"name": "io-docker", "url": "https://registry-1.docker.io", "host": "docker.io"}),
    ("docker.io=https://mirror.gcr.io",
     {"name": "io-docker", "url": "https://mirror.gcr.io", "host": "docker.io"}),
    ("quay.io", {"name": "io-quay", "url": "https://quay.io", "host": "quay.io"}),
    ("registry.k8s.io", {"name": "io-k8s", "url": "https://registry.k8s.io", "host": "registry.k8s.io"}),
    ("${GITHUB_USER}:${GITHUB_TOKEN}@ghcr.io=https://ghcr.io",
     {"name": "io-ghcr", "url": "https://ghcr.io", "host": "ghcr.io",
      "username": "${GITHUB_USER}", "password": "${GITHUB_TOKEN}"}),
    ("${GH_USER:-robot}:${GH_TOKEN:-none}@ghcr.io",
     {"name": "io-ghcr", "url": "https://ghcr.io", "host": "ghcr.io",
      "username": "${GH_USER:-robot}", "password": "${GH_TOKEN:-none}"}),
    ("mcr.microsoft.com", {"name": "com-microsoft-mcr", "url": "https://mcr.microsoft.com",
                           "host": "mcr.microsoft.com"}),
    ("registry.local:5000=http://10.0.0.9:5000",
     {"name": "local", "url": "http://10.0.0.9:5000", "host": "registry.local:5000"}),
])
def test_ksail_mirror_grammar(text, expected):
    assert parse_mirror_string(text) == expected


@pytest.mark.parametrize("host, name", [
    ("docker.io", "io-docker"), ("ghcr.io", "io-ghcr"), ("registry.gitlab.com", "com-gitlab"),
    ("public.ecr.aws", "aws-ecr-public"), ("localhost:5000", "localhost"),
])
def test_mirror_names_derived_from_hosts(host, name):
    assert mirror_name_for_host(host) == name


@pytest.mark.parametrize("spec, host", [
    ({"name": "io-docker", "url": "https://registry-1.docker.io"}, "docker.io"),
    ({"name": "io-k8s", "url": "https://registry.k8s.io"}, "registry.k8s.io"),
    ({"name": "gitlab", "url": "https://registry.gitlab.com"}, "registry.gitlab.com"),
    ({"name": "hub", "url": "https://mirror.gcr.io", "host": "docker.io"}, "docker.io"),
    ({"name": "local", "url": "http://10.0.0.9:5000"}, "10.0.0.9:5000"),
])
def test_each_mirror_knows_the_host_it_mirrors(spec, host):
    assert MirrorSpec.model_validate(spec).registry_host == host


def test_project_defaults_follow_the_specification():
    cfg = project_mapping({}, "dev", "test").config
    assert cfg.project == "dev"
    assert cfg.network_name == "dev"  # the project name
    assert cfg.network.cidr == "10.125.125.0/24"
    assert cfg.registries.shared.enabled is True
    assert cfg.registries.shared.stack == "shared"
    assert cfg.registries.shared.network.name == "lok8s-registries"
    assert cfg.registries.shared.network.cidr == "10.125.200.0/24"
    assert [(m.name, m.url, m.registry_host) for m in cfg.registries.mirrors] == list(DEFAULT_MIRRORS)
    assert cfg.registries.tls is False
    assert cfg.registries.image == "registry:3"
    assert (cfg.nodes.control_planes, cfg.nodes.workers, cfg.nodes.image) == (1, 0, None)


def test_a_user_mirror_list_replaces_the_defaults():
    raw = {"registries": {"shared": {"enabled": False}, "mirrors": ["quay.io"]}}
    cfg = project_mapping(raw, "p", "test").config
    assert [m.name for m in cfg.registries.mirrors] == ["io-quay"]


def test_shared_stack_defaults():
    cfg = SharedStackConfig.model_validate({})
    assert (cfg.network.name, cfg.network.cidr, cfg.prefix) == ("lok8s-registries", "10.125.200.0/24", "lok8s")
    assert len(cfg.mirrors) == 4


def test_yaml_booleans_are_yaml_1_2_only():
    # `yes` is a string in YAML 1.2 (and to Pulumi): it must not become a boolean silently.
    doc = load_yaml("a: yes\nb: true\nc: off\n", "t")
    assert doc == {"a": "yes", "b": True, "c": "off"}


def test_a_literal_password_is_refused_without_echoing_it():
    raw = {"registries": {"shared": {"enabled": False},
                          "mirrors": [{"name": "q", "url": "https://quay.io",
                                       "username": "u", "password": "hunter2"}]}}
    with pytest.raises(ConfigError) as err:
        project_mapping(raw, "p", "test")
    assert "hunter2" not in str(err.value)
    assert "registries.mirrors[0].password" in str(err.value)


def test_too_many_mirrors_for_the_project_subnet():
    mirrors = [f"m{i}.example.com" for i in range(26)]
    raw = {"registries": {"shared": {"enabled": False}, "mirrors": mirrors}}
    with pytest.raises(ConfigError) as err:
        project_mapping(raw, "p", "test")
    assert err.value.problems[-1].render() == (
        "kindreg:cluster.registries.mirrors: lists 26 mirrors but the project subnet has "
        "addresses for 25 (.103-.127; .101/.102 are build and cache, .128-.255 the nodes' "
        "dynamic range); remove some mirrors")


def test_shared_mode_project_may_list_more_mirrors_than_a_project_subnet_holds():
    mirrors = [f"m{i}.example.com" for i in range(26)]
    cfg = project_mapping({"registries": {"mirrors": mirrors}}, "p", "test").config
    assert len(cfg.registries.mirrors) == 26


def test_too_many_mirrors_for_the_shared_subnet():
    from kindreg.core.load import shared_mapping
    mirrors = [f"m{i}.example.com" for i in range(127)]
    with pytest.raises(ConfigError) as err:
        shared_mapping({"mirrors": mirrors}, "shared", "test")
    assert err.value.problems[-1].render().startswith(
        "kindreg:shared.mirrors: lists 127 mirrors but the shared subnet has addresses for 126")


def test_every_problem_is_reported_at_once():
    raw = {"network": {"cidr": "10.125.125.1/24"}, "registries": {"tls": "no"},
           "nodes": {"workers": -1}, "extra": 1}
    with pytest.raises(ConfigError) as err:
        project_mapping(raw, "p", "test")
    paths = [p.path for p in err.value.problems]
    assert paths == ["kindreg:cluster.network.cidr", "kindreg:cluster.registries.tls",
                     "kindreg:cluster.nodes.workers", "kindreg:cluster.extra"]


def test_project_model_reports_written_fields_as_claims():
    cfg = ProjectConfig.model_validate({"registries": {"shared": {"network": {"cidr": "10.125.200.0/24"}}}})
    assert cfg.set_fields("registries", "shared", "network", "cidr")
    assert not cfg.set_fields("registries", "shared", "network", "name")
    assert not cfg.set_fields("registries", "mirrors")


def test_a_malformed_mirror_string_is_quoted_with_its_password_masked():
    raw = {"registries": {"shared": {"enabled": False}, "mirrors": ["bob:pw-do-not-print@bad host"]}}
    with pytest.raises(ConfigError) as err:
        project_mapping(raw, "p", "test")
    assert err.value.render() == (
        "test: 1 problem:\n  - kindreg:cluster.registries.mirrors[0]: \"bob:***@bad host\" is not "
        "a mirror of the form \"[user:pass@]host[=upstream]\"")


# KSail's own parser tests (pkg/svc/provisioner/registry/mirror_specs_test.go), as cases here.
@pytest.mark.parametrize("text, host, url, username, password", [
    ("docker.io=https://registry-1.docker.io", "docker.io", "https://registry-1.docker.io", None, None),
    ("user:pass@ghcr.io=https://ghcr.io", "ghcr.io", "https://ghcr.io", "user", "pass"),
    ("user@ghcr.io=https://ghcr.io", "ghcr.io", "https://ghcr.io", "user", None),
    ("${USER}:${TOKEN}@docker.io=https://registry-1.docker.io", "docker.io", "https://registry-1.docker.io",
     "${USER}", "${TOKEN}"),
    ("docker.io=https://user:pass@registry-1.docker.io", "docker.io", "https://user:pass@registry-1.docker.io",
     None, None),
    ("myuser:mypass@docker.io=https://user:pass@registry-1.docker.io", "docker.io",
     "https://user:pass@registry-1.docker.io", "myuser", "mypass"),
    ("${U:=robot}:${P:=x}@quay.io", "quay.io", "https://quay.io", "${U:=robot}", "${P:=x}"),
    ("${U:-a:b}:${P}@quay.io", "quay.io", "https://quay.io", "${U:-a:b}", "${P}"),
])
def test_ksail_mirror_strings_split_as_ksail_splits_them(text, host, url, username, password):
    parsed = parse_mirror_string(text)
    assert (parsed["host"], parsed["url"], parsed.get("username"), parsed.get("password")) == \
        (host, url, username, password)


SECRET = "pw-do-not-print"


@pytest.mark.parametrize("text, says", [
    (f"robot:{SECRET}@quay.io", "is a literal password"),
    ("robot:${TOKEN:-" + SECRET + "}@quay.io", "gives a literal default password"),
    ("robot:${TOKEN:=" + SECRET + "}@quay.io", "gives a literal default password"),
    (f"quay.io=https://robot:{SECRET}@quay.io", "carries credentials"),
    (f"robot:${{T}}@quay.io=https://x:{SECRET}@quay.io", "carries credentials"),
    ("robot@quay.io", "has a username but no password"),
    (f"robot:{SECRET}@bad host", "is not a mirror of the form"),
    (f"robot:{SECRET}:{SECRET}@quay.io", "is a literal password"),
])
def test_ksail_strings_with_passwords_are_refused_without_showing_them(text, says):
    raw = {"registries": {"shared": {"enabled": False}, "mirrors": [text]}}
    with pytest.raises(ConfigError) as err:
        project_mapping(raw, "p", "test")
    rendered = err.value.render()
    assert says in rendered, rendered
    assert SECRET not in rendered and SECRET[:6] not in rendered


def test_front_cache_settings_are_checked_and_every_bad_one_named():
    from kindreg.core.load import shared_mapping
    raw = {"frontCache": {"maxSize": "4 g", "keep": "30x", "image": "Not An Image", "enable": True}}
    with pytest.raises(ConfigError) as err:
        shared_mapping(raw, "shared", "test")
    rendered = [p.render() for p in err.value.problems]
    assert [p.path for p in err.value.problems] == [
        "kindreg:shared.frontCache.image", "kindreg:shared.frontCache.maxSize", "kindreg:shared.frontCache.keep",
        "kindreg:shared.frontCache.enable"]
    assert 'is not a size; write it like "4g" or "512m"' in rendered[1] and "4 g" in rendered[1]
    assert 'is not a time; write it like "30m" or "2h"' in rendered[2]
    assert 'did you mean "enabled"' in rendered[3]


@pytest.mark.parametrize("where", ["shared", "project"])
def test_the_front_cache_is_on_by_default_and_can_be_turned_off(where):
    from kindreg.core.load import shared_mapping
    if where == "shared":
        on, off = shared_mapping({}, "s", "t"), shared_mapping({"frontCache": {"enabled": False}}, "s", "t")
    else:
        on = project_mapping({}, "p", "t")
        off = project_mapping({"registries": {"frontCache": {"enabled": False}}}, "p", "t")
    spec = (lambda c: c.config.front_cache) if where == "shared" else (lambda c: c.config.registries.front_cache)
    assert spec(on).enabled and spec(on).image == "nginx:stable-alpine" and spec(on).max_size == "4g"
    assert not spec(off).enabled
