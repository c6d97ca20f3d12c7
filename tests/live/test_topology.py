"""Live topology: the real program, under the provider double, on a real Docker engine.

Scenarios run in order on one machine (module fixtures), as a user would go:
up all four stacks, pull through the shared mirror, push and pull locally, destroy and
re-create a project, try to destroy the shared stack too early, change a mirror's upstream.
"""
from __future__ import annotations

import copy
import subprocess

import pytest

from tests.live.conftest import (TEST_REPO, check_every_registry_answers, check_node_networks,
                                 check_pulls_share_the_mirror, endpoints, free_port, http_status,
                                 kindreg_cli, node_pull, stack_configs, write_stack_files)
from tests.live.provider_double import DestroyRefused

pytestmark = pytest.mark.live

IMAGE_1 = f"docker.io/{TEST_REPO}:1"
STACKS = ("shared", "dev", "qa", "alt")


@pytest.fixture(scope="module")
def host_port():
    return free_port()


@pytest.fixture(scope="module")
def configs(live, upstream, host_port):
    configs = stack_configs(live.images, upstream.port, host_ports={"qa": host_port})
    write_stack_files(live.workdir, configs)
    return configs


@pytest.fixture(scope="module")
def world(live, configs):
    """Scenario 1's `up` of all four stacks; later scenarios build on it."""
    return {stack: live.up(stack, configs[stack]) for stack in STACKS}


def nodes(outputs: dict) -> list[str]:
    return outputs["nodes"]


# ---------------------------------------------------------------- 1. up all four

def test_1_every_registry_answers_at_its_planned_address(world):
    seen = check_every_registry_answers(world)
    assert {"kindreg-live-registry-io-docker", "kindreg-live-dev-registry-build",
            "kindreg-live-qa-registry-cache", "kindreg-live-alt-registry-io-quay"} <= seen
    assert world["dev"]["registries"][0]["ip"] == "10.213.125.101"
    assert world["shared"]["mirrors"][0]["ip"] == "10.213.200.2"
    assert world["alt"]["registries"][2]["ip"] == "10.213.50.103"


def test_1_nodes_are_on_the_right_networks_inside_the_dynamic_range(live, world):
    check_node_networks(live.machine.client, world)


# ---------------------------------------------------------------- 2. pull through the mirrors

def test_2_pulls_go_through_the_shared_mirror_once(live, world, upstream):
    check_pulls_share_the_mirror(live.machine.client, world, upstream, IMAGE_1)
    mirror_logs = live.machine.client.containers.get("kindreg-live-registry-io-docker").logs().decode()
    assert f"/v2/{TEST_REPO}/manifests/" in mirror_logs


# ---------------------------------------------------------------- 3. the project's own build registry

def test_3_push_to_dev_build_and_pull_lok8s_local_only_in_dev(live, world, upstream, tmp_path, host_port):
    from tests.images import oci_layout

    client = live.machine.client
    dev_build = world["dev"]["registries"][0]["ip"]
    qa_build = world["qa"]["registries"][0]["ip"]
    oci_layout(tmp_path / "app", "1", [{"app.txt": b"dev's app\n"}])
    subprocess.run(["skopeo", "copy", "--insecure-policy", "--dest-tls-verify=false",
                    f"oci:{tmp_path / 'app'}:1", f"docker://{dev_build}/my-app:1"], check=True, capture_output=True)
    code, out = node_pull(client, nodes(world["dev"])[0], "lok8s.local/my-app:1")
    assert code == 0, out
    code, out = node_pull(client, nodes(world["qa"])[0], "lok8s.local/my-app:1")
    assert code != 0 and "not found" in out, out  # qa's lok8s.local is qa's own build registry
    # qa publishes its build registry on a host port (for Docker Desktop, where the host cannot
    # reach container IPs): a push to localhost:<port> lands where qa's nodes pull lok8s.local.
    oci_layout(tmp_path / "qa-app", "1", [{"app.txt": b"qa's app\n"}])
    subprocess.run(["skopeo", "copy", "--insecure-policy", "--dest-tls-verify=false",
                    f"oci:{tmp_path / 'qa-app'}:1", f"docker://localhost:{host_port}/my-app:1"],
                   check=True, capture_output=True)
    code, out = node_pull(client, nodes(world["qa"])[0], "lok8s.local/my-app:1")
    assert code == 0, out
    assert http_json(f"http://{qa_build}/v2/my-app/tags/list")["tags"] == ["1"]


def test_3_registry_hosting_configmap_was_applied(live, world):
    client = live.machine.client
    cp = next(n for n in nodes(world["dev"]) if n.endswith("control-plane"))
    applied = client.containers.get(cp).exec_run(["cat", "/var/lib/kubectl-double/applied.yaml"]).output.decode()
    assert "name: local-registry-hosting" in applied
    assert "hostFromContainerRuntime: lok8s.local" in applied


def test_3_status_reads_the_real_engine(world):
    out = kindreg_cli("status")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "Shared mirrors (network kindreg-live-registries, stack shared):" in lines
    mirror = next(line for line in lines if line.strip().startswith("kindreg-live-registry-io-docker "))
    assert "10.213.200.2" in mirror and "pull-through" in mirror and "http://10.213.200.2/v2/_catalog" in mirror
    assert "Project registries, stack qa (network kindreg-live-qa):" in lines
    assert "Nodes of kind cluster live-dev:" in lines
    node = next(line for line in lines if line.strip().startswith("live-dev-worker "))
    assert "kindreg-live-dev 10.213.125." in node and "kindreg-live-registries 10.213.200." in node


def test_3_doctor_passes_on_the_running_machine(live, world):
    out = kindreg_cli("doctor", "--project-dir", str(live.workdir))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "host port" in out.stdout and out.stdout.rstrip().endswith("all checks passed")


def test_3_cache_copies_into_the_cache_registry_for_the_nodes(live, world, upstream):
    images = [f"127.0.0.1:{upstream.port}/{TEST_REPO}:1", f"127.0.0.1:{upstream.port}/{TEST_REPO}:2",
              f"127.0.0.1:{upstream.port}/library/absent:1"]
    out = kindreg_cli("cache", "--stack", "dev", "--insecure-source", "--parallel", "2", *images)
    assert out.returncode == 1, out.stdout + out.stderr  # one image does not exist
    assert f"{images[2]}: failed cannot read" in out.stdout
    assert out.stdout.rstrip().endswith("2 copied, 0 already cached, 1 failed")
    again = kindreg_cli("cache", "--stack", "dev", "--insecure-source", *images[:2])
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.rstrip().endswith("0 copied, 2 already cached, 0 failed")
    code, pulled = node_pull(live.machine.client, nodes(world["dev"])[0], f"lok8s.cache/{TEST_REPO}:1")
    assert code == 0, pulled


def test_3_push_manifests_as_a_flux_artifact_to_the_build_registry(live, world, tmp_path):
    import json
    import tarfile

    from kindreg.core import artifact

    k8s = live.workdir / "k8s"  # workload.path's default, under the project directory
    (k8s / "app").mkdir(parents=True)
    (k8s / "kustomization.yaml").write_text("resources: [app/deployment.yaml]\n")
    (k8s / "app" / "deployment.yaml").write_text("kind: Deployment\nmetadata: {name: my-app}\n")
    first = kindreg_cli("push", "--project-dir", str(live.workdir), "--stack", "dev")
    assert first.returncode == 0, first.stdout + first.stderr
    build = world["dev"]["registries"][0]["ip"]
    assert f"to {build}/k8s:dev (registry from the stack's build registry)" in first.stdout
    assert "Flux reconciles it from oci://lok8s.local/k8s:dev" in first.stdout
    digest = first.stdout.split("manifest ")[1].split()[0]

    # Read back with a second client: skopeo.
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{build}/k8s:dev"],
                         capture_output=True, text=True, check=True).stdout
    manifest = json.loads(raw)
    assert manifest["config"]["mediaType"] == artifact.FLUX_CONFIG_MEDIA_TYPE
    assert [layer["mediaType"] for layer in manifest["layers"]] == [artifact.FLUX_CONTENT_MEDIA_TYPE]
    out = tmp_path / "pulled"
    subprocess.run(["skopeo", "copy", "--insecure-policy", "--src-tls-verify=false",
                    f"docker://{build}/k8s:dev", f"dir:{out}"], check=True, capture_output=True)
    layer = out / manifest["layers"][0]["digest"].split(":")[1]
    with tarfile.open(layer, "r:gz") as tar:
        files = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    assert files == {"app/deployment.yaml": "kind: Deployment\nmetadata: {name: my-app}\n",
                     "kustomization.yaml": "resources: [app/deployment.yaml]\n"}

    again = kindreg_cli("push", "--project-dir", str(live.workdir), "--stack", "dev")
    assert again.returncode == 0 and f"manifest {digest}" in again.stdout  # unchanged: same digest
    (k8s / "app" / "deployment.yaml").write_text("kind: Deployment\nmetadata: {name: my-app-2}\n")
    changed = kindreg_cli("push", "--project-dir", str(live.workdir), "--stack", "dev")
    assert changed.returncode == 0 and f"manifest {digest}" not in changed.stdout


# ---------------------------------------------------------------- 4. destroy and re-create a project

def test_4_destroy_dev_leaves_the_others_and_the_cache(live, world, configs, upstream):
    client = live.machine.client
    dev = world["dev"]
    live.machine.destroy("dev")
    names = {c.name for c in client.containers.list(all=True)}
    assert not set(nodes(dev)) & names
    assert not {r["container"] for r in dev["registries"]} & names
    assert dev["network"]["name"] not in {n.name for n in client.networks.list()}
    for stack in ("qa", "alt"):
        for reg in endpoints(world[stack]):
            assert http_status(f"{reg['url']}/v2/") == 200
    mirror = world["shared"]["mirrors"][0]
    assert TEST_REPO in http_json(f"{mirror['url']}/v2/_catalog")["repositories"]
    # dev again, with the upstream stopped: the pull is served from the mirror's cache.
    world["dev"] = live.up("dev", configs["dev"])
    upstream.stop()
    try:
        code, out = node_pull(client, nodes(world["dev"])[0], IMAGE_1)
        assert code == 0, out
    finally:
        upstream.start()


def http_json(url: str) -> dict:
    import json
    import urllib.request
    return json.loads(urllib.request.urlopen(url, timeout=5).read())


# ---------------------------------------------------------------- 5. the shared stack's guard

def test_5_shared_stack_refuses_destroy_while_projects_are_attached(live, world):
    client = live.machine.client
    before = sorted(c.name for c in client.containers.list(all=True))
    with pytest.raises(DestroyRefused) as err:
        live.machine.destroy("shared")
    text = str(err.value)
    assert "network kindreg-live-registries is still used by" in text
    assert "project live-dev: live-dev-control-plane, live-dev-worker" in text
    assert "project live-qa: live-qa-control-plane, live-qa-worker" in text
    assert sorted(c.name for c in client.containers.list(all=True)) == before  # nothing deleted
    assert "kindreg-live-registries" in {n.name for n in client.networks.list()}
    for m in world["shared"]["mirrors"]:
        assert http_status(f"{m['url']}/v2/") == 200
    live.machine.destroy("qa")
    live.machine.destroy("dev")
    live.machine.destroy("shared")
    names = {c.name for c in client.containers.list(all=True)}
    assert not any(n.startswith("kindreg-live-registry-") for n in names)
    assert "kindreg-live-registries" not in {n.name for n in client.networks.list()}
    volumes = {v.name for v in client.volumes.list()}
    assert "kindreg-live-registry-io-docker-data" in volumes  # the cache is kept


# ---------------------------------------------------------------- 7. a changed upstream reaches the mirror

def test_7_a_changed_mirror_upstream_replaces_the_container(live, configs, upstream, test_images, tmp_path_factory):
    from tests.live.conftest import Upstream

    client = live.machine.client
    live.up("shared", configs["shared"])
    old_id = client.containers.get("kindreg-live-registry-io-docker").id
    second = Upstream(client, test_images[0], "kindreg-up-second", tmp_path_factory.mktemp("second"))
    try:
        changed = copy.deepcopy(configs["shared"])
        changed["kindreg:shared"]["mirrors"][0]["url"] = second.url("10.213.200.1")
        out = live.up("shared", changed)
        mirror = client.containers.get("kindreg-live-registry-io-docker")
        assert mirror.id != old_id
        # The registry probes the upstream itself and fetches through its front cache, which
        # was replaced too: its config names the new upstream.
        assert f"KINDREG_UPSTREAM={second.url('10.213.200.1')}" in mirror.attrs["Config"]["Env"]
        front = client.containers.get("kindreg-live-registry-io-docker-front")
        conf = front.exec_run(["cat", "/etc/nginx/nginx.conf"]).output.decode()
        assert f"set $upstream {second.url('10.213.200.1')};" in conf
        assert out["mirrors"][0]["upstream"] == second.url("10.213.200.1")
        # the untouched mirror was left alone
        quay = client.containers.get("kindreg-live-registry-io-quay")
        assert quay.attrs["State"]["Running"]
    finally:
        live.machine.destroy("shared")
        second.remove()
