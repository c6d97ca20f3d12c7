"""One reading of the engine's listings for looks between which nothing acts (a preview; an up
whose earlier stacks were spared), and a fresh one otherwise."""
from kindreg.adapters.engine import Snapshot
from kindreg.ops import reconcile
from tests.fake_engine import FakeEngine, planted
from tests.helpers import PROJECT, plan_of


class Counting(FakeEngine):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.listed: list[str] = []

    def containers(self):
        self.listed.append("containers")
        return super().containers()

    def networks(self):
        self.listed.append("networks")
        return super().networks()

    def volumes(self):
        self.listed.append("volumes")
        return super().volumes()


def test_a_snapshot_lists_once_and_passes_the_rest_through():
    engine = Counting()
    snap = Snapshot(engine)
    snap.containers(), snap.containers(), snap.networks(), snap.networks(), snap.volumes()
    assert engine.listed == ["containers", "networks", "volumes"]
    assert snap.endpoint() == engine.endpoint()
    snap.start("x")
    assert engine.calls == [("start", ("x",))]


def test_a_look_again_reuses_the_listings_and_a_plain_look_reads_them_anew():
    engine = planted(Counting(), plan_of("shared"), plan_of("dev"))
    machine = reconcile.Machine(engine, PROJECT)
    from kindreg.core.world import Recorded
    machine.look(plan_of("shared"), Recorded())
    assert engine.listed.count("containers") == 1
    machine.look(plan_of("dev"), Recorded(), again=True)
    assert engine.listed.count("containers") == 1
    machine.look(plan_of("dev"), Recorded())
    assert engine.listed.count("containers") == 2
