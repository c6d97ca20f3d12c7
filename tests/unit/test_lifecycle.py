"""`kindreg up / preview / down` against a recording double of the Pulumi engine: the order of the
stacks, what is left alone, what is refused before anything changes. The real engine runs the
same commands in tests/engine/test_lifecycle.py."""
import contextlib
from dataclasses import dataclass, field

import pytest

from kindreg import cli
from kindreg.adapters.pulumi import RunFailed
from kindreg.core.world import Recorded
from kindreg.ops import lifecycle, reconcile
from tests.fake_engine import FakeEngine, node
from tests.helpers import PROJECT


@dataclass
class Recorder:
    """Stacks whose preview reports `pending` changes; records every call."""

    pending: dict = field(default_factory=dict)  # stack -> {op: count}
    outputs_of: dict = field(default_factory=dict)
    up_stacks: set = field(default_factory=set)  # stacks whose state holds resources
    calls: list = field(default_factory=list)

    def preview(self, name, diff=False, quiet=False, replace=()):
        self.calls.append(("preview", name, diff, quiet))
        return self.pending.get(name, {"same": 3})

    def up(self, name, replace=(), targets=()):
        self.calls.append(("up", name))
        return {}

    def recorded(self, name):
        return Recorded(ids={"stack": name}) if name in self.up_stacks else Recorded()

    def locks(self, name):
        return []

    def torn_metadata(self, name):
        return []

    def state_digest(self, name):
        return None

    def resolve_pending(self, name, imports):
        self.calls.append(("resolve", name, imports))

    def exclusive(self, name, out):
        return contextlib.nullcontext()

    def destroy(self, name):
        self.calls.append(("destroy", name))

    def outputs(self, name):
        return self.outputs_of.get(name, {"kindreg": {}})


class Verified(reconcile.Machine):
    """The machine around the stacks, whose checks after `up` pass (tests/unit/test_reconcile.py
    covers the checks themselves)."""

    def verify(self, plan, recorded, looked=None):
        return [reconcile.Check(True, f"stack {plan.stack} checked")], None, None


class AsPlanned(Verified):
    """A machine on which every stack that is up is as its plan says."""

    def look(self, plan, recorded, again=False):
        return None, None, []


def run(argv, stacks, monkeypatch, engine=None, machine=Verified):
    monkeypatch.setattr(cli, "STACKS", lambda project_dir: stacks)
    monkeypatch.setattr(cli, "ENGINE", lambda: engine or FakeEngine([], []))
    monkeypatch.setattr(cli, "MACHINE", lambda project_dir, names: machine(engine or FakeEngine([], []), project_dir))
    return cli.main([*argv, "--project-dir", str(PROJECT)])


def test_up_brings_the_shared_stack_up_first(monkeypatch, capsys):
    stacks = Recorder(pending={"shared": {"create": 9}})
    assert run(["up", "--stack", "dev", "--yes"], stacks, monkeypatch) == 0
    # Not up yet, so not current: no preview to find that out.
    assert stacks.calls == [("up", "shared"), ("up", "dev")]
    out = capsys.readouterr().out
    assert "stack dev is up: project dev, network lok8s 10.125.125.0/24" in out
    assert "kind cluster dev: kubectl --context kind-dev (nodes dev-control-plane, dev-worker)" in out


def test_up_leaves_a_current_shared_stack_alone(monkeypatch, capsys):
    stacks = Recorder(up_stacks={"shared"})
    assert run(["up", "--stack", "dev", "--yes"], stacks, monkeypatch, machine=AsPlanned) == 0
    assert stacks.calls == [("preview", "shared", False, True), ("up", "dev")]
    assert "stack shared is current: left alone" in capsys.readouterr().out


def test_up_of_a_stack_with_its_own_mirrors_touches_nothing_else(monkeypatch):
    stacks = Recorder()
    assert run(["up", "--stack", "alt", "--yes"], stacks, monkeypatch) == 0
    assert stacks.calls == [("up", "alt")]


def test_up_asks_after_the_preview_and_stops_on_no(monkeypatch, capsys):
    stacks = Recorder(pending={"shared": {"create": 9}})
    monkeypatch.setattr(cli.sys.stdin, "isatty", lambda: True)
    answers = iter(["n"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    assert run(["up", "--stack", "dev"], stacks, monkeypatch) == 1
    assert stacks.calls == [("preview", "shared", False, False)]
    assert "stack shared: nothing changed (answered no)" in capsys.readouterr().err


def test_up_without_a_terminal_needs_yes_and_touches_nothing(monkeypatch, capsys):
    stacks = Recorder()
    monkeypatch.setattr(cli.sys.stdin, "isatty", lambda: False)
    assert run(["up", "--stack", "dev"], stacks, monkeypatch) == 2
    assert stacks.calls == []
    assert "--yes: is needed when input is not a terminal" in capsys.readouterr().err


def test_an_unknown_stack_is_refused_before_the_engine(monkeypatch, capsys):
    stacks = Recorder()
    assert run(["up", "--stack", "nope", "--yes"], stacks, monkeypatch) == 2
    assert stacks.calls == []
    assert '--stack: "nope" has no stack file Pulumi.<stack>.yaml' in capsys.readouterr().err


def test_an_engine_failure_exits_1_with_its_message(monkeypatch, capsys):
    class Failing(Recorder):
        def up(self, name, replace=(), targets=()):
            raise RunFailed("error: docker: network alt: Pool overlaps with other one on this address space")

    assert run(["up", "--stack", "alt", "--yes"], Failing(), monkeypatch) == 1
    assert "Pool overlaps with other one" in capsys.readouterr().err


def test_preview_previews_shared_then_project(monkeypatch):
    stacks = Recorder(up_stacks={"shared"})
    assert run(["preview", "--stack", "dev", "--diff"], stacks, monkeypatch) == 0
    assert stacks.calls == [("preview", "shared", True, False), ("preview", "dev", True, False)]


def test_preview_before_the_shared_stack_exists_says_why_it_stops(monkeypatch, capsys):
    stacks = Recorder()
    assert run(["preview", "--stack", "dev"], stacks, monkeypatch) == 0
    assert stacks.calls == [("preview", "shared", False, False)]
    assert "which is not up yet" in capsys.readouterr().out


def test_down_destroys_only_the_project(monkeypatch):
    stacks = Recorder()
    assert run(["down", "--stack", "dev", "--yes"], stacks, monkeypatch) == 0
    assert stacks.calls == [("destroy", "dev")]


def test_down_shared_destroys_the_project_then_the_shared_stack(monkeypatch):
    dev = node("dev-control-plane", "dev", {"lok8s-registries": "10.125.200.129"})
    own_nodes = FakeEngine([dev], [], network_members={"lok8s-registries": [dev]})
    stacks = Recorder()
    assert run(["down", "--stack", "dev", "--shared", "--yes"], stacks, monkeypatch, own_nodes) == 0
    assert stacks.calls == [("destroy", "dev"), ("destroy", "shared")]


def test_down_shared_is_refused_with_the_guard_message_while_another_project_is_attached(monkeypatch, capsys):
    qa = node("qa-control-plane", "qa", {"lok8s-registries": "10.125.200.140"})
    engine = FakeEngine([qa], [], network_members={"lok8s-registries": [qa]})
    stacks = Recorder()
    assert run(["down", "--stack", "dev", "--shared", "--yes"], stacks, monkeypatch, engine) == 1
    assert stacks.calls == []  # not even the project: nothing half-done
    err = capsys.readouterr().err
    assert "not destroying the shared registries: network lok8s-registries is still used by" in err
    assert "project qa: qa-control-plane" in err


@pytest.mark.parametrize("stack, message", [
    ("alt", "--shared: stack alt has mirrors of its own and uses no shared stack: drop --shared"),
    ("shared", "--shared: is for a project stack; shared is the shared stack itself"),
])
def test_down_shared_where_it_means_nothing_is_a_usage_error(monkeypatch, capsys, stack, message):
    stacks = Recorder()
    assert run(["down", "--stack", stack, "--shared", "--yes"], stacks, monkeypatch) == 2
    assert stacks.calls == []
    assert message in capsys.readouterr().err


def test_plan_all_with_stack_is_a_usage_error(capsys):
    assert cli.main(["plan", "--all", "--stack", "dev", "--project-dir", str(PROJECT)]) == 2
    assert "--all plans every stack of the directory and cannot be combined with --stack" in capsys.readouterr().err


def test_lifecycle_has_changes():
    assert not lifecycle.has_changes({"same": 4})
    assert lifecycle.has_changes({"same": 4, "update": 1})
    assert not lifecycle.has_changes({})


def test_a_stack_that_would_fight_another_is_refused_before_the_engine(monkeypatch, capsys, tmp_path):
    import shutil
    for f in ("Pulumi.shared.yaml", "Pulumi.dev.yaml"):
        shutil.copy(PROJECT / f, tmp_path / f)
    (tmp_path / "Pulumi.twin.yaml").write_text((PROJECT / "Pulumi.dev.yaml").read_text())
    stacks = Recorder()
    monkeypatch.setattr(cli, "STACKS", lambda project_dir: stacks)
    assert cli.main(["up", "--stack", "twin", "--yes", "--project-dir", str(tmp_path)]) == 2
    assert stacks.calls == []
    assert "stack twin: subnet 10.125.125.0/24 overlaps stack dev's 10.125.125.0/24" in capsys.readouterr().err
