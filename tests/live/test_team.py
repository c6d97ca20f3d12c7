"""The team tier: a team mirror stack storing on S3 (SeaweedFS, built from its Go module), behind
TLS (a local mkcert CA) and basic auth, published on a host address; two "machines" (two shared
stacks on their own networks, as two laptops have) chained to it through `via`, each with a
project whose node pulls through its machine's mirror.

The upstream is tests/hub.py (Docker Hub's token and CDN dance, its CDN slowed so a pull takes
seconds): its per-blob byte count is what the whole team cost the upstream.
"""
from __future__ import annotations

import base64
import hashlib
import json
import random
import shutil
import ssl
import threading
import time
import urllib.error
import urllib.request

import pytest

from kindreg.adapters.engine import DockerCli
from kindreg.core import htpasswd, load
from kindreg.core.plan import plan_shared
from kindreg.core.render import MODE_FILE
from kindreg.ops import reconcile
from tests.hub import HubProcess
from tests.images import layer
from tests.live import images
from tests.live.conftest import free_port, live_machine, node_forget, node_pull
from tests.live.seaweed import SeaweedS3, bridge_gateway, weed_binary
from tests.live.test_topology_tls import caroot  # noqa: F401 - the fixture: a fresh mkcert CA

pytestmark = pytest.mark.live
MiB = 1024 * 1024
NET = "10.224"
BUCKET = "kindreg-team"
USER, PASSWORD = "alice", "team-" + "".join(random.Random(7).choice("abcdefghjkmnpqrstuvwxyz") for _ in range(16))
SECRETS = ("kindreg:s3Credentials", "kindreg:authPasswords", "kindreg:mirrorCredentials")
# The team host's name, as laptops resolve it. The front cache checks a certificate by name only,
# so the team mirror is reached by one: here Docker's DNS stands in for the team's, the team
# registry joining each machine's network under this alias (what the team's DNS entry does).
TEAM_NAME = "kindreg-team.test"
TEAM_REGISTRY = "kindreg-team-registry-io-docker"
MACHINES = ("lap1", "lap2")


@pytest.fixture(scope="module")
def live(engine, test_images, tmp_path_factory, caroot):  # noqa: F811
    with live_machine(engine, test_images, tmp_path_factory.mktemp("team-project"),
                      {"CAROOT": str(caroot)}) as machine:
        yield machine


@pytest.fixture(scope="module")
def gateway(engine) -> str:
    return bridge_gateway(engine)


@pytest.fixture(scope="module")
def s3(gateway, tmp_path_factory):
    store = SeaweedS3(weed_binary(), gateway, tmp_path_factory.mktemp("seaweed"))
    store.start()
    store.create_bucket(BUCKET)
    yield store
    store.remove()


@pytest.fixture(scope="module")
def hub(tmp_path_factory, gateway):
    work = tmp_path_factory.mktemp("team-hub")
    ports = (free_port(), free_port())
    # The CDN on another host than the registry, as Docker Hub's is on another domain: a client
    # (containerd falling back to the upstream) then sends it no Authorization, which it refuses.
    proc = HubProcess(work / "root", work / "hub.log", "0.0.0.0", ports,
                      extra=("--token-ttl", "60", "--cdn-rate", str(8 * MiB),
                             "--cdn-origin", f"http://{gateway}:{ports[1]}"))
    yield proc
    proc.stop()


def team_config(live, hub, s3, gateway, port: int, *, name: str = "team", slot: int = 200,
                secret_key: str = "", endpoint: str = "", tls: bool = True) -> dict:
    registry_image, _ = live.images
    shared = {"network": {"name": f"kindreg-{name}-registries", "cidr": f"{NET}.{slot}.0/24"},
              "prefix": f"kindreg-{name}", "image": registry_image, "tls": tls, "frontCache": images.front_cache(),
              "publishMirrors": True, "publishAddress": gateway, "publishNames": [TEAM_NAME],
              "mirrors": [{"name": "io-docker", "url": f"http://{NET}.{slot}.1:{hub.port}", "host": "docker.io",
                           "hostPort": port}],
              "storage": {"s3": {"bucket": BUCKET, "endpoint": endpoint or s3.endpoint}}}
    config = {"kindreg:shared": shared,
              "kindreg:s3Credentials": {"accessKey": s3.access_key, "secretKey": secret_key or s3.secret_key}}
    if tls:
        shared["auth"] = {"users": [USER]}
        config["kindreg:authPasswords"] = {USER: PASSWORD}
    return config


def machine_configs(live, hub, index: int) -> dict:
    registry_image, node_image = live.images
    stack, slot = MACHINES[index], 201 + index
    shared = {"kindreg:shared": {
        "network": {"name": f"kindreg-{stack}-registries", "cidr": f"{NET}.{slot}.0/24"},
        "prefix": f"kindreg-{stack}", "image": registry_image, "frontCache": images.front_cache(),
        "mirrors": [{"name": "io-docker", "url": f"http://{NET}.{slot}.1:{hub.port}", "host": "docker.io",
                     "via": f"https://{TEAM_NAME}"}],
        "viaCa": "team-ca.pem"},
        "kindreg:mirrorCredentials": {"io-docker": {"username": USER, "password": PASSWORD}}}
    project = {"kindreg:cluster": {
        "name": f"team-dev{index + 1}", "network": {"name": f"kindreg-team-dev{index + 1}", "cidr": f"{NET}.{125 + index}.0/24"},
        "registries": {"image": registry_image, "frontCache": images.front_cache(), "shared": {"stack": stack}},
        "nodes": {"workers": 0, "image": node_image}}}
    return {stack: shared, f"dev{index + 1}": project}


@pytest.fixture(scope="module")
def world(live, hub, s3, gateway, caroot):  # noqa: F811
    team_port = free_port()
    shutil.copy(caroot / "rootCA.pem", live.workdir / "team-ca.pem")  # what a team hands its laptops
    out = {"team": live.up("team", team_config(live, hub, s3, gateway, team_port), secret_keys=SECRETS),
           "port": team_port}
    team = live.machine.client.containers.get(TEAM_REGISTRY)
    for i in range(len(MACHINES)):
        for stack, config in machine_configs(live, hub, i).items():
            out[stack] = live.up(stack, config, secret_keys=SECRETS)
            if stack in MACHINES:
                live.machine.client.networks.get(f"kindreg-{stack}-registries").connect(team, aliases=[TEAM_NAME])
    for stack in MACHINES:  # started before the team's name resolved there: cache-only until it does
        wait_mode(live.machine.client, f"kindreg-{stack}-registry-io-docker", "pull-through")
    return out


def wait_mode(client, container: str, mode: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while (seen := client.containers.get(container).exec_run(["cat", MODE_FILE]).output.decode().strip()) != mode:
        assert time.time() < deadline, f"{container} serves in {seen} mode, not {mode}"
        time.sleep(0.5)


def team_url(gateway: str, world: dict) -> str:
    return f"https://{gateway}:{world['port']}"


def storage_checks(live, stack: str, config: dict) -> list:
    shared = {"kindreg:shared": config["kindreg:shared"]}  # what `up` plans from: no secret in it
    loaded = load.config_map(shared, stack, f"stack {stack}", live.workdir, lambda p: p.read_text())
    plan = plan_shared(loaded.config, stack, loaded.source)
    machine = reconcile.Machine(engine=DockerCli(), project_dir=live.workdir)
    return reconcile.storage_checks(machine, plan)


def status_of(url: str, context, auth: str = "") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"} if auth else {})
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as answer:
            return answer.status, answer.headers.get("WWW-Authenticate", "")
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("WWW-Authenticate", "")


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_team_mirror_serves_tls_and_lets_in_its_users_only(live, world, gateway, caroot):  # noqa: F811
    context = ssl.create_default_context(cafile=str(caroot / "rootCA.pem"))
    url = f"{team_url(gateway, world)}/v2/"
    code, challenge = status_of(url, context)
    assert code == 401 and challenge.startswith("Basic realm="), (code, challenge)
    assert status_of(url, context, basic(USER, PASSWORD))[0] == 200
    assert status_of(url, context, basic(USER, PASSWORD + "x"))[0] == 401
    # The hash reaches the container, the password nowhere in it.
    container = live.machine.client.containers.get(TEAM_REGISTRY)
    text = container.exec_run(["cat", "/etc/kindreg/registry/htpasswd"]).output.decode()
    assert text.startswith(f"{USER}:$2b$") and htpasswd.matches(text, USER, PASSWORD)
    assert PASSWORD not in text and PASSWORD not in json.dumps(container.attrs)


def test_the_team_mirror_reaches_its_bucket(live, world, hub, s3, gateway):
    checks = storage_checks(live, "team", team_config(live, hub, s3, gateway, world["port"]))
    assert [c.ok for c in checks] == [True], [c.render() for c in checks]
    assert f"s3://{BUCKET}/kindreg/io-docker" in checks[0].text


def test_a_cold_image_pulled_on_two_machines_costs_the_upstream_one_copy(live, world, hub, s3):
    client = live.machine.client
    layers = [{"payload.bin": random.Random(11).randbytes(8 * MiB)}]
    hub.content.push("library/teamcold", "1", layers)
    digest, size = _layer_digest(layers)
    for i in range(len(MACHINES)):
        node = world[f"dev{i + 1}"]["nodes"][0]
        code, out = node_pull(client, node, "docker.io/library/teamcold:1")
        assert code == 0, out
    stats = hub.stats()
    copies = stats["cdn_by_blob"].get(digest, 0) / size
    assert copies == 1.0, f"the team cost the upstream {copies:.2f} copies of the layer"
    key = f"kindreg/io-docker/docker/registry/v2/blobs/sha256/{digest[:2]}/{digest}/data"
    deadline = time.time() + 30  # the registry fills its store after the client has its bytes
    while key not in s3.objects(BUCKET):
        assert time.time() < deadline, f"the team mirror's copy is not in the bucket: {s3.objects(BUCKET)}"
        time.sleep(0.5)
    for stack in MACHINES:  # each machine keeps its own copy too
        local = client.containers.get(f"kindreg-{stack}-registry-io-docker")
        assert local.exec_run(["test", "-f", f"/var/lib/registry/docker/registry/v2/blobs/sha256/"
                                             f"{digest[:2]}/{digest}/data"]).exit_code == 0, stack


def test_nodes_get_the_image_from_the_upstream_when_the_team_mirror_dies_mid_pull(live, world, hub):
    client = live.machine.client
    layers = [{"payload.bin": random.Random(12).randbytes(32 * MiB)}]  # four seconds at the CDN's rate
    hub.content.push("library/teamkilled", "1", layers)
    digest, size = _layer_digest(layers)
    team = [client.containers.get(n) for n in (TEAM_REGISTRY, f"{TEAM_REGISTRY}-front")]
    result: dict = {}
    node = world["dev1"]["nodes"][0]
    puller = threading.Thread(target=lambda: result.update(
        pull=node_pull(client, node, "docker.io/library/teamkilled:1")))
    puller.start()
    try:
        deadline = time.time() + 30
        while hub.stats()["cdn_by_blob"].get(digest, 0) < 4 * MiB:  # the team's fill is under way
            assert time.time() < deadline and puller.is_alive(), "the team mirror never started fetching"
            time.sleep(0.05)
        for c in team:
            c.kill()
        puller.join(120)
    finally:
        for c in team:
            c.start()
    code, out = result["pull"]
    assert code == 0, f"the node did not get the image with the team mirror gone: {out[-600:]} {hub.stats()}"
    # The team's fill broke off, and the node fetched the whole layer from the upstream itself.
    assert hub.stats()["cdn_by_blob"][digest] >= size + 4 * MiB
    node_forget(client, node, "docker.io/library/teamkilled:1")


def test_wrong_s3_keys_are_named_with_the_bucket_and_the_mirror_does_not_crash_loop(live, hub, s3, gateway):
    config = team_config(live, hub, s3, gateway, free_port(), name="teambad", slot=210,
                         secret_key="not-the-key", tls=False)
    live.up("teambad", config, secret_keys=SECRETS)
    try:
        checks = storage_checks(live, "teambad", config)
        assert len(checks) == 1 and not checks[0].ok
        assert f"bucket {BUCKET} at {s3.endpoint} refuses the keys" in checks[0].text, checks[0].render()
        assert "kindreg:s3Credentials" in checks[0].fix and s3.secret_key not in checks[0].render()
        container = live.machine.client.containers.get("kindreg-teambad-registry-io-docker")
        state = container.attrs["State"]
        assert state["Running"] and not state["Restarting"] and container.attrs["RestartCount"] == 0, state
    finally:
        live.machine.destroy("teambad")


def test_a_bucket_unreachable_at_start_is_named_and_the_mirror_recovers_when_it_answers(live, hub, s3, gateway,
                                                                                        tmp_path_factory):
    late = SeaweedS3(s3.binary, gateway, tmp_path_factory.mktemp("seaweed-late"),
                     access_key=s3.access_key, secret_key=s3.secret_key)
    late.ports = {name: free_port() for name in ("master", "volume", "filer", "s3", "master.grpc", "volume.grpc",
                                                  "filer.grpc", "s3.grpc")}
    config = team_config(live, hub, late, gateway, free_port(), name="teamlate", slot=211, tls=False)
    live.up("teamlate", config, secret_keys=SECRETS)
    try:
        checks = storage_checks(live, "teamlate", config)
        assert not checks[0].ok and f"bucket {BUCKET} at {late.endpoint} does not answer" in checks[0].text, \
            checks[0].render()
        late.start()
        late.create_bucket(BUCKET)
        deadline = time.time() + 30
        while not (checks := storage_checks(live, "teamlate", config))[0].ok:
            assert time.time() < deadline, checks[0].render()
            time.sleep(1)
    finally:
        live.machine.destroy("teamlate")
        late.remove()


def _layer_digest(layers: list[dict]) -> tuple[str, int]:
    data = layer(layers[0])[0]
    return hashlib.sha256(data).hexdigest(), len(data)
