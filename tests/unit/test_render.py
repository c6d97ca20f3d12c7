"""Rendered files against golden files, and parsed back to check what they mean."""
import tomllib

import pytest
import yaml

from kindreg.core import config, frontcache, plan, render
from kindreg.core.vocabulary import NODE_CA
from tests.helpers import check_golden, plan_of

CERTS = "/home/user/project/.kindreg/{stack}/certs.d"


@pytest.mark.parametrize("stack", ["dev", "alt", "qa", "tls-user"])
def test_hosts_toml_tree_matches_golden(stack):
    files = render.hosts_files(plan_of(stack))
    for path, content in files.items():
        check_golden(f"{stack}/certs.d/{path}", content)
    plan = plan_of(stack)
    assert len(files) == 2 * len(plan.endpoints)


@pytest.mark.parametrize("stack", ["shared", "shared-tls", "alt", "qa", "ksail", "team", "laptop"])
def test_registry_container_files_match_golden(stack):
    regs = plan_of(stack).registries
    # build, cache and the first mirror: the others differ from it only in the planned values.
    chosen = [r for r in regs if r.role != "mirror"] + [r for r in regs if r.role == "mirror"][:1]
    for reg in chosen:
        for path, content in render.container_files(reg).items():
            if path not in ONE_FOR_EVERY_MIRROR:  # below
                check_golden(f"{stack}/{reg.container}{path}", content)
        if reg.front:
            check_golden(f"{stack}/{reg.front.container}{frontcache.CONF_PATH}", frontcache.nginx_conf(reg))


# Files every mirror gets the same, each with one golden file.
ONE_FOR_EVERY_MIRROR = {render.MIRROR_ENTRYPOINT_PATH: "mirror.sh", render.KEEP_PLAN_PATH: "keep.awk"}


@pytest.mark.parametrize("path", ONE_FOR_EVERY_MIRROR)
def test_the_mirror_entrypoint_is_one_script_for_every_mirror(path):
    scripts = {render.container_files(m)[path]
               for stack in ("shared", "shared-tls", "alt", "ksail", "team", "laptop") for m in plan_of(stack).mirrors}
    assert len(scripts) == 1
    check_golden(ONE_FOR_EVERY_MIRROR[path], scripts.pop())


@pytest.mark.parametrize("stack", ["dev", "qa"])
def test_kind_config_matches_golden(stack):
    check_golden(f"{stack}/kind.yaml", render.kind_config(plan_of(stack), CERTS.format(stack=stack)))


def test_mirror_hosts_toml_keeps_the_upstream_as_fallback():
    plan = plan_of("dev")
    doc = tomllib.loads(render.hosts_files(plan)["docker.io/hosts.toml"])
    assert doc == {"server": "https://registry-1.docker.io",
                   "host": {"http://10.125.200.2": {"capabilities": ["pull", "resolve"]}}}
    by_ip = tomllib.loads(render.hosts_files(plan)["10.125.200.2/hosts.toml"])
    assert by_ip == {"server": "http://10.125.200.2",
                     "host": {"http://10.125.200.2": {"capabilities": ["pull", "resolve"]}}}


def test_every_hosts_toml_has_a_host_table():
    # containerd 1.6 rejects a hosts.toml without [host] ("invalid `host` tree").
    for stack in ("dev", "alt", "qa", "tls-user"):
        for path, content in render.hosts_files(plan_of(stack)).items():
            assert tomllib.loads(content)["host"], path


def test_build_and_cache_can_be_pushed_to():
    files = render.hosts_files(plan_of("dev"))
    for host, ip in (("lok8s.local", "10.125.125.101"), ("lok8s.cache", "10.125.125.102")):
        doc = tomllib.loads(files[f"{host}/hosts.toml"])
        assert doc["server"] == f"http://{ip}"
        assert doc["host"][f"http://{ip}"]["capabilities"] == ["pull", "resolve", "push"]


def test_tls_hosts_toml_trusts_the_local_ca_and_never_skips_verification():
    files = render.hosts_files(plan_of("qa"))
    build = tomllib.loads(files["lok8s.local/hosts.toml"])
    assert build["server"] == "https://10.125.60.101"
    assert build["host"]["https://10.125.60.101"]["ca"] == NODE_CA == "/etc/containerd/certs.d/.ca/rootCA.pem"
    assert tomllib.loads(files["10.125.60.101/hosts.toml"]) == {
        "server": "https://10.125.60.101", "ca": NODE_CA, "host": {"https://10.125.60.101": {
            "capabilities": ["pull", "resolve", "push"], "ca": NODE_CA}}}
    mirrors = tomllib.loads(plan_and_file("tls-user", "docker.io/hosts.toml"))
    assert mirrors["host"]["https://10.125.201.2"]["ca"] == NODE_CA
    for stack in ("dev", "alt", "qa", "tls-user"):
        for content in render.hosts_files(plan_of(stack)).values():
            assert "skip_verify" not in content


def plan_and_file(stack, path):
    return render.hosts_files(plan_of(stack))[path]


def test_registry_config_for_a_mirror():
    reg = plan_of("shared").mirrors[0]
    doc = yaml.safe_load(render.registry_config(reg))
    # Through its front cache, with time for a large layer to fill (distribution's default: 5 minutes).
    # distribution's TTL off: it deletes a shared layer under another image (render.proxy_section).
    assert doc["proxy"] == {"remoteurl": "http://lok8s-registry-io-docker-front:8080", "cachewritetimeout": "1h",
                            "ttl": 0}
    assert reg.upstream == "https://registry-1.docker.io"
    assert doc["storage"]["filesystem"]["rootdirectory"] == "/var/lib/registry"
    assert doc["storage"]["delete"] == {"enabled": True}
    assert doc["http"]["addr"] == ":80" and "tls" not in doc["http"]
    assert doc["health"]["storagedriver"]["enabled"] is True
    cache_only = yaml.safe_load(render.registry_config(reg, cache_only=True))
    assert "proxy" not in cache_only
    assert cache_only["storage"]["maintenance"] == {"readonly": {"enabled": True}}


def test_registry_config_with_tls_and_a_ttl_kept_out_of_distribution():
    tls = yaml.safe_load(render.registry_config(plan_of("shared-tls").mirrors[0]))
    assert tls["http"]["addr"] == ":443"
    assert tls["http"]["tls"] == {"certificate": render.TLS_CERT, "key": render.TLS_KEY}
    gitlab = next(r for r in plan_of("ksail").registries if r.name == "gitlab")
    assert gitlab.ttl == "168h"  # kindreg's prune age for it: distribution's TTL stays off
    assert yaml.safe_load(render.registry_config(gitlab))["proxy"] == {
        "remoteurl": "http://ksail-project-network-registry-gitlab-front:8080", "ttl": 0,
        "cachewritetimeout": "1h"}


def test_without_a_front_cache_the_registry_proxies_the_upstream_itself():
    cfg = config.SharedStackConfig.model_validate({"frontCache": {"enabled": False}})
    reg = plan.plan_shared(cfg, "shared").mirrors[0]
    assert reg.front is None
    assert yaml.safe_load(render.registry_config(reg))["proxy"] == {"remoteurl": "https://registry-1.docker.io", "ttl": 0}


def test_the_front_cache_config_keeps_fetch_once():
    """Each setting whose default was seen to multiply upstream bytes (kindreg/core/frontcache.py)."""
    text = frontcache.nginx_conf(plan_of("shared").mirrors[0])
    for line in ("proxy_cache_lock on;", "proxy_cache_lock_age 3600s;", "proxy_cache_lock_timeout 3600s;",
                 "proxy_cache_convert_head off;", "proxy_cache_key $request_method$uri;",
                 "proxy_ignore_client_abort on;", "error_page 301 302 303 307 308 = @redirected;",
                 "proxy_set_header Authorization '';", "set $upstream https://registry-1.docker.io;",
                 "max_size=4g inactive=30m",
                 # anonymous tokens kept briefly; a token for credentials never stored
                 "proxy_cache tokens;", "proxy_cache_valid 200 30s;", "proxy_no_cache $http_authorization;",
                 "proxy_cache_bypass $http_authorization;"):
        assert line in text, line


@pytest.mark.parametrize("value", ["https://x.io;evil", "https://x.io/$host", "https://x.io}", "a b", "",
                                   "https://x.io'", 'https://x.io"', "https://x.io\\n", "https://x.io#"])
def test_a_value_nginx_would_read_as_syntax_is_refused(value):
    with pytest.raises(ValueError):
        frontcache.nginx_value(value)


def test_build_registry_has_no_proxy_and_no_mirror_script():
    build = plan_of("dev").build
    assert "proxy" not in yaml.safe_load(render.registry_config(build))
    assert list(render.container_files(build)) == [render.CONFIG_PATH]
    assert render.entrypoint(build) == ["registry", "serve", render.CONFIG_PATH]


def test_kind_config_mounts_certs_d_on_every_node_and_patches_only_the_pull_timeout():
    doc = yaml.safe_load(render.kind_config(plan_of("qa"), "/abs/certs.d"))
    assert doc["name"] == "qa"
    assert [n["role"] for n in doc["nodes"]] == ["control-plane", "worker", "worker"]
    for node in doc["nodes"]:
        assert node["extraMounts"] == [{"hostPath": "/abs/certs.d",
                                        "containerPath": "/etc/containerd/certs.d", "readOnly": True}]
    # config_path is already set by kind's node images; only the pull-progress timeout is patched.
    [patch] = doc["containerdConfigPatches"]
    assert tomllib.loads(patch) == {"plugins": {"io.containerd.cri.v1.images": {"image_pull_progress_timeout": "30m"}}}


def test_local_registry_hosting_points_at_the_build_registry():
    doc = yaml.safe_load(render.local_registry_hosting(plan_of("dev")))
    assert (doc["metadata"]["name"], doc["metadata"]["namespace"]) == ("local-registry-hosting", "kube-public")
    hosting = yaml.safe_load(doc["data"]["localRegistryHosting.v1"])
    assert hosting["host"] == "10.125.125.101"
    assert hosting["hostFromContainerRuntime"] == "lok8s.local"
    qa = yaml.safe_load(yaml.safe_load(render.local_registry_hosting(plan_of("qa")))["data"]["localRegistryHosting.v1"])
    assert qa["host"] == "localhost:5050"


@pytest.mark.parametrize("upstream,allowed,refused", [
    ("https://registry-1.docker.io", ["auth.docker.io", "registry-1.docker.io:443", "a.b.docker.io"],
     ["evil.io", "docker.io.evil.io", "auth-docker.io", "authXdocker.io"]),
    ("https://ghcr.io", ["ghcr.io", "ghcr.io:443"], ["auth.ghcr.io", "io", "evil.io"]),
    ("http://10.1.2.3:5000", ["10.1.2.3", "10.1.2.3:5001"], ["10.1.2.30", "10.1.2.3.evil.io", "2.3"]),
])
def test_the_front_forwards_token_requests_only_to_the_upstreams_realm_hosts(upstream, allowed, refused):
    """distribution follows a realm only on its remote's host or registrable domain; behind the
    front the realm is a path of the front, which forwards it only where the upstream's is."""
    import re
    pattern = re.compile(frontcache.realm_hosts(upstream).removeprefix("~"))
    assert all(pattern.match(h) for h in allowed)
    assert not any(pattern.match(h) for h in refused)
