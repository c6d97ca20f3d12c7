"""`mirrors.maxSize` and `mirrors.inUseFor`: how they are written, checked, divided and rendered."""
from __future__ import annotations

import pytest
import yaml

from components import package_types
from kindreg.core import diskbound, frontcache, keeper, load, plan, render
from kindreg.core.errors import ConfigError

MIB = 1024 * 1024
UPSTREAMS = [{"name": "io-docker", "url": "https://registry-1.docker.io"}, {"name": "io-quay", "url": "https://quay.io"}]


def shared(mirrors) -> plan.SharedPlan:
    loaded = load.shared_mapping({"mirrors": mirrors}, "shared", "test", prefix="kindreg:shared")
    return plan.plan_shared(loaded.config, "shared", "test", "kindreg:shared")


def problems(mirrors) -> list[str]:
    with pytest.raises(ConfigError) as err:
        shared(mirrors)
    return [line.strip().removeprefix("- ") for line in str(err.value).splitlines()[1:]]


def by_name(p: plan.SharedPlan) -> dict:
    return {m.name: m for m in p.mirrors}


def test_a_stack_bound_is_divided_evenly_and_keeps_the_default_mirrors():
    p = shared({"maxSize": "1GiB"})
    assert len(p.mirrors) == 4 and {m.keep_bytes for m in p.mirrors} == {256 * MIB}
    assert {m.in_use_seconds for m in p.mirrors} == {60}


def test_a_mirror_of_its_own_gets_its_own_and_the_others_share_the_rest():
    own = [{**UPSTREAMS[0], "maxSize": "700MiB"}, UPSTREAMS[1]]
    m = by_name(shared({"maxSize": "1GiB", "inUseFor": "5m", "list": own}))
    assert (m["io-docker"].keep_bytes, m["io-quay"].keep_bytes) == (700 * MIB, 324 * MIB)
    assert m["io-docker"].in_use_seconds == 300


def test_an_unbounded_stack_changes_nothing():
    for mirror in shared(UPSTREAMS).mirrors:
        assert mirror.keep_bytes is None
        assert keeper.KEEP_BYTES_ENV not in "".join(render.container_env(mirror))
        assert yaml.safe_load(render.registry_config(mirror))["storage"]["cache"] == {"blobdescriptor": "inmemory"}
        assert frontcache.CACHE_DIR + " " in frontcache.nginx_conf(mirror)


def test_a_bounded_mirror_renders_its_keeper_its_reads_and_a_front_in_its_volume():
    mirror = by_name(shared({"maxSize": "160MiB", "inUseFor": "2s", "list": UPSTREAMS}))["io-docker"]
    assert f"{keeper.KEEP_BYTES_ENV}={80 * MIB}" in render.container_env(mirror)
    assert f"{keeper.IN_USE_ENV}=2" in render.container_env(mirror)
    for doc in (render.registry_config(mirror), render.registry_config(mirror, cache_only=True)):
        assert "cache" not in yaml.safe_load(doc)["storage"]  # a removed blob must be a miss
    conf = frontcache.nginx_conf(mirror)
    assert f"proxy_cache_path {frontcache.VOLUME_CACHE_DIR} " in conf
    assert f"max_size={80 * MIB // diskbound.FRONT_PART // 1024}k inactive=2s" in conf
    assert render.container_files(mirror)[render.KEEP_PLAN_PATH] == keeper.PLAN_AWK


@pytest.mark.parametrize("mirrors,expected", [
    ({"maxSize": "100MiB"}, ['kindreg:shared.mirrors.maxSize: "100MiB" leaves 25.0 MiB for each of the 4 mirrors']),
    ({"maxSize": "20 gigs"}, ['kindreg:shared.mirrors.maxSize: "20 gigs" is not a size; write it like "20GiB"']),
    ({"inUseFor": "soon"}, ['kindreg:shared.mirrors.inUseFor: "soon" is not a duration']),
    ({"maxsize": "1GiB"}, ["kindreg:shared.mirrors.maxsize: unknown field; `mirrors` as a mapping has maxSize, inUseFor, list"]),
    ({"maxSize": "100MiB", "list": [{**UPSTREAMS[0], "maxSize": "90MiB"}, {**UPSTREAMS[1], "maxSize": "20MiB"}]},
     ['kindreg:shared.mirrors.list[1].maxSize: "20MiB" is less than 32.0 MiB',
      'kindreg:shared.mirrors.maxSize: "100MiB" is less than the mirrors\' own maxSize together (110.0 MiB)']),
    ({"list": [{"name": "io-x", "url": "nope"}]}, ['kindreg:shared.mirrors.list[0].url: "nope" is not']),
])
def test_bad_bounds_name_the_field_the_value_and_the_fix(mirrors, expected):
    found = problems(mirrors)
    assert len(found) == len(expected), found
    for want, got in zip(expected, found):
        assert got.startswith(want), found


def test_the_package_takes_the_bound_under_joined_names():
    cfg = package_types.config_of({"mirrors_max_size": "1GiB", "mirrors_in_use_for": "30s"})
    assert cfg == {"mirrors.maxSize": "1GiB", "mirrors.inUseFor": "30s"}
    assert by_name(plan.plan_shared(load.shared_mapping(cfg, "m", "test").config, "m"))["io-docker"].keep_bytes == 256 * MIB


@pytest.mark.parametrize("keep,in_use,expected", [("30m", 60, "60s"), ("10s", 60, "10s"), ("1m", 60, "1m")])
def test_a_bounded_front_keeps_a_blob_only_while_it_is_in_use(keep, in_use, expected):
    assert diskbound.front_keep(keep, in_use) == expected
