"""`validate` over a directory: stacks that would fight over one machine are exit 2, naming
both stacks and the field to change."""
from __future__ import annotations

import contextlib
import io

import pytest
import yaml

from kindreg import cli

SHARED = {"kindreg:shared": {}}


def project(**cluster) -> dict:
    return {"kindreg:cluster": {"nodes": {"enabled": False}, **cluster}}


def validate(tmp_path, stacks: dict) -> tuple[int, str]:
    for name, config in stacks.items():
        (tmp_path / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["validate", "--project-dir", str(tmp_path)])
    return code, err.getvalue()


@pytest.mark.parametrize("stacks, says", [
    # The opt-out of the README applied to a project whose network is named lok8s: its own
    # mirrors get exactly the shared stack's container and volume names.
    ({"shared": SHARED, "dev": project(network={"name": "lok8s", "cidr": "10.125.125.0/24"},
                                       registries={"shared": {"enabled": False}})},
     ["stack shared: container lok8s-registry-io-docker is also stack dev's",
      "volume lok8s-registry-io-docker-data is also stack dev's"]),
    # Two projects on one slot.
    ({"shared": SHARED, "a": project(network={"cidr": "10.125.60.0/24"}),
      "b": project(network={"cidr": "10.125.60.0/24"})},
     ["stack b: subnet 10.125.60.0/24 overlaps stack a's 10.125.60.0/24",
      "change network.cidr in Pulumi.b.yaml (or network.cidr in Pulumi.a.yaml)"]),
    # One container name prefix.
    ({"shared": SHARED, "a": project(network={"cidr": "10.125.60.0/24"}, registries={"prefix": "team"}),
      "b": project(network={"cidr": "10.125.61.0/24"}, registries={"prefix": "team"})},
     ["stack b: container team-registry-build is also stack a's",
      "change registries.prefix (or network.name) in Pulumi.b.yaml"]),
    # One project name: one kind cluster, one network name.
    ({"shared": SHARED, "a": {"kindreg:cluster": {"name": "web", "network": {"cidr": "10.125.60.0/24"}}},
      "b": {"kindreg:cluster": {"name": "web", "network": {"cidr": "10.125.61.0/24"}}}},
     ["stack b: kind cluster web is also stack a's", "change name in Pulumi.b.yaml",
      "stack b: network web is also stack a's"]),
    # One host port.
    ({"shared": SHARED, "a": project(network={"cidr": "10.125.60.0/24"}, registries={"hostPort": 5050}),
      "b": project(network={"cidr": "10.125.61.0/24"}, registries={"hostPort": 5050})},
     ["stack b: host port 5050 is also stack a's", "change registries.hostPort in Pulumi.b.yaml"]),
])
def test_stacks_that_fight_over_the_machine_are_refused(tmp_path, stacks, says):
    code, err = validate(tmp_path, stacks)
    assert code == 2, err
    for s in says:
        assert s in err, err


def test_stacks_that_share_a_machine_properly_pass(tmp_path):
    code, err = validate(tmp_path, {"shared": SHARED, "a": project(network={"cidr": "10.125.60.0/24"}),
                                    "b": project(network={"cidr": "10.125.61.0/24"})})
    assert code == 0, err
