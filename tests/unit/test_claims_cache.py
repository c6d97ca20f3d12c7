"""The claims cache (kindreg.adapters.claims): checking a stack against the directory's other
stacks reads their files, and plans again each one whose plan read a file that changed, so a
conflict is never missed."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from kindreg.adapters import claims as claim_cache
from kindreg.core import crossstack
from kindreg.core.errors import ConfigError
from kindreg.ops import lifecycle, project
from tests.helpers import PROJECT, PROJECT_FILE


@pytest.fixture
def copy(tmp_path) -> Path:
    shutil.copytree(PROJECT, tmp_path / "p")
    return tmp_path / "p"


def fresh(project_dir: Path, names: list[str]) -> list[list]:
    out = []
    for n in names:
        try:
            out.append(crossstack.claims(project.plan(project_dir, n)))
        except ConfigError:
            out.append([])
    return out


def _edit(path: Path, change) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc["config"])
    path.write_text(yaml.safe_dump(doc))


def test_cached_claims_are_the_planned_ones(copy):
    names = project.names(copy)
    assert project.claims_of(copy, names) == fresh(copy, names)
    assert (copy / claim_cache.CACHE).exists()
    assert project.claims_of(copy, names) == fresh(copy, names)


def test_a_clash_written_after_the_cache_was_filled_is_refused(copy):
    lifecycle.target(copy, "dev")  # fills the cache with qa's claims
    _edit(copy / "Pulumi.qa.yaml", lambda c: c["kindreg:cluster"]["network"].update(cidr="10.125.125.0/24"))
    with pytest.raises(ConfigError) as err:
        lifecycle.target(copy, "dev")
    assert "overlaps stack qa" in err.value.render() or "stack qa" in err.value.render()


def test_a_change_to_the_shared_stack_file_a_project_reads_plans_it_again(copy):
    names = ["qa"]
    project.claims_of(copy, names)
    _edit(copy / "Pulumi.shared.yaml", lambda c: c["kindreg:shared"].update(prefix="other"))
    assert project.claims_of(copy, names) == fresh(copy, names)


def test_a_lok8s_file_the_plan_read_counts(tmp_path):
    shutil.copytree(PROJECT_FILE, tmp_path / "p")
    d = tmp_path / "p"
    project.claims_of(d, ["dev"])
    lok8s = d / "clusters" / "dev.lok8s.yaml"
    doc = yaml.safe_load(lok8s.read_text())
    doc["metadata"]["name"] = "renamed"
    lok8s.write_text(yaml.safe_dump(doc))
    assert project.claims_of(d, ["dev"]) == fresh(d, ["dev"])
    assert any(c.value == "renamed" for c in project.claims_of(d, ["dev"])[0])


def test_a_missing_file_that_appears_plans_again(copy):
    (copy / "Pulumi.shared.yaml").rename(copy / "aside.yaml")
    assert project.claims_of(copy, ["qa"]) == [[]]  # qa does not plan without its shared stack
    (copy / "aside.yaml").rename(copy / "Pulumi.shared.yaml")
    assert project.claims_of(copy, ["qa"]) == fresh(copy, ["qa"]) != [[]]


@pytest.mark.parametrize("damage", ["{not json", json.dumps({"version": 99, "stacks": {}}),
                                    json.dumps({"version": claim_cache.VERSION, "code": "other", "stacks": {
                                        "qa": {"inputs": {}, "claims": []}}})])
def test_a_damaged_or_foreign_cache_is_no_cache(copy, damage):
    (copy / claim_cache.CACHE).parent.mkdir(parents=True, exist_ok=True)
    (copy / claim_cache.CACHE).write_text(damage)
    assert project.claims_of(copy, ["qa"]) == fresh(copy, ["qa"]) != [[]]


def test_a_cache_that_lies_about_its_inputs_is_not_believed(copy):
    project.claims_of(copy, ["qa"])
    doc = json.loads((copy / claim_cache.CACHE).read_text())
    doc["stacks"]["qa"]["inputs"]["Pulumi.qa.yaml"] = "0" * 64  # not the file's digest
    doc["stacks"]["qa"]["claims"] = []
    (copy / claim_cache.CACHE).write_text(json.dumps(doc))
    assert project.claims_of(copy, ["qa"]) == fresh(copy, ["qa"]) != [[]]


def test_cached_claims_are_used_while_the_inputs_hold(copy):
    """The other half: with its inputs unchanged, the entry is what is returned (not a plan)."""
    project.claims_of(copy, ["qa"])
    doc = json.loads((copy / claim_cache.CACHE).read_text())
    doc["stacks"]["qa"]["claims"] = [{"kind": "network", "value": "marker", "stack": "qa", "field": "network.name"}]
    (copy / claim_cache.CACHE).write_text(json.dumps(doc))
    assert [c.value for c in project.claims_of(copy, ["qa"])[0]] == ["marker"]
