"""The shared stack: the registries network and one pull-through mirror per upstream."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
from pulumi_command import local

from kindreg.core import scripts
from kindreg.core.plan import SharedPlan

from . import common
from .registry import Registry, Served, TlsFiles, registries


@dataclass
class SharedRegistriesArgs:
    plan: SharedPlan
    credentials: dict[str, pulumi.Output] = field(default_factory=dict)  # mirror name -> secret
    tls: Optional[TlsFiles] = None
    served: Served = Served()
    environment: Optional[dict] = None  # for the guard's docker CLI (DOCKER_HOST)


class SharedRegistries(pulumi.ComponentResource):
    """Mirrors every project on the machine pulls through, owned by their own stack."""

    def __init__(self, name: str, args: SharedRegistriesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kindreg:shared:SharedRegistries", name, None, opts)
        plan = args.plan
        self.network = common.network(f"{name}-network", plan.network, plan.stack, self)
        self.mirrors: list[Registry] = []
        if plan.mirrors:
            image = common.registry_image(f"{name}-image", plan.image, self)
            self.mirrors = registries(name, plan.mirrors, image.image_id, self.network.name,
                                      plan.delete_volumes, args.credentials, args.tls, self, args.served)
        # Every shared resource is a dependency of the guard, so on destroy its delete runs
        # first and stops everything while a project's nodes are still attached.
        self.guard = local.Command(
            f"{name}-guard",
            create=scripts.SHARED_GUARD_CREATE,
            delete=scripts.SHARED_GUARD_DELETE,
            environment={**(args.environment or {}), **common.python_step_environment(),
                         "KINDREG_NETWORK": plan.network.name},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.network, *self.mirrors, *(m.front for m in self.mirrors if m.front)]),
        )
        self.register_outputs({"network": self.network.name,
                               "mirrors": [m.container.name for m in self.mirrors]})
