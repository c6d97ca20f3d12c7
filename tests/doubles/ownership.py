"""Which Docker objects a test run owns: those labelled with its run id, and only those.

Every container, network and volume the tests and benchmarks create carries the label
`kindreg.test-run=<run id>` (the provider doubles and the kind double add it; fixtures set it
on what they start). Clean-up removes what carries this run's id, and what a run that is no
longer alive left behind; never anything by its name, so a user's cluster named `live`, or a
second test run on the same engine, is left alone.
"""
from __future__ import annotations

import os
import time

from kindreg.core.vocabulary import Label

# "<start epoch>-<pid>" of the process that owns the run (tests/setup.sh exports it).
RUN_ID = os.environ.get("KINDREG_TEST_RUN") or f"{int(time.time())}-{os.getpid()}"


def labels() -> dict[str, str]:
    return {Label.TEST_RUN.value: RUN_ID}


def _alive(run_id: str) -> bool:
    pid = run_id.rsplit("-", 1)[-1]
    if not pid.isdigit():
        return True  # not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ours(obj_labels: dict | None) -> bool:
    """This run's, or left behind by a run whose process is gone."""
    run = (obj_labels or {}).get(Label.TEST_RUN.value)
    return bool(run) and (run == RUN_ID or not _alive(run))


def sweep(client) -> None:
    """Remove this run's containers, then networks, then volumes (and dead runs' leftovers)."""
    # sparse: the listing's own labels, with no inspect of each container (one that another run
    # removes meanwhile would fail it).
    for c in client.containers.list(all=True, sparse=True, filters={"label": Label.TEST_RUN.value}):
        if ours(c.attrs.get("Labels")):
            _gone_is_fine(c.remove, force=True)
    for n in client.networks.list(filters={"label": Label.TEST_RUN.value}):
        if ours(n.attrs.get("Labels")):
            _gone_is_fine(n.remove)
    for v in client.volumes.list(filters={"label": Label.TEST_RUN.value}):
        if ours(v.attrs.get("Labels")):
            _gone_is_fine(v.remove, force=True)


def _gone_is_fine(remove, **kw) -> None:
    """An object removed between the listing and the removal (a destroy still finishing) is gone
    already, which is what the sweep wants."""
    import docker.errors
    try:
        remove(**kw)
    except docker.errors.NotFound:
        pass
