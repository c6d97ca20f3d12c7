"""The README says what kindreg does: its commands, its examples and its two set-up commands
are checked against the code, so the guide cannot drift from the behaviour."""
import re
import subprocess
import sys

from kindreg import cli
from kindreg.core.describe import where
from kindreg.ops import project
from tests.helpers import ROOT, TESTDATA

README = (ROOT / "README.md").read_text()


def block_after(heading: str, opener: str = "```") -> list[str]:
    """The lines of the first code block after `heading`."""
    after = README.split(heading, 1)[1]
    body = after.split(opener, 1)[1].split("\n", 1)[1]
    return body.split("```", 1)[0].rstrip("\n").splitlines()


def quick_start() -> list[str]:
    return [line.split("#", 1)[0].strip() for line in block_after("## Quick start\n", "```sh")]


def test_the_set_up_is_two_commands_and_the_second_is_what_ci_runs():
    commands = quick_start()
    assert len(commands) == 2
    assert commands[0] == "bin/kindreg up --yes"
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == commands[1] == "bash tests/run"


def test_the_printed_locations_are_what_up_prints():
    shown = block_after("At the end it prints where everything is:")
    assert shown == where(project.plan(ROOT, "dev")).splitlines()


def test_the_validation_example_is_real_output():
    out = subprocess.run([sys.executable, "-m", "kindreg", "validate", "--stack", "broken", "--project-dir",
                          str(TESTDATA / "readme")], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    shown = block_after("**Validation** reports")[1:]
    actual = out.stderr.splitlines()
    assert len(shown) == len(actual)
    for line, real in zip(shown, actual):
        assert real.startswith(re.sub(r"[, ]*\.\.\.\)?$", "", line)), (line, real)


def test_every_command_is_in_the_table_and_every_row_is_a_command():
    table = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z]+)[ `]", table, re.M)
    assert sorted(set(rows)) == sorted(cli.COMMANDS) and len(rows) == len(set(rows)) + rows.count("cache") - 1, rows
    # `cache` has a row per action (save and restore share one).
    actions = re.findall(r"`cache ([a-z]+)\b", "\n".join(r for r in table.splitlines() if r.startswith("| `cache ")))
    assert sorted(set(actions)) == sorted(cli.CACHE_ACTIONS), actions


def test_the_readme_is_a_guide_a_user_reads():
    assert len(README.splitlines()) <= 250
    assert "python -m kindreg " not in README.replace("runs `python -m kindreg` in", "")
