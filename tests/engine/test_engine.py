"""The program under the real Pulumi engine: every kind of change a user makes, as a second `up`.

One machine per module: the shared stack and three projects (shared mode, shared mode with
TLS, own mirrors) are brought up through `pulumi up`, then each test changes one thing, checks
what the preview says the engine will do (from its events), runs `up`, and checks that every
hosts.toml and the CA copy are there with the new content, that cache volumes kept what they
held, that nodes are on both networks, and that nothing failed. The tests build on each other
in file order, as a user's changes do.
"""
from __future__ import annotations

import copy
import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from kindreg.core.vocabulary import Label
from tests.doubles import ownership
from tests.live import images
from tests.engine.conftest import EngineProject, engine_environment
from tests.live.conftest import (TEST_LAYERS, TEST_REPO, Upstream, engine, free_port, http_status,  # noqa: F401
                                 node_forget, node_networks, node_pull, test_images, upstream)

pytestmark = pytest.mark.engine

NET = "10.215"
PREFIX = "kreng"
IMAGE_1 = f"docker.io/{TEST_REPO}:1"
IMAGE_2 = f"docker.io/{TEST_REPO}:2"
CANARY = "canary-Pa55-do-not-print"
CANARY_2 = "canary-rotated-Pa55-do-not-print"
REGISTRY = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
COMMAND = "command:local:Command"


def mirror(name: str, host: str, port: int, gateway: str) -> dict:
    return {"name": name, "url": f"http://{gateway}:{port}", "host": host}


def shared_config(registry_image: str, port: int, names: tuple[str, ...] = ("io-docker", "io-quay")) -> dict:
    hosts = {"io-docker": "docker.io", "io-quay": "quay.io", "io-k8s": "registry.k8s.io"}
    return {"kindreg:shared": {
        "network": {"name": f"{PREFIX}-registries", "cidr": f"{NET}.200.0/24"}, "prefix": PREFIX,
        "image": registry_image, "frontCache": images.front_cache(),
        "mirrors": [mirror(n, hosts[n], port, f"{NET}.200.1") for n in names]}}


def project_config(name: str, slot: int, registry_image: str, node_image: str, port: int, *,
                   shared: bool = True, tls: bool = False, workers: int = 1, certs_tree: str = "auto") -> dict:
    regs = {"image": registry_image, "tls": tls, "shared": {"enabled": shared}, "frontCache": images.front_cache()}
    if not shared:
        regs["mirrors"] = [mirror("io-docker", "docker.io", port, f"{NET}.{slot}.1")]
    return {"kindreg:cluster": {
        "name": f"eng-{name}", "network": {"name": f"{PREFIX}-{name}", "cidr": f"{NET}.{slot}.0/24"},
        "registries": regs, "nodes": {"workers": workers, "image": node_image, "certsTree": certs_tree}}}


@pytest.fixture(scope="module")
def caroot(tmp_path_factory):
    """A fresh local CA (mkcert creates it on first use); the machine's trust store is untouched."""
    root, scratch = tmp_path_factory.mktemp("caroot"), tmp_path_factory.mktemp("scratch")
    subprocess.run(["mkcert", "-cert-file", str(scratch / "c.pem"), "-key-file", str(scratch / "k.pem"), "init"],
                   env={"CAROOT": str(root), "PATH": "/usr/bin:/bin"}, check=True, capture_output=True)
    return root


@pytest.fixture(scope="module")
def machine(pulumi_cli, engine, test_images, caroot, tmp_path_factory):
    ownership.sweep(engine)
    project = EngineProject(tmp_path_factory.mktemp("engine"), engine_environment(test_images, {"CAROOT": str(caroot)}))
    yield project
    for stack in ("dev", "tls", "alt", "shared"):
        try:
            project.destroy(stack)
        except Exception as err:  # noqa: BLE001 - keep cleaning; the sweep removes the rest
            print(f"engine clean-up of {stack}: {err}")
    ownership.sweep(engine)


@pytest.fixture(scope="module")
def configs(test_images, upstream):
    registry, node = test_images
    return {
        "shared": shared_config(registry, upstream.port),
        "dev": project_config("dev", 125, registry, node, upstream.port),
        # The tree in a volume written through the engine (what a remote engine gets), CA included.
        "tls": project_config("tls", 60, registry, node, upstream.port, tls=True, certs_tree="volume"),
        "alt": project_config("alt", 50, registry, node, upstream.port, shared=False),
    }


def certs(machine: EngineProject, stack: str) -> Path:
    """The tree: the volume's directory on this machine (the engine is local to the tests)."""
    return Path(machine.outputs(stack)["certsDir"])


def hosts_toml(machine: EngineProject, stack: str, host: str) -> dict:
    return tomllib.loads((certs(machine, stack) / host / "hosts.toml").read_text())


def check_tree(machine: EngineProject, stack: str) -> None:
    """Every file the plan has is on disk with its planned content, the CA copy included."""
    out = machine.outputs(stack)
    expected = {f"{r['host']}/hosts.toml" for r in out["registries"][:2] + out["mirrors"]} | \
               {f"{r['ip']}/hosts.toml" for r in out["registries"][:2] + out["mirrors"]}
    tree = certs(machine, stack)
    found = {str(p.relative_to(tree)) for p in tree.rglob("hosts.toml")}
    assert found == expected, (sorted(found ^ expected))
    needs_ca = any(r["scheme"] == "https" for r in out["registries"] + out["mirrors"])
    assert (tree / ".ca" / "rootCA.pem").exists() == needs_ca


def check_nodes(engine, machine: EngineProject, stack: str, shared: bool = True) -> None:
    out = machine.outputs(stack)
    shared_net = machine.outputs("shared")["network"]["name"]
    for node in out["nodes"]:
        nets = set(node_networks(engine, node))
        assert nets == {out["network"]["name"]} | ({shared_net} if shared else set()), (node, nets)


@pytest.fixture(scope="module")
def world(machine, configs, upstream):
    for stack, config in configs.items():
        machine.write(stack, config)
    for stack in ("shared", "dev", "tls", "alt"):
        machine.up(stack)
    return machine


# ---------------------------------------------------------------- from nothing, and nothing to do

def test_a_project_before_the_shared_stack_fails_and_creates_nothing(machine, configs):
    machine.write("dev", configs["dev"])
    with pytest.raises(Exception) as err:
        machine.up("dev")
    # The engine itself fails the StackReference read before the program can say more.
    assert 'unknown stack "shared"' in str(err.value)
    assert not (machine.dir / ".kindreg" / "dev").exists()
    state = machine.stack("dev").export_stack().deployment.get("resources", [])
    assert [r["type"] for r in state if r["type"].startswith(("docker:", "command:"))] == []


def test_up_from_nothing_builds_every_stack(world, engine):
    for stack in ("dev", "tls", "alt"):
        out = world.outputs(stack)
        for reg in out["registries"] + out["mirrors"]:
            context = None
            if reg["scheme"] == "https":
                import ssl
                context = ssl.create_default_context(cafile=str(Path(world.env["CAROOT"]) / "rootCA.pem"))
            assert http_status(f"{reg['url']}/v2/", context) == 200, reg
        check_tree(world, stack)
        check_nodes(engine, world, stack, shared=stack != "alt")
    # The project read the shared stack's outputs from real state.
    assert world.outputs("dev")["mirrors"][0]["container"] == f"{PREFIX}-registry-io-docker"


def test_the_tree_in_a_volume_is_written_through_the_engine_and_read_by_the_nodes(world, engine):
    """nodes.certsTree: volume (what a remote engine gets): no host directory, the nodes pull
    through TLS registries with the CA copy that went in on the helper's stdin."""
    out = world.outputs("tls")
    volume = engine.volumes.get(out["certsVolume"])
    assert out["certsVolume"] == f"{PREFIX}-tls-containerd-certs"
    assert out["certsDir"] == volume.attrs["Mountpoint"]
    assert volume.attrs["Labels"]["kindreg.role"] == "containerd-certs"
    assert not (world.dir / ".kindreg" / "tls" / "certs.d").exists()
    pushed = push_to(engine, out["registries"][0]["ip"], "keep/tls", "1")
    assert pulled_from(world, engine, "tls", "lok8s.local/keep/tls:1") == pushed
    node = engine.containers.get(out["nodes"][0])
    ca = node.exec_run(["cat", "/etc/containerd/certs.d/.ca/rootCA.pem"]).output
    assert ca == (Path(world.env["CAROOT"]) / "rootCA.pem").read_bytes()
    # This run's only: another test run on the same engine has registries of the same image.
    helpers = engine.containers.list(all=True, filters={
        "label": ["kindreg.managed=true", f"{Label.TEST_RUN.value}={ownership.RUN_ID}"],
        "ancestor": out["registries"][0]["image"]})
    assert not [c.name for c in helpers if not c.name.startswith(PREFIX)], "the writing containers are gone"


def test_a_second_preview_has_nothing_to_do(world):
    for stack in ("shared", "dev", "tls", "alt"):
        assert world.preview(stack).steps == [], stack


# ---------------------------------------------------------------- credentials

def test_secret_credentials_reach_the_mirror_and_nothing_else(world, engine):
    world.secret("shared", "kindreg:mirrorCredentials.io-docker.username", "robot")
    world.secret("shared", "kindreg:mirrorCredentials.io-docker.password", CANARY)
    preview = world.preview("shared")
    assert preview.changed() == {"replace": {"shared-io-docker-container"}}
    world.up("shared")
    env = engine.containers.get(f"{PREFIX}-registry-io-docker").attrs["Config"]["Env"]
    assert f"REGISTRY_PROXY_PASSWORD={CANARY}" in env  # its destination
    assert CANARY not in world.state_text("shared")
    assert CANARY not in (world.dir / "Pulumi.shared.yaml").read_text()
    assert CANARY not in "".join(world.logs)


def test_rotating_a_credential_replaces_that_mirror_only(world, engine):
    world.secret("shared", "kindreg:mirrorCredentials.io-docker.password", CANARY_2)
    assert world.preview("shared").changed() == {"replace": {"shared-io-docker-container"}}
    world.up("shared")
    env = engine.containers.get(f"{PREFIX}-registry-io-docker").attrs["Config"]["Env"]
    assert f"REGISTRY_PROXY_PASSWORD={CANARY_2}" in env
    state = world.state_text("shared")
    assert CANARY not in state and CANARY_2 not in state
    assert CANARY_2 not in "".join(world.logs)


# ---------------------------------------------------------------- a mirror's upstream

def test_a_new_upstream_replaces_the_mirror_and_keeps_its_cache(world, engine, configs, test_images, upstream,
                                                                tmp_path_factory):
    node = world.outputs("dev")["nodes"][0]
    code, out = node_pull(engine, node, IMAGE_1)  # fills the shared cache
    assert code == 0, out
    second = Upstream(engine, test_images[0], f"kreng-up2-{free_port()}", tmp_path_factory.mktemp("up2"))
    try:
        for tag, layers in TEST_LAYERS.items():
            second.push(TEST_REPO, tag, layers)
        changed = copy.deepcopy(configs["shared"])
        changed["kindreg:shared"]["mirrors"][0]["url"] = f"http://{NET}.200.1:{second.port}"
        world.write("shared", changed)
        preview = world.preview("shared")
        # The mirror and its front cache (whose config names the upstream); not the volume.
        assert preview.changed() == {"replace": {"shared-io-docker-container", "shared-io-docker-front-container"}}
        world.up("shared")
        # Both of the mirror's files name its upstream (the by-address one in its comment).
        assert world.preview("dev").changed() == {"update": {"dev-certs-docker.io", f"dev-certs-{NET}.200.2"}}
        world.up("dev")
        assert hosts_toml(world, "dev", "docker.io")["server"] == f"http://{NET}.200.1:{second.port}"
        check_tree(world, "dev")
        # What the mirror cached before is served after, with both upstreams gone.
        upstream.stop()
        second.stop()
        node_forget(engine, node, IMAGE_1)
        code, out = node_pull(engine, node, IMAGE_1)
        assert code == 0, out
    finally:
        upstream.start()
        second.remove()
        world.write("shared", configs["shared"])
        world.up("shared")
        world.up("dev")


# ---------------------------------------------------------------- tls on and off

def test_tls_on_replaces_the_project_registries_and_rewrites_their_files(world, engine, configs):
    build = world.outputs("dev")["registries"][0]
    pushed = push_to(engine, build["ip"], "keep/me", "1")
    on = copy.deepcopy(configs["dev"])
    on["kindreg:cluster"]["registries"]["tls"] = True
    world.write("dev", on)
    steps = world.preview("dev").changed()
    assert steps["replace"] == {"dev-build-container", "dev-cache-container"}
    assert steps["create"] == {"dev-tls", "dev-tls-mkcert", "dev-certs-ca"}
    assert steps["update"] == {"dev-certs-lok8s.local", "dev-certs-lok8s.cache", f"dev-certs-{NET}.125.101",
                               f"dev-certs-{NET}.125.102"}
    world.up("dev")
    check_tree(world, "dev")
    assert hosts_toml(world, "dev", "lok8s.local")["server"] == f"https://{NET}.125.101"
    assert pulled_from(world, engine, "dev", "lok8s.local/keep/me:1") == pushed  # the volume kept it


def test_tls_off_again(world, engine, configs):
    world.write("dev", configs["dev"])
    steps = world.preview("dev").changed()
    assert steps["replace"] == {"dev-build-container", "dev-cache-container"}
    assert steps["delete"] == {"dev-tls", "dev-tls-mkcert", "dev-certs-ca"}
    world.up("dev")
    check_tree(world, "dev")
    assert hosts_toml(world, "dev", "lok8s.local")["server"] == f"http://{NET}.125.101"
    assert pulled_from(world, engine, "dev", "lok8s.local/keep/me:1")


# ---------------------------------------------------------------- mirrors added, removed, reordered

def test_a_mirror_added(world, configs, test_images, upstream):
    more = shared_config(test_images[0], upstream.port, ("io-docker", "io-quay", "io-k8s"))
    world.write("shared", more)
    steps = world.preview("shared").changed()
    assert steps == {"create": {"shared-io-k8s", "shared-io-k8s-volume", "shared-io-k8s-container",
                                "shared-io-k8s-front", "shared-io-k8s-front-container"}}
    world.up("shared")
    assert world.preview("dev").changed() == {"create": {"dev-certs-registry.k8s.io", f"dev-certs-{NET}.200.4"}}
    world.up("dev")
    check_tree(world, "dev")


def test_mirrors_reordered_change_nothing(world, test_images, upstream):
    world.write("shared", shared_config(test_images[0], upstream.port, ("io-k8s", "io-quay", "io-docker")))
    assert world.preview("shared").steps == []
    world.up("shared")
    assert world.preview("dev").steps == []


def test_a_mirror_removed(world, engine, configs):
    world.write("shared", configs["shared"])
    steps = world.preview("shared").changed()
    assert steps["delete"] == {"shared-io-k8s", "shared-io-k8s-volume", "shared-io-k8s-container",
                               "shared-io-k8s-front", "shared-io-k8s-front-container"}
    world.up("shared")
    assert engine.volumes.get(f"{PREFIX}-registry-io-k8s-data")  # kept: deleteVolumes is false
    assert world.preview("dev").changed() == {"delete": {"dev-certs-registry.k8s.io", f"dev-certs-{NET}.200.4"}}
    world.up("dev")
    check_tree(world, "dev")


# ---------------------------------------------------------------- the registry image

def test_a_new_registry_image_replaces_containers_and_keeps_volumes(world, engine, configs, test_images):
    build = world.outputs("alt")["registries"][0]
    pushed = push_to(engine, build["ip"], "keep/alt", "1")
    other = retagged_variant(engine, test_images[0])
    changed = copy.deepcopy(configs["alt"])
    changed["kindreg:cluster"]["registries"]["image"] = other
    world.write("alt", changed)
    steps = world.preview("alt").changed()
    assert steps["replace"] == {"alt-image", "alt-build-container", "alt-cache-container", "alt-io-docker-container"}
    assert not any(s.type == VOLUME for s in world.preview("alt").steps)
    world.up("alt")
    assert pulled_from(world, engine, "alt", "lok8s.local/keep/alt:1") == pushed
    check_tree(world, "alt")


# ---------------------------------------------------------------- nodes, engine address, subnet

def test_a_changed_node_count_recreates_the_cluster_on_both_networks(world, engine, configs):
    changed = copy.deepcopy(configs["dev"])
    changed["kindreg:cluster"]["nodes"]["workers"] = 2
    world.write("dev", changed)
    steps = world.preview("dev").changed()
    assert steps["replace"] >= {"dev-kind"}
    world.up("dev")
    assert len(world.outputs("dev")["nodes"]) == 3
    check_nodes(engine, world, "dev")
    check_tree(world, "dev")
    world.write("dev", configs["dev"])
    world.up("dev")
    check_nodes(engine, world, "dev")


def test_a_changed_docker_host_keeps_everything(world, engine):
    world.set_plain("dev", "docker:host", "unix:///var/run/docker.sock")
    steps = world.preview("dev")
    assert not steps.of("replace") and not steps.of("create") and not steps.of("delete")
    world.up("dev")
    check_nodes(engine, world, "dev")
    check_tree(world, "dev")
    world.remove("dev", "docker:host")
    world.up("dev")


def test_a_new_project_subnet_moves_everything_and_keeps_the_caches(world, engine, configs, upstream):
    build = world.outputs("alt")["registries"][0]
    pushed = push_to(engine, build["ip"], "keep/subnet", "1")
    changed = copy.deepcopy(configs["alt"])
    changed["kindreg:cluster"]["network"]["cidr"] = f"{NET}.51.0/24"
    changed["kindreg:cluster"]["registries"]["mirrors"][0]["url"] = f"http://{NET}.51.1:{upstream.port}"
    world.write("alt", changed)
    steps = world.preview("alt")
    assert "alt-network" in steps.of("replace")
    assert not any(s.type == VOLUME for s in steps.steps)
    world.up("alt")
    assert world.outputs("alt")["registries"][0]["ip"] == f"{NET}.51.101"
    assert pulled_from(world, engine, "alt", "lok8s.local/keep/subnet:1") == pushed
    check_nodes(engine, world, "alt", shared=False)
    check_tree(world, "alt")


# ---------------------------------------------------------------- destroy

def test_the_shared_stack_refuses_destroy_while_projects_are_attached(world, engine):
    with pytest.raises(Exception) as err:
        world.destroy("shared")
    assert "not destroying the shared registries" in str(err.value)
    assert engine.containers.get(f"{PREFIX}-registry-io-docker").status == "running"


def test_destroy_removes_what_each_stack_owns_and_keeps_the_caches(world, engine):
    for stack in ("dev", "tls", "alt", "shared"):
        world.destroy(stack)
    left = [c.name for c in engine.containers.list(all=True) if c.name.startswith((PREFIX, "eng-"))]
    assert left == []
    assert engine.volumes.get(f"{PREFIX}-registry-io-docker-data")
    assert not any(n.name.startswith(PREFIX) for n in engine.networks.list())
    assert not engine.volumes.list(filters={"label": "kindreg.role=containerd-certs"}), "the tree volume goes with its stack"


# ---------------------------------------------------------------- helpers

def push_to(engine, registry_ip: str, repo: str, tag: str) -> str:
    """Copy the test upstream's image into a registry (by address); its manifest digest."""
    upstream_url = next(c for c in engine.containers.list() if c.labels.get("kindreg.test-double") == "upstream")
    port = upstream_url.attrs["Config"]["Env"]
    addr = next(e.split("=", 1)[1] for e in port if e.startswith("REGISTRY_HTTP_ADDR="))
    out = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                          f"docker://127.0.0.1:{addr.rsplit(':', 1)[1]}/{TEST_REPO}:1",
                          f"docker://{registry_ip}/{repo}:{tag}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    inspect = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{registry_ip}/{repo}:{tag}"],
                             capture_output=True, text=True, check=True)
    return json.loads(inspect.stdout)["Digest"]


def pulled_from(world: EngineProject, engine, stack: str, ref: str) -> str:
    """A node of the stack pulls `ref` through its certs.d tree; the digest it got."""
    node = world.outputs(stack)["nodes"][0]
    node_forget(engine, node, ref)
    code, out = node_pull(engine, node, ref)
    assert code == 0, out
    stdout, _ = engine.containers.get(node).exec_run(["ctr", "images", "ls"], demux=True).output
    rows = [line.split() for line in (stdout or b"").decode().splitlines()[1:]]
    return next(row[2] for row in rows if row and row[0] == ref)  # REF TYPE DIGEST ...


def retagged_variant(engine, image: str) -> str:
    """Another registry image (one more file), as a new `registries.image` would be."""
    base = engine.images.get(image)
    container = engine.containers.create(image, labels=ownership.labels())
    try:
        container.put_archive("/", _tar({"etc/kindreg-variant": b"2\n"}))
        tag = f"{image.split(':')[0]}:variant-{base.id[7:19]}"
        container.commit(repository=tag.split(":")[0], tag=tag.split(":")[1],
                         changes=['ENTRYPOINT ["registry", "serve", "/etc/distribution/config.yml"]'])
    finally:
        container.remove(force=True)
    return tag


def _tar(files: dict[str, bytes]) -> bytes:
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
