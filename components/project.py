"""A project's registries: its network, build (.101), cache (.102) and, unshared, its mirrors."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi

from kindreg.core.plan import ProjectPlan

from . import common
from .registry import Served, TlsFiles, registries


@dataclass
class ProjectRegistriesArgs:
    plan: ProjectPlan
    credentials: dict[str, pulumi.Output] = field(default_factory=dict)  # own mirrors only
    tls: Optional[TlsFiles] = None
    served: Served = Served()


class ProjectRegistries(pulumi.ComponentResource):
    """Registries private to one project: never shared with another project's nodes."""

    def __init__(self, name: str, args: ProjectRegistriesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kindreg:project:ProjectRegistries", name, None, opts)
        plan = args.plan
        self.network = common.network(f"{name}-network", plan.network, plan.stack, self)
        self.image = common.registry_image(f"{name}-image", plan.build.image, self)
        self.registries = registries(name, plan.registries, self.image.image_id, self.network.name,
                                     plan.delete_volumes, args.credentials, args.tls, self, args.served)
        self.register_outputs({"network": self.network.name,
                               "registries": [r.container.name for r in self.registries]})
