"""The shared stack's destroy guard: no destroy while a project's nodes use the shared network.

It runs as the delete step of a Command in the shared stack (`python -m kindreg.ops.guard`,
network in KINDREG_NETWORK) and fails closed: the destroy goes on only when the network is
really gone, or holds nothing but kindreg's own mirrors. Any other answer, an engine that
cannot be asked included, stops it with the reason.
"""
from __future__ import annotations

import os
import sys
from typing import Optional

from kindreg.adapters.engine import DockerCli, Engine, EngineError, label
from kindreg.core.vocabulary import KIND_CLUSTER_LABEL, MANAGED_VALUE, Label

NETWORK_ENV = "KINDREG_NETWORK"
NOT_A_NODE = "(not a kind node)"


def refusal(engine: Engine, network: str, leaving: frozenset[str] = frozenset()) -> Optional[str]:
    """Why the shared registries must not be destroyed now, or None when they may be.

    `leaving`: kind clusters that are being destroyed in the same run (`kindreg down --shared`),
    whose nodes do not count as users."""
    head = f"kindreg: not destroying the shared registries: network {network}"
    try:
        attached = engine.network_containers(network)
    except EngineError as err:
        return (f"{head} could not be checked ({err}).\nFix the engine connection (DOCKER_HOST, "
                "docker:host) and run the destroy again; nothing was deleted.")
    if attached is None:
        return None
    users: dict[str, list[str]] = {}
    for container in attached:
        if label(container, Label.MANAGED) == MANAGED_VALUE:
            continue
        project = label(container, KIND_CLUSTER_LABEL) or NOT_A_NODE
        if project in leaving:
            continue
        users.setdefault(project, []).append(container.get("Name", "").lstrip("/"))
    if not users:
        return None
    lines = [f"{head} is still used by"]
    lines += [f"  project {p}: {', '.join(sorted(names))}" for p, names in sorted(users.items())]
    lines += ["Destroy those projects first (kindreg down --stack <project>), or disconnect their nodes:",
              f"  docker network disconnect {network} <node>"]
    return "\n".join(lines)


def main(engine: Optional[Engine] = None) -> int:
    network = os.environ[NETWORK_ENV]
    reason = refusal(engine or DockerCli(), network)
    if reason:
        print(reason, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
