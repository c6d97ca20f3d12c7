"""An `up` that starts a stopped mirror waits for a killed prune's garbage collection first."""
from __future__ import annotations

from kindreg.core.vocabulary import MANAGED_VALUE, PRUNE_ROLE, Label
from kindreg.ops import prune
from tests.fake_engine import FakeEngine, container


class Collecting(FakeEngine):
    """A garbage collection that ends after it has been seen running `polls` times."""

    def __init__(self, stack: str, polls: int):
        gc = container("lok8s-registry-io-docker-prune", {Label.MANAGED.value: MANAGED_VALUE,
                                                           Label.ROLE.value: PRUNE_ROLE, Label.STACK.value: stack}, {})
        other = container("other-prune", {Label.MANAGED.value: MANAGED_VALUE, Label.ROLE.value: PRUNE_ROLE,
                                          Label.STACK.value: "someone-else"}, {})
        super().__init__([gc, other])
        self.gc, self.polls, self.seen = gc, polls, 0

    def containers(self):
        if self.gc["State"]["Running"]:
            self.seen += 1
            if self.seen > self.polls:
                self.gc["State"] = {"Status": "exited", "Running": False}
        return super().containers()


def test_up_waits_for_a_running_collection_of_its_stack(monkeypatch):
    monkeypatch.setattr(prune.time, "sleep", lambda s: None)
    engine, said = Collecting("shared", polls=3), []
    assert prune.wait_for_collections(engine, "shared", said.append) is True
    assert not engine.gc["State"]["Running"] and engine.seen == 4
    assert said == ["waiting for lok8s-registry-io-docker-prune, an earlier prune's garbage collection, to finish"]


def test_a_collection_of_another_stack_is_not_waited_for():
    engine, said = Collecting("shared", polls=0), []
    engine.gc["State"] = {"Status": "exited", "Running": False}
    assert prune.wait_for_collections(engine, "shared", said.append) is False
    assert said == []
