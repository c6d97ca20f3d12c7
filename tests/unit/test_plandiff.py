"""`diff` of two plan documents: per stack, what is added, removed and changed."""
import copy
import json

import pytest

from kindreg import cli
from kindreg.core import document, plandiff
from tests.helpers import plan_of


def doc(stack):
    return document.plan_document(plan_of(stack))


def test_no_changes():
    changed, text = plandiff.diff(doc("dev"), doc("dev"))
    assert (changed, text) == (False, "stack dev:\n  no changes")


def test_registry_changes_are_named_field_by_field():
    old, new = doc("alt"), doc("alt")
    new["registries"][0]["image"] = "registry:3.0.1"
    new["registries"][2].update(upstream="https://mirror.gcr.io")
    removed = new["registries"].pop()
    new["mirrors"].pop()  # an own mirror is in both lists
    new["networks"][0]["subnet"] = "10.125.51.0/24"
    changed, text = plandiff.diff(old, new)
    assert changed
    assert text.splitlines() == [
        "stack alt:",
        "  ~ network alt: subnet 10.125.50.0/24 -> 10.125.51.0/24",
        "  ~ registry alt-registry-build: image registry:3 -> registry:3.0.1",
        "  ~ registry alt-registry-io-docker: upstream https://registry-1.docker.io -> https://mirror.gcr.io",
        f"  - registry {removed['container']}: mirror io-ghcr (ghcr.io <- https://ghcr.io) at http://10.125.50.106",
    ]


def test_all_stack_documents_and_stacks_added_or_removed():
    old = {"format": document.ALL_FORMAT, "stacks": {"dev": doc("dev"), "alt": doc("alt")}}
    new = {"format": document.ALL_FORMAT, "stacks": {"dev": doc("dev"), "qa": doc("qa")}}
    _, text = plandiff.diff(old, new)
    lines = text.splitlines()
    assert lines[0:2] == ["stack alt:", "  - stack removed (project)"]
    assert "stack dev:" in lines and "  no changes" in lines
    assert "  + stack added (project)" in lines
    assert "  + registry qa-registry-build: build at https://10.125.60.101" in lines


def test_a_project_sees_changes_to_the_shared_mirrors_it_uses():
    old, new = doc("dev"), copy.deepcopy(doc("dev"))
    new["mirrors"][0]["url"] = "https://10.125.200.2"
    new["mirrors"][0]["scheme"] = "https"
    _, text = plandiff.diff(old, new)
    assert ("  ~ uses mirror lok8s-registry-io-docker: url http://10.125.200.2 -> https://10.125.200.2, "
            "tls false -> true") in text


def test_not_a_plan_document():
    with pytest.raises(document.PlanDocumentError, match="OLD is not a kindreg plan"):
        plandiff.diff({"hello": 1}, doc("dev"))


def test_diff_cli(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(doc("dev")))
    changed = doc("dev")
    changed["registries"][1]["ip"] = "10.125.125.103"
    b.write_text(json.dumps(changed))
    assert cli.main(["diff", str(a), str(b)]) == 0
    assert "~ registry lok8s-registry-cache: ip 10.125.125.102 -> 10.125.125.103" in capsys.readouterr().out
    assert cli.main(["diff", "--exit-code", str(a), str(b)]) == 1
    assert cli.main(["diff", "--exit-code", str(a), str(a)]) == 0
    (tmp_path / "bad.json").write_text("{")
    assert cli.main(["diff", str(tmp_path / "bad.json"), str(a)]) == 2


@pytest.mark.parametrize("edit, says", [
    (lambda d: d.update(deleteVolumesOnDestroy=True),
     "~ stack deleteVolumesOnDestroy false -> true (destroy will delete the registries' caches)"),
    (lambda d: d["registries"][2].update(ttl="1h"), "ttl None -> 1h"),
    (lambda d: d["registries"][2].update(passwordFrom="docker-login"), "passwordFrom None -> docker-login"),
    (lambda d: d["registries"][2].update(username="robot"), "username None -> robot"),
    (lambda d: d["registries"][0].update(volume="other-data"), "volume alt-registry-build-data -> other-data"),
    (lambda d: d.update(tls=True), "~ stack tls false -> true"),
])
def test_diff_names_every_change_to_data_or_trust(edit, says):
    old, new = doc("alt"), copy.deepcopy(doc("alt"))
    edit(new)
    changed, text = plandiff.diff(old, new)
    assert changed and says in text, text
