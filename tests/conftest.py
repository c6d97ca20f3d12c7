"""Suite-wide hooks: the live scenarios' times are printed at the end of every run."""
from __future__ import annotations

import os

from tests.doubles import ownership

# Child processes (the kind double, provider plugins, Command scripts) label what they create
# with the same run id.
os.environ.setdefault("KINDREG_TEST_RUN", ownership.RUN_ID)

_LIVE_TIMES: list[tuple[str, float, str]] = []
_SETUP: dict[str, float] = {}


def pytest_runtest_logreport(report):
    if "live" not in report.keywords:
        return
    if report.when == "setup":
        _SETUP[report.nodeid] = report.duration  # module fixtures: the stacks' up
    elif report.when == "call":
        _LIVE_TIMES.append((report.nodeid, _SETUP.pop(report.nodeid, 0.0) + report.duration, report.outcome))


def pytest_terminal_summary(terminalreporter):
    if not _LIVE_TIMES:
        return
    terminalreporter.section("live scenarios (real Docker engine, provider double)")
    for nodeid, seconds, outcome in _LIVE_TIMES:
        terminalreporter.write_line(f"{seconds:7.1f}s  {outcome:<7} {nodeid}")
    terminalreporter.write_line(f"{sum(t for _, t, _ in _LIVE_TIMES):7.1f}s  in all (set-up included: "
                                "the first test of a module brings its stacks up)")


def _hypothesis_profiles() -> None:
    """Under CI the property tests run the same examples every time (a failure reproduces);
    elsewhere they explore new ones each run."""
    from hypothesis import settings
    settings.register_profile("ci", derandomize=True, database=None)
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        settings.load_profile("ci")


_hypothesis_profiles()
