"""After the engine, a registry or front cache that does not answer yet is asked again, for a
bounded time; one that answers is not asked again."""
from __future__ import annotations

import time

from kindreg.ops import reconcile
from kindreg.ops.reconcile import Check


class Service:
    def __init__(self, answers_after: int):
        self.asked = 0
        self.answers_after = answers_after

    def __call__(self) -> Check:
        self.asked += 1
        return Check(self.asked > self.answers_after, f"service asked {self.asked} time(s)")


def test_a_slow_service_is_asked_until_it_answers_and_a_ready_one_once():
    slow, ready = Service(answers_after=3), Service(answers_after=0)
    checks = reconcile._settled([slow, ready], seconds=30)
    assert [c.ok for c in checks] == [True, True]
    assert (slow.asked, ready.asked) == (4, 1)


def test_a_service_that_never_answers_fails_after_the_bound():
    never = Service(answers_after=10**9)
    started = time.monotonic()
    checks = reconcile._settled([never], seconds=0.5)
    assert not checks[0].ok and never.asked > 1
    assert 0.5 <= time.monotonic() - started < 5


def test_without_a_bound_each_service_is_asked_once():
    never = Service(answers_after=10**9)
    assert not reconcile._settled([never], seconds=0)[0].ok and never.asked == 1
