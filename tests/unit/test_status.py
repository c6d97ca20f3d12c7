"""`status` against a fake engine: exact output for known machines."""
import json

import pytest

from kindreg import cli
from kindreg.ops import status
from kindreg.adapters.reach import HostRoutes
from kindreg.adapters.engine import EngineError
from tests.fake_engine import FakeEngine, node, registry
from tests.helpers import plan_of


def machine(mode="pull-through", repos="3"):
    shared, dev, alt = plan_of("shared"), plan_of("dev"), plan_of("alt")
    published = {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32768"}]}
    regs = [registry(r, ports=published if r is dev.build else None)
            for r in (*shared.mirrors, *dev.registries, *alt.registries[:3])]
    regs.append(registry(alt.registries[3], status="exited", health=None))
    nodes = [node("dev-control-plane", "dev", {"lok8s": "10.125.125.129", "lok8s-registries": "10.125.200.129"}),
             node("alt-control-plane", "alt", {"alt": "10.125.50.129"}),
             node("other-control-plane", "other", {"kind": "172.18.0.2"})]  # not kindreg's
    execs = {}
    for r in regs:
        name = r["Name"].lstrip("/")
        execs[(name, "find")] = (0, f"{repos}\n")
        execs[(name, "cat")] = (0, f"{mode}\n")
    return FakeEngine(regs + nodes, execs=execs)


EXPECTED = """\
Shared mirrors (network lok8s-registries, stack shared):
  CONTAINER                 ROLE    IP            PUBLISHED  STATE              MODE          UPSTREAM                      REPOS  CATALOG
  lok8s-registry-io-docker  mirror  10.125.200.2  -          running (healthy)  pull-through  https://registry-1.docker.io  3      http://10.125.200.2/v2/_catalog
  lok8s-registry-io-ghcr    mirror  10.125.200.5  -          running (healthy)  pull-through  https://ghcr.io               3      http://10.125.200.5/v2/_catalog
  lok8s-registry-io-k8s     mirror  10.125.200.4  -          running (healthy)  pull-through  https://registry.k8s.io       3      http://10.125.200.4/v2/_catalog
  lok8s-registry-io-quay    mirror  10.125.200.3  -          running (healthy)  pull-through  https://quay.io               3      http://10.125.200.3/v2/_catalog
Project registries, stack alt (network alt):
  CONTAINER               ROLE    IP             PUBLISHED  STATE              MODE          UPSTREAM                      REPOS  CATALOG
  alt-registry-build      build   10.125.50.101  -          running (healthy)  -             -                             3      http://10.125.50.101/v2/_catalog
  alt-registry-cache      cache   10.125.50.102  -          running (healthy)  -             -                             3      http://10.125.50.102/v2/_catalog
  alt-registry-io-docker  mirror  10.125.50.103  -          running (healthy)  pull-through  https://registry-1.docker.io  3      http://10.125.50.103/v2/_catalog
  alt-registry-io-quay    mirror  10.125.50.104  -          exited             -             https://quay.io               -      http://10.125.50.104/v2/_catalog
Project registries, stack dev (network lok8s):
  CONTAINER             ROLE   IP              PUBLISHED        STATE              MODE  UPSTREAM  REPOS  CATALOG
  lok8s-registry-build  build  10.125.125.101  127.0.0.1:32768  running (healthy)  -     -         3      http://10.125.125.101/v2/_catalog
  lok8s-registry-cache  cache  10.125.125.102  -                running (healthy)  -     -         3      http://10.125.125.102/v2/_catalog
Nodes of kind cluster alt:
  NODE               STATE    NETWORKS
  alt-control-plane  running  alt 10.125.50.129
Nodes of kind cluster dev:
  NODE               STATE    NETWORKS
  dev-control-plane  running  lok8s 10.125.125.129, lok8s-registries 10.125.200.129"""


def test_status_table_of_a_machine():
    assert status.render_table(status.collect(machine())) == EXPECTED


def test_a_mirror_serving_its_cache_only_says_so():
    text = status.render_table(status.collect(machine(mode="cache-only")))
    assert "lok8s-registry-io-docker  mirror  10.125.200.2  -          running (healthy)  cache-only" in text


def test_catalog_urls_show_https_in_tls_mode():
    qa = plan_of("qa")
    found = status.collect(FakeEngine([registry(qa.build)]))
    assert found.projects["qa"][0].catalog == "https://10.125.60.101/v2/_catalog"


def test_status_json_for_scripts():
    doc = status.collect(machine()).to_json()
    assert [r["container"] for r in doc["shared"]][0] == "lok8s-registry-io-docker"
    assert doc["shared"][0]["mode"] == "pull-through" and doc["shared"][0]["repositories"] == 3
    assert sorted(doc["projects"]) == ["alt", "dev"]
    assert doc["nodes"]["dev"][0]["networks"] == {"lok8s": "10.125.125.129", "lok8s-registries": "10.125.200.129"}
    assert "other" not in doc["nodes"]


def test_status_with_nothing_kindreg_on_the_engine():
    text = status.render_table(status.collect(FakeEngine([node("x-control-plane", "x", {"kind": "172.18.0.2"})])))
    assert text == ("no kindreg registries on this Docker engine "
                    "(create them with `pulumi up -s shared`, then a project stack)")


def test_unreachable_engine_is_a_clear_error_and_exit_1(monkeypatch, capsys):
    monkeypatch.setattr(cli, "ENGINE", lambda: FakeEngine(reachable=False))
    assert cli.main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("kindreg status: cannot reach the Docker engine (connection refused); "
                           "start Docker or check DOCKER_HOST")
    with pytest.raises(EngineError):
        status.collect(FakeEngine(reachable=False))


def test_status_cli_json(monkeypatch, capsys):
    monkeypatch.setattr(cli, "ENGINE", machine)
    assert cli.main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shared"][1]["container"] == "lok8s-registry-io-ghcr"


def test_status_shows_the_published_port_and_reaches_through_it_where_addresses_are_unreachable():
    dev = plan_of("dev")
    ports = {f"{dev.build.port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32780"}]}
    engine = FakeEngine([registry(dev.build, ports=ports), registry(dev.cache)])
    found = status.collect(engine, HostRoutes(engine.endpoint(), connect=lambda host, port: False))
    build, cache = found.projects["dev"]
    assert (build.published, build.catalog) == ("127.0.0.1:32780", "http://127.0.0.1:32780/v2/_catalog")
    assert (cache.published, cache.catalog) == (None, None)
    assert status.render_table(found).endswith(
        "lok8s-registry-cache  cache  10.125.125.102  -                running (healthy)  -     -         -      -")


def test_status_keeps_container_addresses_where_the_host_routes_to_them():
    dev = plan_of("dev")
    ports = {f"{dev.build.port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32780"}]}
    asked = []
    engine = FakeEngine([registry(dev.build, ports=ports), registry(dev.cache)])
    found = status.collect(engine, HostRoutes(engine.endpoint(), connect=lambda host, port: asked.append(host) or True))
    assert [r.catalog for r in found.projects["dev"]] == ["http://10.125.125.101/v2/_catalog",
                                                          "http://10.125.125.102/v2/_catalog"]
    assert asked == ["10.125.125.101"], "asked once per engine"


def debug_vars(requests, hits, misses, pulled, pushed, manifests=(0, 0, 0, 0, 0)) -> str:
    """A registry's /debug/vars as distribution 3 writes it (expvar; proxy counters per kind)."""
    def part(r, h, m, pl, ps):
        return {"Requests": r, "Hits": h, "Misses": m, "BytesPulled": pl, "BytesPushed": ps}
    return json.dumps({"cmdline": ["registry"], "registry": {"proxy": {
        "blobs": part(requests, hits, misses, pulled, pushed), "manifests": part(*manifests)}}})


def with_traffic(engine: FakeEngine, name: str, text: str, du: str = "52224\t/var/lib/registry\n") -> FakeEngine:
    engine.execs[(name, "wget")] = (0, text)
    engine.execs[(name, "du")] = (0, du)
    return engine


def test_status_shows_each_mirrors_traffic_from_its_own_counters():
    engine = with_traffic(machine(), "lok8s-registry-io-docker",
                          debug_vars(30, 27, 3, 3 * 8 * 1048576, 30 * 8 * 1048576, manifests=(6, 4, 2, 4000, 12000)))
    out = status.render_table(status.collect(engine))
    assert ("Mirror traffic since each registry started (FETCHED: from its front cache or upstream):\n"
            "  MIRROR     REQUESTS  HITS  MISSES  HIT RATE  FETCHED   SERVED     DISK      BOUND\n"
            "  io-docker  36        31    5       86%       24.0 MiB  240.0 MiB  51.0 MiB  -") in out
    doc = status.collect(engine).to_json()
    docker_io = next(r for r in doc["shared"] if r["name"] == "io-docker")
    assert docker_io["traffic"] == {"requests": 36, "hits": 31, "misses": 5, "fetched_bytes": 3 * 8 * 1048576 + 4000,
                                    "served_bytes": 30 * 8 * 1048576 + 12000, "disk_bytes": 52224 * 1024}
    assert next(r for r in doc["shared"] if r["name"] == "io-quay")["traffic"] is None  # no counters read


@pytest.mark.parametrize("text", ["", "not json", json.dumps({"registry": {}}), json.dumps({"memstats": {}})])
def test_a_registry_without_proxy_counters_has_no_traffic(text):
    from kindreg.core.traffic import parse_debug_vars
    assert parse_debug_vars(text) is None


def test_status_shows_a_bounded_mirrors_share_and_its_use_of_it():
    engine = with_traffic(machine(), "lok8s-registry-io-docker", debug_vars(3, 2, 1, 10, 20),
                          du=f"{40 * 1024}\t/var/lib/registry\n")
    docker_io = next(c for c in engine.containers() if c["Name"].lstrip("/") == "lok8s-registry-io-docker")
    docker_io["Config"]["Env"] = ["KINDREG_MIRROR=io-docker", f"KINDREG_KEEP_BYTES={80 * 1048576}"]
    found = status.collect(engine)
    out = status.render_table(found)
    assert "DISK      BOUND" in out and "40.0 MiB  80.0 MiB (50%)" in out, out
    doc = {r["name"]: r for r in found.to_json()["shared"]}
    assert doc["io-docker"]["bound_bytes"] == 80 * 1048576 and doc["io-docker"]["traffic"]["disk_bytes"] == 40 * 1048576
    assert doc["io-quay"]["bound_bytes"] is None
