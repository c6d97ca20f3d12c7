"""Suite-wide hooks: the live scenarios' times are printed at the end of every run."""
from __future__ import annotations

_LIVE_TIMES: list[tuple[str, float, str]] = []


def pytest_runtest_logreport(report):
    if report.when == "call" and "live" in report.keywords:
        _LIVE_TIMES.append((report.nodeid, report.duration, report.outcome))


def pytest_terminal_summary(terminalreporter):
    if not _LIVE_TIMES:
        return
    terminalreporter.section("live scenarios (real Docker engine, provider double)")
    for nodeid, seconds, outcome in _LIVE_TIMES:
        terminalreporter.write_line(f"{seconds:7.1f}s  {outcome:<7} {nodeid}")
    terminalreporter.write_line(f"{sum(t for _, t, _ in _LIVE_TIMES):7.1f}s  in all "
                                "(module set-up, the stacks' up, is counted in the first test of each module)")
