"""Connect every node of a kind cluster to the shared registries network (and disconnect them).

Runs as a Command of the project stack (`python -m kindreg.ops.connect connect|disconnect`,
cluster and network in KINDREG_CLUSTER / KINDREG_NETWORK). Nodes are found by kind's own
label; a node already on the network is left alone. stdout lists the nodes, one per line.
"""
from __future__ import annotations

import os
import sys
from typing import Optional

from kindreg.adapters.engine import DockerCli, Engine, EngineError, addresses, label, name_of
from kindreg.core.vocabulary import KIND_CLUSTER_LABEL

CLUSTER_ENV, NETWORK_ENV = "KINDREG_CLUSTER", "KINDREG_NETWORK"


def nodes(engine: Engine, cluster: str) -> list[dict]:
    return sorted((c for c in engine.containers() if label(c, KIND_CLUSTER_LABEL) == cluster), key=name_of)


def connect(engine: Engine, cluster: str, network: str) -> list[str]:
    out = []
    for node in nodes(engine, cluster):
        if network in addresses(node):
            out.append(f"{name_of(node)} already on {network}")
        else:
            engine.network_connect(network, name_of(node))
            out.append(f"{name_of(node)} connected to {network}")
    return out


def disconnect(engine: Engine, cluster: str, network: str) -> list[str]:
    out = []
    for node in nodes(engine, cluster):
        if network in addresses(node):
            engine.network_disconnect(network, name_of(node))
            out.append(f"{name_of(node)} disconnected from {network}")
    return out


def main(argv: Optional[list[str]] = None, engine: Optional[Engine] = None) -> int:
    action = (argv if argv is not None else sys.argv[1:])[0]
    step = {"connect": connect, "disconnect": disconnect}[action]
    try:
        lines = step(engine or DockerCli(), os.environ[CLUSTER_ENV], os.environ[NETWORK_ENV])
    except EngineError as err:
        print(f"kindreg: {action} of the nodes of {os.environ[CLUSTER_ENV]} failed: {err}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
