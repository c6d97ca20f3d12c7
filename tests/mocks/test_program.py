"""The Pulumi graph under recording mocks: every resource, its inputs, parents and options."""
from __future__ import annotations

import copy

import pytest
import yaml

from kindreg.core import scripts

from kindreg.core import render
from components.common import python_step_environment
from kindreg.adapters.files import read_text
from kindreg.core.sources import read_stack_config
from tests.helpers import PROJECT, PROJECT_FILE, ROOT
from tests.mocks.harness import fake_host, run_stack

NETWORK = "docker:index/network:Network"
CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
IMAGE = "docker:index/remoteImage:RemoteImage"
COMMAND = "command:local:Command"
STACKREF = "pulumi:pulumi:StackReference"


def stack_config(name, where=ROOT):
    return read_stack_config(where, name, read_text)


@pytest.fixture
def host(tmp_path):
    return fake_host(tmp_path)


@pytest.fixture
def shared_run(host):
    return run_stack("shared", stack_config("shared"), host)


@pytest.fixture
def shared_outputs(shared_run):
    return {"shared": shared_run.outputs}


def labels(resource):
    return {x["label"]: x["value"] for x in resource.inputs["labels"]}


def uploads(container):
    return {u["file"]: u for u in container.inputs["uploads"]}


# ---------------------------------------------------------------- shared stack

def test_shared_stack_resources(shared_run):
    assert shared_run.count_by_type() == {
        "kindreg:shared:SharedRegistries": 1, NETWORK: 1, IMAGE: 2, "kindreg:registry:Registry": 4,
        "kindreg:front:FrontCache": 4, VOLUME: 4, CONTAINER: 8, COMMAND: 1}


def test_shared_network_has_subnet_dynamic_range_bridge_and_labels(shared_run):
    net = shared_run.named("shared-network")
    assert net.inputs["name"] == "lok8s-registries"
    assert net.inputs["driver"] == "bridge"
    assert net.inputs["ipamConfigs"] == [
        {"subnet": "10.125.200.0/24", "gateway": "10.125.200.1", "ipRange": "10.125.200.128/25"}]
    assert net.inputs["options"] == {"com.docker.network.bridge.name": "kr-lok8s-r-dcf7"}
    assert labels(net) == {"kindreg.managed": "true", "kindreg.scope": "shared",
                           "kindreg.stack": "shared", "kindreg.role": "network"}


def test_shared_mirror_containers(shared_run):
    containers = shared_run.of_type(CONTAINER)
    mirrors = ["lok8s-registry-io-docker", "lok8s-registry-io-ghcr", "lok8s-registry-io-k8s", "lok8s-registry-io-quay"]
    assert sorted(c.inputs["name"] for c in containers) == sorted(mirrors + [m + "-front" for m in mirrors])
    docker_io = shared_run.named("shared-io-docker-container")
    assert docker_io.inputs["networksAdvanced"] == [
        {"name": "lok8s-registries", "ipv4Address": "10.125.200.2"}]
    assert docker_io.inputs["volumes"] == [
        {"volumeName": "lok8s-registry-io-docker-data", "containerPath": "/var/lib/registry"}]
    assert docker_io.inputs["restart"] == "unless-stopped"
    assert "ports" not in docker_io.inputs  # mirrors are published only with publishMirrors
    assert docker_io.inputs["image"] == "sha256:registry:3"
    assert docker_io.inputs["entrypoints"] == ["/bin/sh", "/etc/kindreg/registry/mirror.sh"]
    assert docker_io.inputs["healthcheck"]["tests"] == [
        "CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:5001/debug/health"]
    assert labels(docker_io) == {
        "kindreg.managed": "true", "kindreg.role": "mirror", "kindreg.scope": "shared",
        "kindreg.stack": "shared", "kindreg.name": "io-docker", "kindreg.host": "docker.io",
        "kindreg.scheme": "http", "kindreg.ip": "10.125.200.2",
        "kindreg.upstream": "https://registry-1.docker.io"}
    assert docker_io.delete_before_replace is True
    # The upstream reaches the entrypoint by the environment; no credentials are configured.
    assert docker_io.inputs["envs"] == ["KINDREG_UPSTREAM=https://registry-1.docker.io", "KINDREG_MIRROR=io-docker"]
    assert "envs" not in docker_io.secret_inputs


def test_shared_mirror_config_is_uploaded_in_the_container_definition(shared_run):
    docker_io = shared_run.named("shared-io-docker-container")
    files = uploads(docker_io)
    assert set(files) == {render.CONFIG_PATH, render.CACHE_ONLY_PATH, render.MIRROR_ENTRYPOINT_PATH, render.KEEP_PLAN_PATH}
    config = yaml.safe_load(files[render.CONFIG_PATH]["content"])
    assert config["proxy"]["remoteurl"] == "http://lok8s-registry-io-docker-front:8080"
    assert config["http"]["addr"] == ":80"
    assert files[render.MIRROR_ENTRYPOINT_PATH]["executable"] is True


def test_volumes_are_kept_on_destroy_unless_asked(host):
    kept = run_stack("shared", stack_config("shared"), host)
    assert [v.retain_on_delete for v in kept.of_type(VOLUME)] == [True] * 4
    cfg = copy.deepcopy(stack_config("shared"))
    cfg["kindreg:shared"]["deleteVolumes"] = True
    deleted = run_stack("shared", cfg, host)
    assert [v.retain_on_delete for v in deleted.of_type(VOLUME)] == [False] * 4
    assert "lok8s-registry-io-docker-data" in {v.inputs["name"] for v in kept.of_type(VOLUME)}


def test_each_mirror_has_a_front_cache_it_waits_for(shared_run):
    front = shared_run.named("shared-io-docker-front-container")
    assert front.inputs["name"] == "lok8s-registry-io-docker-front"
    assert front.inputs["image"] == "sha256:nginx:stable-alpine"
    assert front.inputs["networksAdvanced"] == [{"name": "lok8s-registries"}]
    assert "ports" not in front.inputs and "volumes" not in front.inputs  # nothing to keep, nothing published
    assert labels(front) == {"kindreg.managed": "true", "kindreg.role": "front-cache", "kindreg.scope": "shared",
                             "kindreg.stack": "shared", "kindreg.name": "io-docker",
                             "kindreg.upstream": "https://registry-1.docker.io"}
    conf = uploads(front)["/etc/nginx/nginx.conf"]["content"]
    assert "set $upstream https://registry-1.docker.io;" in conf
    registry = shared_run.named("shared-io-docker-container")
    assert front.urn in registry.dependencies  # a component dependency is on its children
    assert shared_run.ancestry(front) == ["shared-io-docker-front-container", "shared-io-docker-front", "shared"]


def test_parents_form_the_component_chain(shared_run):
    container = shared_run.named("shared-io-docker-container")
    assert shared_run.ancestry(container) == ["shared-io-docker-container", "shared-io-docker", "shared"]
    registry = shared_run.named("shared-io-docker")
    assert registry.type == "kindreg:registry:Registry" and not registry.custom
    assert shared_run.named("shared").parent.endswith("pulumi:pulumi:Stack::kindreg-shared")


def test_guard_depends_on_every_shared_resource(shared_run):
    guard = shared_run.named("shared-guard")
    deps = set(guard.dependencies)
    for r in shared_run.of_type(CONTAINER) + shared_run.of_type(NETWORK):
        assert r.urn in deps
    assert guard.inputs["environment"] == {"KINDREG_NETWORK": "lok8s-registries", **python_step_environment()}


def test_shared_outputs_are_the_export_projects_read(shared_run):
    export = shared_run.outputs["kindreg"]
    assert export["format"] == "kindreg/shared/v1"
    assert [m["ip"] for m in export["mirrors"]] == ["10.125.200.2", "10.125.200.3", "10.125.200.4", "10.125.200.5"]
    assert [m["url"] for m in shared_run.outputs["mirrors"]][0] == "http://10.125.200.2"


# ---------------------------------------------------------------- project, shared mode

@pytest.fixture
def dev_run(host, shared_outputs):
    return run_stack("dev", stack_config("dev"), host, stack_outputs=shared_outputs)


def test_dev_resources(dev_run):
    assert dev_run.count_by_type() == {
        STACKREF: 1, "kindreg:project:ProjectRegistries": 1, NETWORK: 1, IMAGE: 1,
        "kindreg:registry:Registry": 2, VOLUME: 2, CONTAINER: 2, "kindreg:containerd:CertsTree": 1,
        "kindreg:cluster:KindCluster": 1, COMMAND: 1 + 12 + 3}
    assert dev_run.of_type(STACKREF)[0].inputs["name"] == "shared"


def test_dev_build_and_cache(dev_run):
    build = dev_run.named("dev-build-container")
    assert build.inputs["name"] == "lok8s-registry-build"
    assert build.inputs["networksAdvanced"] == [
        {"name": "lok8s", "ipv4Address": "10.125.125.101", "aliases": ["lok8s.local"]}]
    assert build.inputs["entrypoints"] == ["registry", "serve", "/etc/kindreg/registry/config.yml"]
    cache = dev_run.named("dev-cache-container")
    assert cache.inputs["networksAdvanced"][0]["ipv4Address"] == "10.125.125.102"
    assert labels(cache)["kindreg.role"] == "cache"
    # Both on 127.0.0.1 only, on a port the engine picks (no `external`): two projects never collide.
    assert build.inputs["ports"] == cache.inputs["ports"] == [{"internal": 80, "ip": "127.0.0.1"}]
    net = dev_run.named("dev-network")
    assert net.inputs["ipamConfigs"] == [
        {"subnet": "10.125.125.0/24", "gateway": "10.125.125.1", "ipRange": "10.125.125.128/25"}]


def test_dev_certs_tree_writes_every_hosts_toml(dev_run, host):
    files = {c.inputs["environment"]["KINDREG_HOST"]: c for c in dev_run.of_type(COMMAND)
             if "KINDREG_HOST" in c.inputs.get("environment", {})}
    assert sorted(files) == sorted([
        "lok8s.local", "10.125.125.101", "lok8s.cache", "10.125.125.102", "docker.io", "10.125.200.2",
        "quay.io", "10.125.200.3", "registry.k8s.io", "10.125.200.4", "ghcr.io", "10.125.200.5"])
    docker_io = files["docker.io"]
    assert docker_io.inputs["environment"]["KINDREG_CERTS_DIR"] == str(host.project_dir / ".kindreg/dev/certs.d")
    assert docker_io.inputs["environment"]["KINDREG_CONTENT"] == (
        '# kindreg (dev): docker.io through mirror io-docker (lok8s-registry-io-docker), upstream '
        'https://registry-1.docker.io\nserver = "https://registry-1.docker.io"\n\n'
        '[host."http://10.125.200.2"]\n  capabilities = ["pull", "resolve"]\n')
    # The path is the identity; the content is an input, so a new content is an update that
    # rewrites the file. `kindreg up` replaces a file found removed or edited in the nodes;
    # the old Command must be deleted first, or its delete would remove the file its
    # replacement had just written at the same path.
    assert docker_io.inputs["triggers"] == [str(host.project_dir / ".kindreg/dev/certs.d"), "docker.io/hosts.toml"]
    assert docker_io.inputs["update"] == docker_io.inputs["create"]
    assert docker_io.inputs["update"] == docker_io.inputs["create"]  # refreshed in place
    root = dev_run.named("dev-certs-root")
    assert root.urn in docker_io.dependencies
    assert all(c.delete_before_replace for c in files.values())


def test_dev_kind_cluster(dev_run, host):
    kind = dev_run.named("dev-kind")
    doc = yaml.safe_load(kind.inputs["stdin"])
    assert doc["name"] == "dev"
    assert [n["role"] for n in doc["nodes"]] == ["control-plane", "worker"]
    assert all(n["extraMounts"] == [{"hostPath": str(host.project_dir / ".kindreg/dev/certs.d"),
                                     "containerPath": "/etc/containerd/certs.d", "readOnly": True}]
               for n in doc["nodes"])
    assert doc["containerdConfigPatches"] == [render.pull_progress_patch()]  # only the pull timeout
    assert kind.inputs["environment"]["KINDREG_NETWORK"] == "lok8s"
    # Replaced when its config changes or its network is replaced; an engine address is not a trigger.
    assert kind.inputs["triggers"] == [kind.inputs["stdin"], "dev-network-id"]
    assert kind.inputs["update"] and kind.inputs["update"] != kind.inputs["create"]
    assert kind.delete_before_replace is True
    # The cluster waits for the registries and the whole certs.d tree.
    deps = set(kind.dependencies)
    assert dev_run.named("dev-build-container").urn in deps
    assert all(c.urn in deps for c in dev_run.of_type(COMMAND) if "KINDREG_HOST" in c.inputs.get("environment", {}))
    connect = dev_run.named("dev-connect")
    assert connect.inputs["environment"]["KINDREG_NETWORK"] == "lok8s-registries"
    assert connect.inputs["triggers"] == ["dev-kind-id"]  # a new cluster, not an update of it
    assert kind.urn in connect.dependencies
    hosting = yaml.safe_load(dev_run.named("dev-registry-hosting").inputs["stdin"])
    assert hosting["metadata"] == {"name": "local-registry-hosting", "namespace": "kube-public"}


def test_dev_outputs(dev_run, host):
    out = dev_run.outputs
    assert [r["url"] for r in out["registries"]] == ["http://10.125.125.101", "http://10.125.125.102"]
    assert [m["ip"] for m in out["mirrors"]] == ["10.125.200.2", "10.125.200.3", "10.125.200.4", "10.125.200.5"]
    assert out["certsDir"] == str(host.project_dir / ".kindreg/dev/certs.d")
    assert out["nodes"] == ["stdout-of-dev-kind"]
    assert out["sharedNetwork"]["name"] == "lok8s-registries"


# ---------------------------------------------------------------- project, own mirrors

def test_alt_owns_its_mirrors_and_reads_no_shared_stack(host):
    run = run_stack("alt", stack_config("alt"), host)
    assert STACKREF not in run.count_by_type()
    assert run.count_by_type()[CONTAINER] == 6 + 4  # build, cache, 4 mirrors and their fronts
    nets = {c.inputs["name"]: c.inputs["networksAdvanced"][0] for c in run.of_type(CONTAINER)}
    assert nets["alt-registry-io-docker-front"] == {"name": "alt"}  # found by name, no fixed address
    assert nets["alt-registry-io-docker"] == {"name": "alt", "ipv4Address": "10.125.50.103"}
    assert nets["alt-registry-io-ghcr"]["ipv4Address"] == "10.125.50.106"
    assert "alt-connect" not in [r.name for r in run.resources]  # nodes only on their own network


def test_custom_mirrors_in_ksail_grammar(host):
    host.env.update(GITHUB_USER="octocat", GITHUB_TOKEN="ghp-from-env")
    run = run_stack("ksail", stack_config("ksail", PROJECT), host)
    names = {c.inputs["name"] for c in run.of_type(CONTAINER)}
    mirrors = {"ksail-project-network-registry-io-docker", "ksail-project-network-registry-io-ghcr",
               "ksail-project-network-registry-gitlab", "ksail-project-network-registry-com-microsoft-mcr"}
    assert names == {"ksail-project-network-registry-build", "ksail-project-network-registry-cache",
                     *mirrors, *(m + "-front" for m in mirrors)}
    gitlab = next(c for c in run.of_type(CONTAINER) if c.inputs["name"].endswith("gitlab"))
    # The KSail ttl is kindreg's prune age; distribution's own expiry stays off (render.proxy_section).
    assert yaml.safe_load(uploads(gitlab)[render.CONFIG_PATH]["content"])["proxy"]["ttl"] == 0
    assert not run.of_type("kindreg:cluster:KindCluster")  # nodes.enabled: false
    ghcr = next(c for c in run.of_type(CONTAINER) if c.inputs["name"].endswith("io-ghcr"))
    assert ghcr.inputs["envs"][2:] == ["REGISTRY_PROXY_USERNAME=octocat", "REGISTRY_PROXY_PASSWORD=ghp-from-env"]
    assert "envs" in ghcr.secret_inputs


def test_unset_placeholder_is_an_error_naming_the_variable(host):
    run = run_stack("ksail", stack_config("ksail", PROJECT), host, expect_error=True)
    assert ("kindreg:cluster.registries.mirrors[1].password: uses ${GITHUB_TOKEN}, which is not set "
            "in the environment") in str(run.error)
    assert run.resources == []


# ---------------------------------------------------------------- TLS

def tls_project(cidr="10.125.60.0/24", mirrors=None):
    cfg = {"network": {"cidr": cidr}, "registries": {"tls": True, "shared": {"enabled": False}}}
    if mirrors is not None:
        cfg["registries"]["mirrors"] = mirrors
    return {"kindreg:cluster": cfg}


@pytest.fixture
def tls_host(tmp_path):
    return fake_host(tmp_path, caroot=tmp_path / "caroot")


def test_tls_mints_one_certificate_for_the_plan_sans(tls_host):
    run = run_stack("qa", tls_project(mirrors=["quay.io"]), tls_host)
    mkcert = run.named("qa-tls-mkcert")
    assert mkcert.inputs["environment"]["KINDREG_SANS"] == (
        "10.125.60.101 10.125.60.102 10.125.60.104 lok8s.local lok8s.cache localhost 127.0.0.1 quay.io")
    assert mkcert.inputs["triggers"] == [["10.125.60.101", "10.125.60.102", "10.125.60.104",
                                          "lok8s.local", "lok8s.cache", "localhost", "127.0.0.1", "quay.io"]]
    assert mkcert.delete_before_replace is True
    assert "update" not in mkcert.inputs  # a SAN change re-mints (replaces), never patches
    assert mkcert.inputs["environment"]["KINDREG_TLS_DIR"] == str(tls_host.project_dir / ".kindreg/qa/tls")
    assert set(mkcert.inputs["environment"]) == {"KINDREG_TLS_DIR", "KINDREG_SANS"}  # nothing else re-mints
    assert mkcert.additional_secret_outputs == ["stderr"]


def test_tls_registries_listen_on_443_with_the_certificate_by_path(tls_host):
    run = run_stack("qa", tls_project(), tls_host)
    build = run.named("qa-build-container")
    files = uploads(build)
    tls_dir = tls_host.project_dir / ".kindreg/qa/tls"
    assert files[render.TLS_CERT] == {"file": render.TLS_CERT, "source": str(tls_dir / "cert.pem"),
                                      "sourceHash": "stdout-of-qa-tls-mkcert"}
    assert files[render.TLS_KEY]["source"] == str(tls_dir / "key.pem")
    assert "content" not in files[render.TLS_KEY]  # the key never passes through Pulumi
    config = yaml.safe_load(files[render.CONFIG_PATH]["content"])
    assert config["http"]["addr"] == ":443"
    assert config["http"]["tls"] == {"certificate": render.TLS_CERT, "key": render.TLS_KEY}
    assert labels(build)["kindreg.scheme"] == "https"


def test_tls_copies_the_ca_into_the_certs_tree(tls_host):
    run = run_stack("qa", tls_project(), tls_host)
    ca = run.named("qa-certs-ca")
    assert ca.inputs["environment"]["KINDREG_CA_SOURCE"] == str(tls_host.project_dir / "caroot" / "rootCA.pem")
    assert len(ca.inputs["environment"]["KINDREG_CA_SHA256"]) == 64  # the CA's fingerprint, an input
    assert ca.inputs["triggers"] == [str(tls_host.project_dir / ".kindreg/qa/certs.d")]
    build_hosts = next(c for c in run.of_type(COMMAND)
                       if c.inputs.get("environment", {}).get("KINDREG_HOST") == "lok8s.local")
    assert 'ca = "/etc/containerd/certs.d/.ca/rootCA.pem"' in build_hosts.inputs["environment"]["KINDREG_CONTENT"]


def test_same_sans_same_trigger_added_mirror_new_trigger(tls_host):
    first = run_stack("qa", tls_project(mirrors=["quay.io"]), tls_host).named("qa-tls-mkcert")
    again = run_stack("qa", tls_project(mirrors=["quay.io"]), tls_host).named("qa-tls-mkcert")
    more = run_stack("qa", tls_project(mirrors=["quay.io", "ghcr.io"]), tls_host).named("qa-tls-mkcert")
    assert first.inputs["triggers"] == again.inputs["triggers"]
    assert more.inputs["triggers"] != first.inputs["triggers"]
    assert more.inputs["triggers"][0][-2:] == ["quay.io", "ghcr.io"]


def test_tls_off_has_no_certificate_and_no_ca(host, shared_outputs):
    run = run_stack("dev", stack_config("dev"), host, stack_outputs=shared_outputs)
    names = [r.name for r in run.resources]
    assert "dev-tls" not in names and "dev-certs-ca" not in names
    assert all(render.TLS_CERT not in uploads(c) for c in run.of_type(CONTAINER))


def test_shared_tls_stack_mints_its_own_certificate(tmp_path):
    host = fake_host(tmp_path, caroot=tmp_path / "caroot")
    run = run_stack("shared-tls", stack_config("shared-tls", PROJECT), host)
    mkcert = run.named("shared-tls-tls-mkcert")
    assert mkcert.inputs["environment"]["KINDREG_SANS"] == "10.125.201.2 10.125.201.3 docker.io quay.io"
    assert mkcert.inputs["environment"]["KINDREG_TLS_DIR"] == str(tmp_path / ".kindreg/shared-tls/tls")


# ---------------------------------------------------------------- credentials

def test_authenticated_mirror_password_is_a_secret(host):
    cfg = {"kindreg:cluster": {"network": {"cidr": "10.125.70.0/24"}, "registries": {
        "shared": {"enabled": False}, "mirrors": ["ghcr.io", "quay.io"]}},
        "kindreg:mirrorCredentials": {"io-ghcr": {"username": "octo", "password": "s3cret-token"}}}
    run = run_stack("auth", cfg, host, secret_keys=("kindreg:mirrorCredentials",))
    ghcr = next(c for c in run.of_type(CONTAINER) if c.inputs["name"].endswith("io-ghcr"))
    assert ghcr.inputs["envs"] == ["KINDREG_UPSTREAM=https://ghcr.io", "KINDREG_MIRROR=io-ghcr",
                                   "REGISTRY_PROXY_USERNAME=octo", "REGISTRY_PROXY_PASSWORD=s3cret-token"]
    assert "envs" in ghcr.secret_inputs
    quay = next(c for c in run.of_type(CONTAINER) if c.inputs["name"].endswith("io-quay"))
    assert not any(e.startswith("REGISTRY_PROXY_") for e in quay.inputs["envs"])
    for r in run.resources:  # nowhere else, and never outside a secret
        for key, value in r.inputs.items():
            if key not in r.secret_inputs:
                assert "s3cret-token" not in repr(value), f"{r.name}.{key}"
    assert "s3cret-token" not in repr(run.outputs)


def test_partial_secret_credentials_fail_before_anything_is_created(host):
    cfg = {"kindreg:cluster": {"network": {"cidr": "10.125.70.0/24"}, "registries": {
        "shared": {"enabled": False}, "mirrors": ["ghcr.io"]}},
        "kindreg:mirrorCredentials": {"io-ghcr": {"username": "octo"}}}
    run = run_stack("auth", cfg, host, expect_error=True)
    assert "kindreg:mirrorCredentials.io-ghcr.password: is missing" in str(run.error)
    assert run.resources == []


# ---------------------------------------------------------------- failures create nothing

def created(run):
    return [r for r in run.resources if r.type != STACKREF]


def test_missing_shared_stack_fails_before_creating_anything(host):
    run = run_stack("dev", stack_config("dev"), host, missing_stacks=("shared",), expect_error=True)
    assert "unknown stack 'shared'" in str(run.error)  # the engine's own error ends the run
    assert ("ERROR", 'shared stack "shared": 1 problem:\n  - could not be read (unknown stack '
            "'shared'); run `pulumi up -s shared` first") in run.logs
    assert created(run) == []


def test_shared_stack_without_outputs_fails_before_creating_anything(host):
    run = run_stack("dev", stack_config("dev"), host, stack_outputs={"shared": {}}, expect_error=True)
    assert str(run.error).startswith('shared stack "shared": 1 problem:')
    assert "has no kindreg outputs; run `pulumi up -s shared` first" in str(run.error)
    assert created(run) == []


def test_subnet_mismatch_names_both_values_and_creates_nothing(host, shared_outputs):
    cfg = copy.deepcopy(stack_config("dev"))
    cfg["kindreg:cluster"]["registries"]["shared"]["network"] = {"cidr": "10.0.0.0/24"}
    run = run_stack("dev", cfg, host, stack_outputs=shared_outputs, expect_error=True)
    assert str(run.error) == (
        "stack dev config: 1 problem:\n  - kindreg:cluster.registries.shared.network.cidr: "
        '"10.0.0.0/24" disagrees with the shared stack: the shared stack "shared" has network '
        'lok8s-registries 10.125.200.0/24; set this field to "10.125.200.0/24" (or remove it), '
        "or change Pulumi.shared.yaml and run `pulumi up -s shared`")
    assert created(run) == []


def test_missing_kind_fails_preflight_and_creates_nothing(tmp_path, shared_outputs):
    run = run_stack("dev", stack_config("dev"), fake_host(tmp_path, tools=("docker",)),
                    stack_outputs=shared_outputs, expect_error=True)
    assert ("kindreg:cluster.nodes.enabled: is true but kind is not on PATH; install kind v0.27.0 "
            "or newer, or set nodes.enabled: false") in str(run.error)
    assert created(run) == []


@pytest.mark.parametrize("tools, caroot, says", [
    (("docker", "kind"), None, "mkcert is not on PATH; install mkcert, then run `mkcert -install`"),
    (("docker", "kind", "mkcert"), None, "mkcert's local CA does not exist"),
])
def test_tls_without_mkcert_ca_says_what_to_run(tmp_path, tools, caroot, says):
    host = fake_host(tmp_path, tools=tools)
    host.env["CAROOT"] = str(tmp_path / "empty-caroot")
    run = run_stack("qa", tls_project(), host, expect_error=True)
    assert says in str(run.error)
    assert "mkcert -install" in str(run.error)
    assert run.resources == []


def test_invalid_config_fails_with_every_problem_and_creates_nothing(host):
    cfg = {"kindreg:cluster": {"network": {"cidr": "10.125.125.1/24"}, "registries": {"tlss": True}}}
    run = run_stack("bad", cfg, host, expect_error=True)
    text = str(run.error)
    assert 'kindreg:cluster.network.cidr: "10.125.125.1/24" has host bits set' in text
    assert 'kindreg:cluster.registries.tlss: unknown field; did you mean "tls"?' in text
    assert run.resources == []


def test_cluster_file_source_gives_the_same_graph(host, shared_outputs):
    (host.project_dir / "clusters").mkdir()
    (host.project_dir / "clusters" / "dev.lok8s.yaml").write_text(
        (PROJECT_FILE / "clusters" / "dev.lok8s.yaml").read_text())
    from_file = run_stack("dev", {"kindreg:clusterFile": "clusters/dev.lok8s.yaml"}, host,
                          stack_outputs=shared_outputs)
    from_object = run_stack("dev", stack_config("dev"), host, stack_outputs=shared_outputs)
    def graph(run):
        return sorted((r.type, r.name, repr(r.inputs)) for r in run.resources)

    assert graph(from_file) == graph(from_object)


def test_commands_use_the_docker_host_of_the_stack(host, shared_outputs):
    cfg = {**stack_config("dev"), "docker:host": "ssh://builder@remote-docker"}
    run = run_stack("dev", cfg, host, stack_outputs=shared_outputs)
    for name in ("dev-kind", "dev-connect", "dev-registry-hosting"):
        assert run.named(name).inputs["environment"]["DOCKER_HOST"] == "ssh://builder@remote-docker"
    shared = run_stack("shared", {**stack_config("shared"), "docker:host": "tcp://10.0.0.5:2376"}, host)
    assert shared.named("shared-guard").inputs["environment"]["DOCKER_HOST"] == "tcp://10.0.0.5:2376"


def test_with_a_remote_engine_the_tree_is_a_volume_written_through_the_engine(host, shared_outputs):
    """Nothing of the project exists on an ssh:// engine's machine: no host path anywhere."""
    run = run_stack("dev", {**stack_config("dev"), "docker:host": "ssh://builder@remote-docker"}, host,
                    stack_outputs=shared_outputs)
    volume = run.named("dev-certs-volume")
    assert volume.inputs["name"] == "lok8s-containerd-certs" and not volume.retain_on_delete
    assert {x["label"]: x["value"] for x in volume.inputs["labels"]} == {
        "kindreg.managed": "true", "kindreg.scope": "project", "kindreg.stack": "dev", "kindreg.role": "containerd-certs"}
    docker_io = next(c for c in run.of_type(COMMAND) if c.inputs.get("environment", {}).get("KINDREG_HOST") == "docker.io")
    env = docker_io.inputs["environment"]
    assert (env["KINDREG_CERTS_VOLUME"], env["KINDREG_IMAGE"], env["DOCKER_HOST"]) == (
        "lok8s-containerd-certs", "sha256:registry:3", "ssh://builder@remote-docker")
    assert "KINDREG_CERTS_DIR" not in env
    assert (docker_io.inputs["create"], docker_io.inputs["delete"]) == (
        scripts.VOLUME_HOSTS_FILE_WRITE, scripts.VOLUME_HOSTS_FILE_DELETE)
    assert docker_io.inputs["triggers"] == ["lok8s-containerd-certs", "docker.io/hosts.toml"]
    assert volume.urn in docker_io.dependencies
    kind = yaml.safe_load(run.named("dev-kind").inputs["stdin"])
    # kind mounts host paths only: the volume's own directory on the engine's machine.
    assert {m["hostPath"] for n in kind["nodes"] for m in n["extraMounts"]} == {
        "/var/lib/docker/volumes/lok8s-containerd-certs/_data"}
    assert run.outputs["certsDir"] == "/var/lib/docker/volumes/lok8s-containerd-certs/_data"
    assert run.outputs["certsVolume"] == "lok8s-containerd-certs"
    assert not any(str(host.project_dir) in repr(r.inputs) for r in run.resources), "no host path reaches the engine"


def test_with_a_local_engine_the_tree_stays_a_host_directory(dev_run, host):
    assert not dev_run.of_type(VOLUME) or "dev-certs-volume" not in {r.name for r in dev_run.resources}
    assert dev_run.outputs["certsVolume"] is None


def hosts_commands(run) -> dict:
    return {c.inputs["environment"]["KINDREG_HOST"]: c.inputs["environment"]["KINDREG_CONTENT"]
            for c in run.of_type(COMMAND) if "KINDREG_HOST" in c.inputs.get("environment", {})}


def test_adding_a_mirror_adds_its_files_and_changes_no_other(host):
    base = {"kindreg:cluster": {"network": {"cidr": "10.125.70.0/24"}, "nodes": {"enabled": False},
                                "registries": {"shared": {"enabled": False}, "mirrors": ["quay.io"]}}}
    more = copy.deepcopy(base)
    more["kindreg:cluster"]["registries"]["mirrors"].append("ghcr.io")
    before, after = hosts_commands(run_stack("p", base, host)), hosts_commands(run_stack("p", more, host))
    assert set(after) - set(before) == {"ghcr.io", "10.125.70.106"}  # io-ghcr keeps its own address
    assert {k: after[k] for k in before} == before


def test_turning_tls_on_changes_only_the_files_of_the_project_registries(tls_host, shared_outputs):
    plain = stack_config("dev")
    tls = copy.deepcopy(plain)
    tls["kindreg:cluster"]["registries"]["tls"] = True
    before = hosts_commands(run_stack("dev", plain, tls_host, stack_outputs=shared_outputs))
    after = hosts_commands(run_stack("dev", tls, tls_host, stack_outputs=shared_outputs))
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"lok8s.local", "10.125.125.101", "lok8s.cache", "10.125.125.102"}
    assert set(after) == set(before)  # the shared mirrors keep their own (plain) scheme


def test_project_outputs_the_flux_manifests(host, shared_outputs, tls_host):
    run = run_stack("dev", stack_config("dev"), host, stack_outputs=shared_outputs)
    repo = list(yaml.safe_load_all(run.outputs["flux"]))[0]
    assert repo["spec"]["url"] == "oci://lok8s.local/k8s" and repo["spec"]["insecure"] is True
    tls = run_stack("qa", tls_project(), tls_host)
    secret = list(yaml.safe_load_all(tls.outputs["flux"]))[0]
    assert secret["stringData"]["ca.crt"] == (tls_host.project_dir / "caroot" / "rootCA.pem").read_text()


# ---------------------------------------------------------------- what a change may not replace

def volume_inputs(run) -> dict:
    return {v.inputs["name"]: v.inputs for v in run.of_type(VOLUME)}


def _alt(**registries):
    cfg = copy.deepcopy(stack_config("alt"))
    cfg["kindreg:cluster"]["registries"].update(registries)
    return cfg


@pytest.mark.parametrize("change", [
    {"tls": True},
    {"image": "registry:3.0.0"},
    {"mirrors": [{"name": "io-docker", "url": "https://mirror.gcr.io"}, {"name": "io-quay", "url": "https://quay.io"},
                 {"name": "io-k8s", "url": "https://registry.k8s.io"}, {"name": "io-ghcr", "url": "https://ghcr.io"}]},
    {"mirrors": [{"name": "io-ghcr", "url": "https://ghcr.io"}, {"name": "io-k8s", "url": "https://registry.k8s.io"},
                 {"name": "io-quay", "url": "https://quay.io"}, {"name": "io-docker", "url": "https://registry-1.docker.io"}]},
])
def test_no_change_of_upstream_tls_image_or_order_touches_a_cache_volume(tls_host, change):
    # Every input of a Docker volume forces a new one: its inputs must not follow any of these.
    before = volume_inputs(run_stack("alt", _alt(), tls_host))
    after = volume_inputs(run_stack("alt", _alt(**change), tls_host))
    assert after == before


def test_a_new_subnet_touches_no_cache_volume(host):
    cfg = _alt()
    cfg["kindreg:cluster"]["network"]["cidr"] = "10.125.51.0/24"
    assert volume_inputs(run_stack("alt", cfg, host)) == volume_inputs(run_stack("alt", _alt(), host))


def test_networks_are_deleted_before_they_are_replaced(shared_run, dev_run):
    for net in shared_run.of_type(NETWORK) + dev_run.of_type(NETWORK):
        assert net.delete_before_replace is True, net.name


def test_the_connect_step_is_deleted_before_a_replacement_connects_again(dev_run):
    assert dev_run.named("dev-connect").delete_before_replace is True
