"""Ctrl-C during `up`, `preview` and `down`: the first one stops the engine cleanly, a second at once.

In a terminal Ctrl-C reaches the whole foreground process group, the Pulumi CLI included, which
then finishes the steps under way, saves the state and exits (its first SIGINT cancels; a second
terminates: pkg/backend/cancellation_scope.go). An interrupt sent to kindreg alone (`kill -INT`,
a supervisor) is passed on once to the processes kindreg started, so the engine stops the same
way; kindreg itself waits for it rather than leaving it running.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from dataclasses import dataclass
from typing import Callable, Iterator

from kindreg.adapters.host import child_pids


@dataclass
class Stop:
    requested: bool = False


def _terminal_sent_it() -> bool:
    """In the terminal's foreground job, the terminal signalled every process of the job."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def graceful(out: Callable[[str], None]) -> Iterator[Stop]:
    stop = Stop()

    def handle(signum, frame) -> None:
        children = child_pids(os.getpid())
        if stop.requested or not children:
            raise KeyboardInterrupt  # a second interrupt, or nothing under way to let finish
        stop.requested = True
        out("interrupted: the engine finishes the steps under way and saves the state (interrupt again to stop at once)")
        if not _terminal_sent_it():
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
