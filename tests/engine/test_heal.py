"""Drift seen and healed: each kind of thing kindreg creates, removed, stopped or changed by hand.

Under the real Pulumi engine with the plugin doubles and the kind double, a shared stack and a
project (both with TLS from a temporary mkcert CA) come up once and an image is pulled through
the mirror. Then, one round at a time, several things are broken together as a user's hand (or
a daemon restart) breaks them, and every round is held to the same account:

- `kindreg status` exits 1 and names each of them (so does `status --json`'s verdict, with the
  kind of drift and a remedy);
- `kindreg preview` names each of them and changes nothing;
- `kindreg up --yes` exits 0, and its checks are all `ok`;
- `kindreg status` exits 0 again, and the cached image is still served from the mirror's
  volume (a node pulls it again with no fetch from the upstream).

A round never breaks one thing twice, and never reads what another of its cases stops (a
stopped node's files cannot be read). The rounds run in file order on one machine: each starts
from the state the previous one healed.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from kindreg.core.expected import Thing
from kindreg.core.render import CONFIG_PATH
from kindreg.core.vocabulary import NODE_CA, NODE_CERTS_D
from kindreg.ops.lifecycle import SPARED
from tests.doubles import ownership
from tests.engine.conftest import EngineProject, engine_environment
from tests.engine.test_lifecycle import User
from tests.live import images
from tests.live.conftest import TEST_REPO, engine, node_forget, node_pull, test_images, upstream  # noqa: F401

pytestmark = pytest.mark.engine

NET, PREFIX = "10.217", "krhl"
MIRROR = f"{PREFIX}-registry-io-docker"
FRONT = f"{MIRROR}-front"
BUILD, CACHE = f"{PREFIX}-dev-registry-build", f"{PREFIX}-dev-registry-cache"
CONTROL_PLANE, WORKER = "hl-dev-control-plane", "hl-dev-worker"
PROJECT_NET, SHARED_NET = f"{PREFIX}-dev", f"{PREFIX}-registries"
IMAGE = f"docker.io/{TEST_REPO}:1"
HOSTS_TOML = f"{NODE_CERTS_D}/docker.io/hosts.toml"


def configs(registry_image: str, node_image: str, port: int) -> dict[str, dict]:
    return {
        "shared": {"kindreg:shared": {
            "network": {"name": SHARED_NET, "cidr": f"{NET}.200.0/24"}, "prefix": PREFIX, "tls": True,
            "image": registry_image, "frontCache": images.front_cache(),
            "mirrors": [{"name": "io-docker", "url": f"http://{NET}.200.1:{port}", "host": "docker.io"}]}},
        "dev": {"kindreg:cluster": {
            "name": "hl-dev", "network": {"name": PROJECT_NET, "cidr": f"{NET}.125.0/24"},
            "registries": {"image": registry_image, "tls": True, "shared": {"enabled": True}},
            "nodes": {"workers": 1, "image": node_image}}},
    }


@dataclass
class Heal:
    user: User
    client: object  # docker.DockerClient
    upstream: object
    caroot: Path
    volume: str  # the mirror's cache volume

    @property
    def tls_dir(self) -> Path:
        return self.user.project.dir / ".kindreg" / "dev" / "tls"

    def tree_file(self, inside: str) -> Path:
        """The nodes mount the project's certs.d tree from this host read-only: a hand edits it here."""
        return self.user.project.dir / ".kindreg" / "dev" / "certs.d" / inside.removeprefix(f"{NODE_CERTS_D}/")

    def append(self, inside: str) -> None:
        path = self.tree_file(inside)
        path.write_text(path.read_text() + "# edited by hand\n")

    def sh(self, container: str, script: str, **env: str) -> None:
        """A shell line in a container; values arrive in its environment, never in the script."""
        result = self.client.containers.get(container).exec_run(["sh", "-c", script], environment=env)
        assert result.exit_code == 0, result.output.decode(errors="replace")

    def docker(self, *args: str) -> None:
        out = subprocess.run(["docker", *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr

    def recreate_changed(self, name: str, image: str, extra_env: dict[str, str]) -> None:
        """What `docker rm -f` then `docker run` by hand makes: same name, labels, network and
        address (so it passes for kindreg's at a glance), another image or environment."""
        old = self.client.containers.get(name)
        attrs = old.attrs
        net, info = next(iter(attrs["NetworkSettings"]["Networks"].items()))
        old.remove(force=True)
        env = [*attrs["Config"]["Env"], *(f"{k}={v}" for k, v in extra_env.items())]
        same = image == attrs["Config"]["Image"]
        created = self.client.api.create_container(
            image, name=name, labels=attrs["Config"]["Labels"], environment=env,
            entrypoint=attrs["Config"]["Entrypoint"] if same else None, command=attrs["Config"]["Cmd"] if same else None,
            host_config=self.client.api.create_host_config(),
            networking_config=self.client.api.create_networking_config({
                net: self.client.api.create_endpoint_config(ipv4_address=info["IPAMConfig"]["IPv4Address"])}))
        self.client.api.start(created["Id"])


@dataclass(frozen=True)
class Case:
    id: str
    thing: Thing
    drift: str  # missing, stopped, changed
    name: str  # a part of the name the verdict gives the thing
    do: Callable[[Heal], None]


def _rm(name: str) -> Callable[[Heal], None]:
    return lambda h: h.client.containers.get(name).remove(force=True)


def _stop(name: str) -> Callable[[Heal], None]:
    return lambda h: h.client.containers.get(name).stop(timeout=5)


def _remove_project_network(h: Heal) -> None:
    """A user's `docker network rm` of the project network: it needs everything on it stopped."""
    for name in (BUILD, CACHE, CONTROL_PLANE, WORKER):
        h.client.containers.get(name).stop(timeout=5)
    h.client.networks.get(PROJECT_NET).remove()


def _remove_cache_volume(h: Heal) -> None:
    c = h.client.containers.get(CACHE)
    volume = next(m["Name"] for m in c.attrs["Mounts"] if m["Type"] == "volume")
    c.remove(force=True)
    h.client.volumes.get(volume).remove()


def _daemon_restart(h: Heal) -> None:
    """What a restart of the Docker daemon leaves when containers stay stopped: everything down."""
    for name in (FRONT, MIRROR, BUILD, CACHE, CONTROL_PLANE, WORKER):
        h.client.containers.get(name).stop(timeout=5)


HOSTING = "kube-public/local-registry-hosting"
EDITED_HOSTING = """apiVersion: v1
kind: ConfigMap
metadata: {name: local-registry-hosting, namespace: kube-public}
data:
  localRegistryHosting.v1: |
    host: "localhost:5999"
"""

ROUNDS: list[tuple[str, list[Case]]] = [
    ("removed-1", [
        Case("removed-mirror", Thing.MIRROR, "missing", MIRROR, _rm(MIRROR)),
        Case("removed-build", Thing.BUILD, "missing", BUILD, _rm(BUILD)),
        Case("removed-tls", Thing.TLS, "missing", "dev/tls", lambda h: (h.tls_dir / "cert.pem").unlink()),
        Case("removed-hosts-toml", Thing.NODE_FILE, "missing", f"{WORKER}:{HOSTS_TOML}",
             lambda h: h.tree_file(HOSTS_TOML).unlink()),
        Case("removed-configmap", Thing.CONFIGMAP, "missing", HOSTING,
             lambda h: h.sh(CONTROL_PLANE, "kubectl delete configmap local-registry-hosting -n kube-public")),
    ]),
    ("removed-2", [
        Case("removed-front", Thing.FRONT, "missing", FRONT, _rm(FRONT)),
        Case("removed-cache", Thing.CACHE, "missing", CACHE, _rm(CACHE)),
        Case("removed-node-ca", Thing.NODE_FILE, "missing", f"{CONTROL_PLANE}:{NODE_CA}",
             lambda h: h.tree_file(NODE_CA).unlink()),
        Case("removed-node-network", Thing.NODE_NETWORK, "missing", f"{WORKER} on {SHARED_NET}",
             lambda h: h.client.networks.get(SHARED_NET).disconnect(WORKER)),
    ]),
    ("removed-3", [
        Case("removed-node", Thing.NODE, "missing", WORKER, _rm(WORKER)),
        Case("removed-volume", Thing.VOLUME, "missing", f"{PREFIX}-dev", _remove_cache_volume),
        Case("stopped-mirror", Thing.MIRROR, "stopped", MIRROR, _stop(MIRROR)),
        Case("stopped-front", Thing.FRONT, "stopped", FRONT, _stop(FRONT)),
    ]),
    ("removed-network", [
        Case("removed-network", Thing.NETWORK, "missing", PROJECT_NET, _remove_project_network),
    ]),
    ("stopped-and-changed", [
        Case("stopped-build", Thing.BUILD, "stopped", BUILD, _stop(BUILD)),
        Case("stopped-cache", Thing.CACHE, "stopped", CACHE, _stop(CACHE)),
        Case("stopped-node", Thing.NODE, "stopped", WORKER, _stop(WORKER)),
        Case("changed-mirror-image", Thing.MIRROR, "changed", MIRROR,
             lambda h: h.recreate_changed(MIRROR, images.front_image(), {})),
        Case("changed-tls", Thing.TLS, "changed", "dev/tls",
             lambda h: (h.tls_dir / "cert.pem").write_text((h.caroot / "rootCA.pem").read_text())),
        Case("changed-hosts-toml", Thing.NODE_FILE, "changed", f"{CONTROL_PLANE}:{HOSTS_TOML}",
             lambda h: h.append(HOSTS_TOML)),
    ]),
    ("daemon-restart", [
        Case("daemon-restart", Thing.NODE, "stopped", CONTROL_PLANE, _daemon_restart),
    ]),
    ("changed", [
        Case("changed-cache-env", Thing.CACHE, "changed", CACHE,
             lambda h: h.recreate_changed(CACHE, h.client.containers.get(CACHE).attrs["Config"]["Image"],
                                          {"REGISTRY_STORAGE_DELETE_ENABLED": "false"})),
        Case("changed-mirror-config", Thing.MIRROR, "changed", MIRROR,
             lambda h: h.sh(MIRROR, 'echo "# edited" >> "$F"', F=CONFIG_PATH)),
        Case("changed-front-conf", Thing.FRONT, "changed", FRONT,
             lambda h: h.sh(FRONT, 'echo "# edited" >> "$F"', F="/etc/nginx/nginx.conf")),
        Case("changed-node-ca", Thing.NODE_FILE, "changed", f"{WORKER}:{NODE_CA}",
             lambda h: h.append(NODE_CA)),
        Case("changed-configmap", Thing.CONFIGMAP, "changed", HOSTING,
             lambda h: h.sh(CONTROL_PLANE, 'printf "%s" "$DOC" | kubectl apply -f -', DOC=EDITED_HOSTING)),
    ]),
]
CASES = [case for _, cases in ROUNDS for case in cases]


@pytest.fixture(scope="module")
def caroot(tmp_path_factory):
    root = tmp_path_factory.mktemp("caroot")
    scratch = tmp_path_factory.mktemp("scratch")
    subprocess.run(["mkcert", "-cert-file", str(scratch / "c.pem"), "-key-file", str(scratch / "k.pem"), "init"],
                   env={"CAROOT": str(root), "PATH": "/usr/bin:/bin"}, check=True, capture_output=True)
    return root


@pytest.fixture(scope="module")
def heal(engine, test_images, upstream, caroot, tmp_path_factory, pulumi_cli):
    project = EngineProject(tmp_path_factory.mktemp("heal"), engine_environment(test_images, {"CAROOT": str(caroot)}))
    for stack, config in configs(*test_images, upstream.port).items():
        project.write(stack, config)
    user = User(project, tmp_path_factory.mktemp("config-home"))
    try:
        out = user.run("up", "--stack", "dev", "--yes")
        assert out.returncode == 0, out.stdout + out.stderr
        code, pulled = node_pull(engine, CONTROL_PLANE, IMAGE)
        assert code == 0, pulled
        mirror = engine.containers.get(MIRROR)
        volume = next(m["Name"] for m in mirror.attrs["Mounts"] if m["Type"] == "volume")
        yield Heal(user, engine, upstream, caroot, volume)
    finally:
        for stack in ("dev", "shared"):
            user.run("down", "--stack", stack, "--yes")
        ownership.sweep(engine)


def problems(out: subprocess.CompletedProcess) -> list[dict]:
    verdict = json.loads(out.stdout)["verdict"]
    return [p for s in verdict["stacks"].values() for p in s["problems"]]


@pytest.mark.parametrize("cases", [cases for _, cases in ROUNDS], ids=[name for name, _ in ROUNDS])
def test_drift_is_seen_and_healed_keeping_the_cache(heal, cases):
    user = heal.user
    for case in cases:
        case.do(heal)

    status = user.run("status")
    assert status.returncode == 1, status.stdout + status.stderr
    verdict = user.run("status", "--json")
    assert verdict.returncode == 1, verdict.stdout
    found = problems(verdict)
    preview = user.run("preview", "--stack", "dev")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "differ from the plan" in preview.stdout, preview.stdout
    for case in cases:
        assert f"{case.thing} " in status.stdout and case.name in status.stdout, (case.id, status.stdout)
        assert any(p["thing"] == case.thing and p["drift"] == case.drift and case.name in p["name"] and p["remedy"]
                   for p in found), (case.id, [(p["thing"], p["name"], p["drift"]) for p in found])
        assert case.name in preview.stdout, (case.id, preview.stdout)

    up = user.run("up", "--stack", "dev", "--yes")
    assert up.returncode == 0, up.stdout + up.stderr
    checks = [line for line in up.stdout.splitlines() if line.startswith(("  ok  ", "  FAIL"))]
    assert checks and all(line.startswith("  ok  ") for line in checks), up.stdout
    assert "stack dev is up" in up.stdout
    # Each round breaks a thing of dev, or of shared whose healing rewrites the state dev reads.
    assert f"stack dev {SPARED}" not in up.stdout, up.stdout

    again = user.run("up", "--stack", "dev", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"stack dev {SPARED}" in again.stdout and f"stack shared {SPARED}" in again.stdout, again.stdout

    after = user.run("status")
    assert after.returncode == 0, after.stdout
    assert "Verdict: stack dev is up as planned" in after.stdout
    assert "Verdict: stack shared is up as planned" in after.stdout
    _cache_is_kept(heal)


def _cache_is_kept(heal: Heal) -> None:
    """The mirror's volume still holds the image, and serves it without the upstream. (Not the
    volume's CreatedAt: Docker's local driver reports its directory's time, which moves.)"""
    held = heal.client.containers.get(MIRROR).exec_run(
        ["ls", f"/var/lib/registry/docker/registry/v2/repositories/{TEST_REPO}/_manifests/tags"])
    assert held.exit_code == 0 and "1" in held.output.decode().split(), held.output
    node_forget(heal.client, WORKER, IMAGE)
    before = heal.upstream.blob_fetches()
    code, out = node_pull(heal.client, WORKER, IMAGE)
    assert code == 0, out
    assert heal.upstream.blob_fetches() == before, "the image must come from the mirror's cache"


def test_containers_started_again_by_a_daemon_restart_are_up_as_planned(heal):
    """A daemon restart that starts every container again (restart policy, Docker Desktop)
    leaves nothing to heal: `status` says so and the cache serves as before."""
    for name in (FRONT, MIRROR, BUILD, CACHE, CONTROL_PLANE, WORKER):
        heal.client.containers.get(name).restart(timeout=5)
    status = heal.user.run("status")
    assert status.returncode == 0, status.stdout
    assert "Verdict: stack dev is up as planned" in status.stdout
    _cache_is_kept(heal)


def test_doctor_names_what_is_missing_and_exits_1(heal):
    heal.client.containers.get(BUILD).remove(force=True)
    doctor = heal.user.run("doctor")
    assert doctor.returncode == 1
    assert f"build registry {BUILD}: missing" in doctor.stdout, doctor.stdout
    assert heal.user.run("up", "--stack", "dev", "--yes").returncode == 0
    doctor = heal.user.run("doctor")
    assert BUILD not in "\n".join(line for line in doctor.stdout.splitlines() if "FAIL" in line), doctor.stdout


def test_no_round_breaks_one_thing_twice():
    for name, cases in ROUNDS:
        things = [(c.thing, c.name) for c in cases]
        assert len(things) == len(set(things)), name


def test_the_cases_cover_every_kind_of_thing():
    """Every thing kindreg creates has a removed and a changed case; every container and node
    a stopped one (a stopped network, volume, file or ConfigMap does not exist)."""
    by = {(c.thing, c.drift) for c in CASES}
    for thing in Thing:
        assert (thing, "missing") in by, thing
    for thing in (Thing.MIRROR, Thing.FRONT, Thing.BUILD, Thing.CACHE, Thing.NODE):
        assert (thing, "stopped") in by, thing
    for thing in (Thing.MIRROR, Thing.FRONT, Thing.CACHE, Thing.TLS, Thing.NODE_FILE, Thing.CONFIGMAP):
        assert (thing, "changed") in by, thing
