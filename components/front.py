"""A mirror's front cache: one nginx container between the mirror's registry and its upstream."""
from __future__ import annotations

import functools
from typing import Optional

import pulumi
import pulumi_docker as docker

from kindreg.core import frontcache, render
from kindreg.core.plan import RegistryPlan


class FrontCache(pulumi.ComponentResource):
    """nginx serving the mirror's registry as its upstream, named by the plan (its DNS name on the
    mirror's network). It keeps nothing worth keeping (the cache is short-lived by design), so
    it has no volume of its own; a bounded mirror's front keeps its cache in the mirror's
    volume, inside the mirror's bound. A changed config replaces it."""

    container: docker.Container

    def __init__(self, name: str, plan: RegistryPlan, image: pulumi.Input[str], network: pulumi.Input[str],
                 volume: pulumi.Input[str], opts: Optional[pulumi.ResourceOptions] = None,
                 via_ca_pem: Optional[str] = None):
        super().__init__("kindreg:front:FrontCache", name, None, opts)
        assert plan.front is not None
        self.container = docker.Container(
            f"{name}-container",
            name=plan.front.container,
            image=image,
            entrypoints=frontcache.entrypoint(),
            uploads=_uploads(plan, via_ca_pem),
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network)],
            # A bounded mirror's front keeps its cache in the mirror's volume (core.frontcache).
            volumes=[docker.ContainerVolumeArgs(volume_name=volume, container_path=frontcache.VOLUME_MOUNT)]
            if frontcache.in_volume(plan) else None,
            restart=render.RESTART_POLICY,
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=frontcache.healthcheck_command(), interval="5s", timeout="3s", retries=3, start_period="5s"),
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in frontcache.labels(plan).items()],
            must_run=True,
            # No `wait`: the provider would wait for a passing health check, which Docker runs
            # first one `interval` after the start (no `start_interval` before Docker 25), 5 s
            # of every created container. `kindreg up` asks the service itself instead, until it
            # answers (kindreg.ops.reconcile.READY_SECONDS); the health check stays for status.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.register_outputs({"name": plan.front.container})


def _uploads(plan: RegistryPlan, via_ca_pem: Optional[str]) -> list[docker.ContainerUploadArgs]:
    out = [docker.ContainerUploadArgs(file=frontcache.CONF_PATH, content=frontcache.nginx_conf(plan))]
    if plan.via_ca:
        assert via_ca_pem is not None, "the program reads viaCa"
        out.append(docker.ContainerUploadArgs(file=frontcache.VIA_CA_PATH, content=via_ca_pem))
    return out


def fronts(name: str, plans, network: pulumi.Input[str], parent: pulumi.Resource, via_ca_pem: Optional[str] = None):
    """Per planned mirror that has a front cache, by mirror name: what makes its FrontCache from
    the mirror's volume; one image resource per image."""
    from . import common
    images: dict[str, docker.RemoteImage] = {}
    out = {}
    for r in plans:
        if r.front is None:
            continue
        if r.front.image not in images:
            images[r.front.image] = common.registry_image(f"{name}-front-image{'' if not images else len(images)}",
                                                          r.front.image, parent)
        out[r.name] = functools.partial(FrontCache, f"{name}-{r.name}-front", r, images[r.front.image].image_id,
                                        network, opts=pulumi.ResourceOptions(parent=parent), via_ca_pem=via_ca_pem)
    return out
