"""Mirror credentials: secret config, then the Docker config, then ${VAR} placeholders."""
import base64
import json

import pytest

from kindreg.core import credentials, ksail
from kindreg.core.config import MirrorSpec
from kindreg.core.errors import ConfigError
from kindreg.core.plan import NetworkPlan, _mirror
from kindreg.core.vocabulary import Scope


def mirror(spec) -> "credentials.RegistryPlan":
    m = MirrorSpec.model_validate(ksail.parse_mirror_string(spec) if isinstance(spec, str) else spec)
    return _mirror(m, f"x-registry-{m.name}", NetworkPlan.of("x", "10.125.70.0/24", Scope.PROJECT), 103, False,
                   "registry:3", "x")


def auth(user, pw):
    return {"auth": base64.b64encode(f"{user}:{pw}".encode()).decode()}


def resolve(mirrors, secret=None, env=None, docker=None, helper=credentials._no_helper):
    return credentials.resolve(mirrors, secret, env or {}, docker, "Pulumi.x.yaml",
                               lambda name: f"kindreg:cluster.registries.mirrors[{name}]", helper)


HUB = mirror({"name": "io-docker", "url": "https://registry-1.docker.io", "useDockerLogin": True})
GHCR = mirror("${GH_USER}:${GH_TOKEN}@ghcr.io")
GHCR_LOGIN = mirror({"name": "io-ghcr", "url": "https://ghcr.io", "useDockerLogin": True})
QUAY = mirror({"name": "io-quay", "url": "https://quay.io", "useDockerLogin": True})


def test_docker_config_auths_are_discovered(tmp_path):
    # As `docker login` writes it: Docker Hub under its v1 URL, others by host.
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": auth("hubuser", "hubpass"),
                                                 "quay.io": {"username": "qu", "password": "qp"}}}))
    found = resolve([HUB, QUAY], docker=json.loads(config_file.read_text()))
    assert (found["io-docker"].username, found["io-docker"].password) == ("hubuser", "hubpass")
    assert found["io-docker"].source == "Docker config (https://index.docker.io/v1/)"
    assert (found["io-quay"].username, found["io-quay"].password) == ("qu", "qp")


def test_secret_config_comes_first():
    found = resolve([HUB], secret={"io-docker": {"username": "s", "password": "sp"}},
                    docker={"auths": {"https://index.docker.io/v1/": auth("d", "dp")}})
    assert (found["io-docker"].username, found["io-docker"].source) == ("s", "Pulumi secret config")


def test_a_docker_login_is_used_only_where_the_configuration_asks_for_it():
    docker = {"auths": {"ghcr.io": auth("cfg-user", "cfg-token"),
                        "https://index.docker.io/v1/": auth("hubuser", "hubpass")}}
    assert resolve([mirror("docker.io"), mirror("ghcr.io")], docker=docker) == {}
    assert resolve([GHCR_LOGIN], docker=docker)["io-ghcr"].username == "cfg-user"


def test_a_mirror_takes_one_credential_source():
    with pytest.raises(Exception) as err:
        mirror({"name": "io-ghcr", "url": "https://ghcr.io", "useDockerLogin": True,
                "username": "u", "password": "${P}"})
    assert "has both useDockerLogin and a username/password" in str(err.value)


def test_placeholders_expand_from_the_environment_with_defaults():
    found = resolve([GHCR], env={"GH_TOKEN": "t0ken", "GH_USER": "octo"})
    assert (found["io-ghcr"].username, found["io-ghcr"].password, found["io-ghcr"].source) == \
        ("octo", "t0ken", "environment")
    defaulted = mirror("${GH_USER:-robot}:${GH_TOKEN}@ghcr.io")
    assert resolve([defaulted], env={"GH_TOKEN": "t"})["io-ghcr"].username == "robot"


def test_an_unset_variable_without_default_is_an_error_naming_it():
    with pytest.raises(ConfigError) as err:
        resolve([GHCR], env={"GH_USER": "octo"})
    assert err.value.render() == (
        "Pulumi.x.yaml: 1 problem:\n  - kindreg:cluster.registries.mirrors[io-ghcr].password: uses "
        "${GH_TOKEN}, which is not set in the environment; export GH_TOKEN, give a default "
        "(${GH_TOKEN:-value}), or use `pulumi config set --secret` (kindreg:mirrorCredentials)")


def test_an_empty_expansion_is_an_error_not_a_silent_empty_password():
    with pytest.raises(ConfigError) as err:
        resolve([GHCR], env={"GH_USER": "octo", "GH_TOKEN": ""})
    assert "mirrors[io-ghcr].password: expands to an empty value" in err.value.render()


@pytest.mark.parametrize("entry, says", [
    ({"username": "u"}, "kindreg:mirrorCredentials.io-docker.password: is missing"),
    ({"password": "p"}, "kindreg:mirrorCredentials.io-docker.username: is missing"),
])
def test_partial_secret_credentials_are_an_error(entry, says):
    with pytest.raises(ConfigError) as err:
        resolve([HUB], secret={"io-docker": entry})
    assert says in err.value.render()
    assert "'p'" not in err.value.render()


def test_secret_credentials_for_an_unknown_mirror():
    with pytest.raises(ConfigError) as err:
        resolve([HUB], secret={"io-dokcer": {"username": "u", "password": "p"}})
    assert ("kindreg:mirrorCredentials.io-dokcer: names no mirror of this stack (mirrors: io-docker); "
            "fix the name or remove it") in err.value.render()


def test_a_mirror_without_any_source_pulls_anonymously():
    plain = mirror({"name": "io-quay", "url": "https://quay.io"})
    assert resolve([plain], docker={"auths": {"quay.io": auth("a", "b")}}) == {}


def test_use_docker_login_with_no_login_is_an_error_not_anonymous_pulls():
    with pytest.raises(ConfigError) as err:
        resolve([HUB, QUAY], docker={"auths": {"ghcr.io": auth("a", "b")}})
    assert err.value.render().splitlines()[1:] == [
        "  - kindreg:cluster.registries.mirrors[io-docker].useDockerLogin: is true, but your Docker config has no "
        "login for registry-1.docker.io (auths); run `docker login`, or remove useDockerLogin",
        "  - kindreg:cluster.registries.mirrors[io-quay].useDockerLogin: is true, but your Docker config has no "
        "login for quay.io (auths); run `docker login quay.io`, or remove useDockerLogin"]


class Helpers:
    """docker-credential-<name> as the Docker CLI asks it: records (helper, server)."""

    def __init__(self, store: dict):
        self.store, self.asked = store, []

    def __call__(self, name, server):
        self.asked.append((name, server))
        if name == "broken":
            raise credentials.HelperFailed("docker-credential-broken get exited with status 3")
        return self.store.get((name, server))


def test_creds_store_is_asked_like_the_docker_cli_asks_it():
    helpers = Helpers({("desktop", "https://index.docker.io/v1/"): ("hubuser", "hub-secret")})
    found = resolve([HUB], docker={"credsStore": "desktop", "auths": {"https://index.docker.io/v1/": {}}},
                    helper=helpers)
    assert (found["io-docker"].username, found["io-docker"].password) == ("hubuser", "hub-secret")
    assert found["io-docker"].source == "docker-credential-desktop (https://index.docker.io/v1/)"


def test_cred_helpers_for_the_host_come_before_creds_store():
    helpers = Helpers({("gh", "ghcr.io"): ("octo", "gh-secret"), ("desktop", "ghcr.io"): ("other", "x")})
    found = resolve([GHCR_LOGIN], docker={"credsStore": "desktop", "credHelpers": {"ghcr.io": "gh"}}, helper=helpers)
    assert found["io-ghcr"].username == "octo"
    assert {name for name, _ in helpers.asked} == {"gh"}


def test_auths_still_answer_when_the_helper_has_nothing():
    helpers = Helpers({})
    found = resolve([QUAY], docker={"credsStore": "desktop", "auths": {"quay.io": auth("q", "quay-secret")}},
                    helper=helpers)
    assert found["io-quay"].password == "quay-secret" and helpers.asked


def test_a_failing_helper_is_named_and_nothing_secret_is_shown():
    with pytest.raises(ConfigError) as err:
        resolve([QUAY], docker={"credsStore": "broken", "auths": {"quay.io": auth("q", "quay-secret")}},
                helper=Helpers({}))
    text = err.value.render()
    assert ("useDockerLogin: docker-credential-broken could not be asked for quay.io (docker-credential-broken "
            "get exited with status 3); fix the helper (`docker login quay.io` again), or remove useDockerLogin") in text
    assert "quay-secret" not in text


def test_credentials_never_show_the_password():
    creds = credentials.Credentials("user", "hunter2", "environment")
    assert "hunter2" not in repr(creds) and "hunter2" not in str(creds)
