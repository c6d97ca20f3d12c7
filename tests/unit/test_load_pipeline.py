"""Loading is one straight pipeline: read -> translate -> validate -> plan, each stage once per
stack, in that order, never back to an earlier one."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kindreg.core import load, lok8s, plan as planning, stacks
from kindreg.core.errors import ConfigError

LOK8S_FILE = {"apiVersion": lok8s.API_VERSION, "kind": lok8s.KIND, "metadata": {"name": "dev"},
              "spec": {"cluster": {"domain": "50.lok8s.dev"}, "registries": {"tls": False}}}


def project(tmp_path: Path, shared_mirrors: list) -> Path:
    (tmp_path / "Pulumi.shared.yaml").write_text(yaml.safe_dump({"config": {"kindreg:shared": {"mirrors": shared_mirrors}}}))
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": {"kindreg:clusterFile": "cluster.lok8s.yaml"}}))
    (tmp_path / "cluster.lok8s.yaml").write_text(yaml.safe_dump(LOK8S_FILE))
    return tmp_path


@pytest.fixture
def stages(monkeypatch) -> list[tuple[str, str]]:
    """Every stage's call, as (stage, stack), in order."""
    seen: list[tuple[str, str]] = []

    def spy(owner, name: str, stage: str, stack_of):
        real = getattr(owner, name)

        def call(*args, **kw):
            seen.append((stage, stack_of(*args, **kw)))
            return real(*args, **kw)
        monkeypatch.setattr(owner, name, call)

    spy(load, "read_stack", "read", lambda _dir, name, _read: name)
    spy(load, "translate", "translate", lambda doc: doc.stack)
    spy(lok8s, "translate", "translate lok8s", lambda doc: doc["metadata"]["name"])
    spy(load, "validated", "validate", lambda t: t.document.stack)
    spy(stacks, "plan_project", "plan", lambda cfg, stack, *a: stack)
    spy(stacks, "plan_shared", "plan", lambda cfg, stack, *a: stack)
    return seen


def test_a_project_in_shared_mode_runs_each_stage_once_per_stack_in_order(tmp_path, stages):
    root = project(tmp_path, ["docker.io", "${U}:${P}@ghcr.io"])
    plan = stacks.plan_loaded(load.stack(root, "dev", Path.read_text), root, Path.read_text)
    assert isinstance(plan, planning.ProjectPlan)
    assert stages == [("read", "dev"), ("translate", "dev"), ("translate lok8s", "dev"), ("validate", "dev"),
                      ("read", "shared"), ("translate", "shared"), ("validate", "shared"),
                      ("plan", "shared"), ("plan", "dev")]


def test_ksail_strings_are_mappings_before_validation_and_the_file_read_is_unchanged(tmp_path):
    doc = load.Document("shared", "test", load.Dialect.SHARED, {"mirrors": ["docker.io", {"name": "q", "url": "https://quay.io"}]})
    t = load.translate(doc)
    assert t.raw["mirrors"][0] == {"name": "io-docker", "url": "https://registry-1.docker.io", "host": "docker.io"}
    assert t.raw["mirrors"][1] == {"name": "q", "url": "https://quay.io"}
    assert doc.raw["mirrors"][0] == "docker.io"


def test_a_problem_of_a_stage_is_not_reported_again_by_a_later_one(tmp_path):
    bad = "robot:pw-secret@bad host"
    with pytest.raises(ConfigError) as err:
        load.shared_mapping({"mirrors": [bad, {"name": "x", "url": "not a url"}]}, "shared", "test")
    paths = [p.path for p in err.value.problems]
    assert paths.count("kindreg:shared.mirrors[0]") == 1, paths
    assert any(p.startswith("kindreg:shared.mirrors[1]") for p in paths), paths  # the next stage still ran
    assert "pw-secret" not in err.value.render()
