"""The kind cluster of a project: nodes on the project network and on the shared one."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
from pulumi_command import local

from kindreg.core import scripts

from . import common

KIND_WAIT = "120s"


@dataclass
class KindClusterArgs:
    cluster: str
    kind_config: pulumi.Input[str]  # rendered by kindreg.render.kind_config (needs the tree's mountpoint)
    network: pulumi.Input[str]  # the project network (KIND_EXPERIMENTAL_DOCKER_NETWORK)
    network_id: pulumi.Input[str]  # changes exactly when that network is replaced
    shared_network: Optional[str]  # the shared registries network, in shared mode
    registry_hosting: str  # the local-registry-hosting ConfigMap (KEP-1755)
    depends_on: list = field(default_factory=list)  # registries and the certs.d tree
    environment: Optional[dict] = None


class KindCluster(pulumi.ComponentResource):
    """`kind create cluster` / `kind delete cluster`.

    Replaced (deleted first: the cluster name is fixed) when the kind config changes or the
    project network is replaced (its nodes hold addresses on it, and Docker removes no network
    with containers attached). Any other change (engine address, wait time) is an update that
    keeps the cluster.
    """

    def __init__(self, name: str, args: KindClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kindreg:cluster:KindCluster", name, None, opts)
        env = {**(args.environment or {}), "KINDREG_CLUSTER": args.cluster}
        self.cluster = local.Command(
            f"{name}-kind",
            create=scripts.KIND_CREATE, update=scripts.KIND_UPDATE, delete=scripts.KIND_DELETE,
            environment={**env, "KINDREG_NETWORK": args.network, "KINDREG_WAIT": KIND_WAIT},
            stdin=args.kind_config,
            triggers=[args.kind_config, args.network_id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on, delete_before_replace=True),
        )
        # Both steps belong to one cluster: a new cluster (a new ID) replaces them; an update of
        # the cluster (same ID) leaves them alone, and a preview knows that.
        after_cluster = pulumi.ResourceOptions(parent=self, depends_on=[self.cluster])
        self.connect = None
        if args.shared_network:
            self.connect = local.Command(
                f"{name}-connect",
                create=scripts.NETWORK_CONNECT, update=scripts.NETWORK_CONNECT,
                delete=scripts.NETWORK_DISCONNECT,
                environment={**env, **common.python_step_environment(), "KINDREG_NETWORK": args.shared_network},
                triggers=[self.cluster.id],
                # Its delete disconnects the nodes: it must not run after a replacement connected them.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster], delete_before_replace=True),
            )
        self.registry_hosting = local.Command(
            f"{name}-registry-hosting",
            create=scripts.REGISTRY_HOSTING_APPLY, update=scripts.REGISTRY_HOSTING_APPLY,
            environment=env, stdin=args.registry_hosting, triggers=[self.cluster.id],
            opts=after_cluster,
        )
        self.nodes = self.cluster.stdout.apply(lambda out: [n for n in (out or "").split() if n])
        self.register_outputs({"cluster": args.cluster, "nodes": self.nodes})
