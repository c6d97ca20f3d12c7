"""What a test needs from the machine: present, or skipped with the reason (failed under CI).

`tests/run` installs everything for CI, so on CI a missing tool is a broken set-up and must
fail the run rather than hide behind a skip.
"""
from __future__ import annotations

import os
import shutil

import pytest


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    if on_ci():
        pytest.fail(f"{reason} (CI installs this via tests/run: the set-up is broken)")
    pytest.skip(reason)


def need_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        unavailable(f"needs {', '.join(missing)} on PATH (Debian packages; `bash tests/run` installs them)")


def need_root(what: str) -> None:
    if os.geteuid() != 0:
        unavailable(f"needs root for {what}")
