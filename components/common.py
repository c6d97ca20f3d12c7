"""Resources both stack roles declare the same way: a network and the registry image."""
from __future__ import annotations

import sys
from pathlib import Path

import pulumi
import pulumi_docker as docker

from kindreg.core import render
from kindreg.core.plan import NetworkPlan

BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
PROJECT_ROOT = Path(__file__).resolve().parent.parent  # holds the kindreg package


def network(name: str, plan: NetworkPlan, stack: str, parent: pulumi.Resource) -> docker.Network:
    """A bridge network with the plan's subnet; Docker hands out only the dynamic range."""
    return docker.Network(
        name,
        name=plan.name,
        driver="bridge",
        ipam_configs=[docker.NetworkIpamConfigArgs(subnet=plan.subnet, gateway=plan.gateway,
                                                   ip_range=plan.ip_range)],
        options={BRIDGE_NAME_OPTION: plan.bridge},
        labels=[docker.NetworkLabelArgs(label=k, value=v)
                for k, v in render.network_labels(plan.scope, stack).items()],
        # Any change replaces a network (it has no update), and its name is fixed: the old one
        # must go first. Containers on it depend on it and are replaced with it.
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True),
    )


def registry_image(name: str, image: str, parent: pulumi.Resource) -> docker.RemoteImage:
    # keep_locally: other stacks run the same image; destroying this one must not remove it.
    return docker.RemoteImage(name, name=image, keep_locally=True,
                              opts=pulumi.ResourceOptions(parent=parent))


def python_step_environment() -> dict[str, str]:
    """How a Command runs the project's own code: this interpreter, this checkout on PYTHONPATH."""
    return {"KINDREG_PYTHON": sys.executable, "PYTHONPATH": str(PROJECT_ROOT)}
