"""Shared test helpers: where the testdata lives, golden files, and loading stacks."""
from __future__ import annotations

import os
from pathlib import Path

from kindreg.ops import project

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = ROOT / "tests" / "testdata"
PROJECT = TESTDATA / "project"
PROJECT_FILE = TESTDATA / "project-file"  # the dev project again, from a lok8s file
INVALID = TESTDATA / "invalid"
GOLDEN = TESTDATA / "golden"


def plan_of(stack: str, project_dir: Path = PROJECT):
    return project.plan(project_dir, stack)


def check_golden(name: str, actual: str) -> None:
    """Compare with tests/testdata/golden/<name>; UPDATE_GOLDEN=1 rewrites it (review the diff)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
    assert path.exists(), f"golden file {path} missing; run with UPDATE_GOLDEN=1 and review it"
    assert actual == path.read_text(), f"{name} differs from its golden file"
