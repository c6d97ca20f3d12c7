"""One registry: a named volume and a distribution container at its planned address."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import pulumi
import pulumi_docker as docker

from kindreg.core import render
from kindreg.core.plan import RegistryPlan

from .front import FrontCache, fronts


@dataclass(frozen=True)
class TlsFiles:
    """A certificate on the host, and its fingerprint: a new fingerprint replaces the container."""

    cert_path: str
    key_path: str
    fingerprint: pulumi.Input[str]


@dataclass(frozen=True)
class Served:
    """What the stack's mirrors serve and store with beyond their plan: the S3 keys, the
    htpasswd file of their users (both secret Outputs), the CA of their `via` registries (PEM,
    for the front caches, which are what talks to those registries)."""

    s3_keys: Optional[pulumi.Output] = None  # {"accessKey", "secretKey"}
    htpasswd: Optional[pulumi.Output] = None  # the file's text
    via_ca_pem: Optional[str] = None


@dataclass
class RegistryArgs:
    plan: RegistryPlan
    image: pulumi.Input[str]  # image ID of the stack's RemoteImage
    network: pulumi.Input[str]  # the network's name output, so the container waits for it
    delete_volume: bool = False
    credentials: Optional[pulumi.Output] = None  # secret Output of {"username", "password"}
    tls: Optional[TlsFiles] = None
    # A mirror's front cache, its upstream, made once the volume is declared (a bounded
    # mirror's front keeps its cache in that volume): the volume's name -> the front.
    front: Optional[Callable[[pulumi.Input[str]], FrontCache]] = None
    served: Served = Served()


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
        # Docker hands an existing volume of that name back, so the next up adopts it. Every
        # input of a volume forces a new one, so its inputs are only what names it: a changed
        # upstream, TLS mode, address or image never replaces (and never deletes) the cache.
        self.volume = docker.Volume(
            f"{name}-volume",
            name=plan.volume,
            labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in render.volume_labels(plan).items()],
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=not args.delete_volume),
        )
        self.front = args.front(self.volume.name) if args.front else None
        self.container = docker.Container(
            f"{name}-container",
            name=plan.container,
            hostname=plan.container,
            image=args.image,
            entrypoints=render.entrypoint(plan),
            uploads=_uploads(plan, args.tls, args.served),
            envs=_envs(plan, args.credentials, args.served.s3_keys if plan.s3 else None),
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(
                name=args.network, ipv4_address=plan.ip, aliases=list(plan.aliases) or None)],
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volume.name, container_path=render.DATA_DIR)],
            ports=_ports(plan),
            restart=render.RESTART_POLICY,
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=render.healthcheck_command(), interval="5s", timeout="3s", retries=3,
                start_period="10s"),
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in render.registry_labels(plan).items()],
            must_run=True,
            # No `wait`: the provider would wait for a passing health check, which Docker runs
            # first one `interval` after the start (no `start_interval` before Docker 25), 5 s
            # of every created container. `kindreg up` asks the service itself instead, until it
            # answers (kindreg.ops.reconcile.READY_SECONDS); the health check stays for status.
            # Fixed container names: the old container must go before the new one is created.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True,
                                        depends_on=[self.front] if self.front else None),
        )
        self.register_outputs({"name": plan.container, "ip": plan.ip, "url": plan.url,
                               "host": plan.host, "volume": self.volume.name})


def _uploads(plan: RegistryPlan, tls: Optional[TlsFiles], served: Served) -> list[docker.ContainerUploadArgs]:
    files = render.uploads(plan) + (render.tls_uploads(tls.cert_path, tls.key_path) if tls else [])
    out = [docker.ContainerUploadArgs(
        file=f.path, content=f.content, source=f.source, executable=f.executable or None,
        permissions=f.permissions, source_hash=tls.fingerprint if f.source and tls else None)
        for f in files]
    if plan.auth_users:
        assert served.htpasswd is not None, "the program resolves the users' passwords"
        out.append(docker.ContainerUploadArgs(file=render.HTPASSWD_PATH, content=pulumi.Output.secret(served.htpasswd),
                                              permissions="0600"))
    return out


def _envs(plan: RegistryPlan, credentials: Optional[pulumi.Output], s3_keys: Optional[pulumi.Output]):
    """The container's environment; all of it secret when it carries credentials (the proxy's
    upstream credentials, the S3 keys)."""
    plain = render.container_env(plan)
    if credentials is None and s3_keys is None:
        return plain or None

    def env(found: list) -> list[str]:
        proxy, keys = found
        return (plain + (render.proxy_credential_env(proxy["username"], proxy["password"]) if proxy else [])
                + (render.s3_credential_env(keys["accessKey"], keys["secretKey"]) if keys else []))
    return pulumi.Output.secret(pulumi.Output.all(credentials, s3_keys)).apply(env)


def _ports(plan: RegistryPlan) -> Optional[list[docker.ContainerPortArgs]]:
    if not plan.publish:
        return None
    # No `external`: the engine picks a free port (the provider's documented default).
    return [docker.ContainerPortArgs(internal=plan.port, external=plan.host_port, ip=plan.publish_address)]


def registries(name: str, plans, image: pulumi.Input[str], network: pulumi.Input[str], delete_volume: bool,
               credentials: dict, tls: Optional["TlsFiles"], parent: pulumi.Resource,
               served: Served = Served()) -> list["Registry"]:
    """One Registry per planned registry of a stack, children of `parent`, named `<name>-<registry>`;
    a mirror's front cache first (the registry reaches its upstream through it)."""
    front = fronts(name, plans, network, parent, served.via_ca_pem)
    return [Registry(f"{name}-{r.name}", RegistryArgs(
        plan=r, image=image, network=network, delete_volume=delete_volume,
        credentials=credentials.get(r.name), tls=tls, front=front.get(r.name), served=served),
        pulumi.ResourceOptions(parent=parent))
        for r in plans]
