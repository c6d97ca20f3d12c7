"""One registry: a named volume and a distribution container at its planned address."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from kindreg import render
from kindreg.plan import RegistryPlan

RESTART_POLICY = "unless-stopped"


@dataclass(frozen=True)
class TlsFiles:
    """A certificate on the host, and its fingerprint: a new fingerprint replaces the container."""

    cert_path: str
    key_path: str
    fingerprint: pulumi.Input[str]


@dataclass
class RegistryArgs:
    plan: RegistryPlan
    image: pulumi.Input[str]  # image ID of the stack's RemoteImage
    network: pulumi.Input[str]  # the network's name output, so the container waits for it
    delete_volume: bool = False
    credentials: Optional[pulumi.Output] = None  # secret Output of {"username", "password"}
    tls: Optional[TlsFiles] = None
    host_port: Optional[int] = None


class Registry(pulumi.ComponentResource):
    """A distribution registry: build, cache or pull-through mirror.

    Everything the registry needs is part of the container definition (config uploads,
    entrypoint, labels), so a change to any of it is a diff in preview and a replacement on
    up, never a container left running an old config.
    """

    volume: docker.Volume
    container: docker.Container

    def __init__(self, name: str, args: RegistryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kindreg:registry:Registry", name, None, opts)
        plan = args.plan
        # The cache outlives the container (and the stack) unless the config says otherwise;
        # Docker hands an existing volume of that name back, so the next up adopts it.
        self.volume = docker.Volume(
            f"{name}-volume",
            name=plan.volume,
            labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in render.registry_labels(plan).items()],
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=not args.delete_volume),
        )
        self.container = docker.Container(
            f"{name}-container",
            name=plan.container,
            hostname=plan.container,
            image=args.image,
            entrypoints=render.entrypoint(plan),
            uploads=_uploads(plan, args.tls),
            envs=_credential_envs(args.credentials),
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(
                name=args.network, ipv4_address=plan.ip, aliases=_aliases(plan))],
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volume.name, container_path=render.DATA_DIR)],
            ports=_ports(plan, args.host_port),
            restart=RESTART_POLICY,
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=render.healthcheck_command(), interval="5s", timeout="3s", retries=3,
                start_period="10s"),
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in render.registry_labels(plan).items()],
            must_run=True,
            wait=True,
            wait_timeout=60,
            # Fixed container names: the old container must go before the new one is created.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.register_outputs({"name": plan.container, "ip": plan.ip, "url": plan.url,
                               "host": plan.host, "volume": self.volume.name})


def _uploads(plan: RegistryPlan, tls: Optional[TlsFiles]) -> list[docker.ContainerUploadArgs]:
    files = [docker.ContainerUploadArgs(file=path, content=content,
                                        executable=path == render.MIRROR_ENTRYPOINT_PATH)
             for path, content in render.container_files(plan).items()]
    if tls:
        # By host path: the key is read by the provider at create time and never enters state.
        files += [
            docker.ContainerUploadArgs(file=render.TLS_CERT, source=tls.cert_path, source_hash=tls.fingerprint),
            docker.ContainerUploadArgs(file=render.TLS_KEY, source=tls.key_path, source_hash=tls.fingerprint,
                                       permissions="0600"),
        ]
    return files


def _credential_envs(credentials: Optional[pulumi.Output]) -> Optional[pulumi.Output]:
    """distribution reads REGISTRY_PROXY_* over its config file: the password stays out of it."""
    if credentials is None:
        return None
    return pulumi.Output.secret(credentials).apply(
        lambda c: [f"REGISTRY_PROXY_USERNAME={c['username']}", f"REGISTRY_PROXY_PASSWORD={c['password']}"])


def _aliases(plan: RegistryPlan) -> Optional[list[str]]:
    # Pods resolve lok8s.local / lok8s.cache through Docker's DNS on the project network.
    # Mirrors get no alias: naming a container docker.io would hijack that name.
    return [plan.host] if plan.role in ("build", "cache") else None


def _ports(plan: RegistryPlan, host_port: Optional[int]) -> Optional[list[docker.ContainerPortArgs]]:
    if plan.role != "build" or host_port is None:
        return None
    return [docker.ContainerPortArgs(internal=plan.port, external=host_port, ip="127.0.0.1")]
