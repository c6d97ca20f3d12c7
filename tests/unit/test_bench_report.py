"""The benchmark's own arithmetic: the phases of an up read from its timed output, the table."""
from bench import report
from bench.engine_ops import phases

LINES = [(0.0, "== stack shared: up"), (0.9, "Updating (shared):"),
         (2.0, " +  docker:index:Network shared-network created (0.50s)"),
         (2.5, " +  docker:index:Container shared-mirror created (1.25s)"),
         (3.0, " +  docker:index:Container shared-front created (0.75s)"),
         (4.0, "checks of stack shared:"), (4.6, "stack shared is up: ..."),
         (4.7, "== stack dev: up"), (5.0, "Updating (dev):"), (6.0, "checks of stack dev:"), (6.5, "stack dev is up: ...")]


def test_phases_of_an_up_from_its_timed_output():
    out = phases(LINES, 7.0)
    shared = out["stacks"]["shared"]
    assert shared["cliStartSeconds"] == 0.9
    assert shared["programAndPluginsSeconds"] == 1.1
    assert shared["stepsSecondsByType"] == {"docker:index:Container": 2.0, "docker:index:Network": 0.5}
    assert shared["engineWallSeconds"] == 3.1 and shared["checksSeconds"] == 0.6
    assert out["stacks"]["dev"]["stepsSecondsByType"] == {}
    assert out["totalSeconds"] == 7.0


def test_the_engine_table_shows_each_ratio():
    doc = {"machine": {}, "results": [
        {"measurement": "noop-up", "seconds": 1.5, "floorSeconds": 1.8, "ratioToFloor": 0.83, "floorWhat": "pulumi up"},
        {"measurement": "many-stacks", "secondsAlone": 1.5, "seconds10": 1.55, "seconds30": 1.6, "ratio10": 1.03,
         "ratio30": 1.07, "peakRssKiBAlone": 60000, "peakRssKiB10": 61000, "peakRssKiB30": 62000}]}
    text = report.render(doc)
    assert "noop-up" in text and "0.83" in text and "1.07" in text and "58 / 59 / 60 MiB" in text
