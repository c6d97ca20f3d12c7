"""What should be there: the expected model of a stack, derived from its plan alone.

Every kind of thing kindreg creates appears here with the Pulumi resource that creates it, so a
difference found by `kindreg.core.drift` can name its fix. Values that come from this machine
(the local CA's certificate) are passed in; nothing here does I/O.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Mapping, Optional, Union

import yaml

from . import frontcache, render, resources
from .plan import ProjectPlan, RegistryPlan, SharedPlan
from .vocabulary import NODE_CA, NODE_CERTS_D, Label, Role

Plan = Union[SharedPlan, ProjectPlan]
HOSTING_KEY = "localRegistryHosting.v1"


class Thing(StrEnum):
    """The kinds of thing kindreg creates, as a user calls them."""

    NETWORK = "network"
    VOLUME = "cache volume"
    MIRROR = "mirror"
    FRONT = "front cache"
    BUILD = "build registry"
    CACHE = "cache registry"
    TLS = "TLS files"
    NODE = "node"
    NODE_NETWORK = "node network"
    NODE_FILE = "containerd file"
    CONFIGMAP = "local-registry-hosting ConfigMap"


ROLE_THING = {Role.MIRROR: Thing.MIRROR, Role.BUILD: Thing.BUILD, Role.CACHE: Thing.CACHE}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class WantContainer:
    thing: Thing
    name: str
    resource: str  # the Pulumi resource that creates it
    image: str  # the image reference the plan names
    network: str
    ip: Optional[str]  # None: any address the engine gives (front caches)
    env: frozenset[str]  # plain "NAME=value" entries (secret variables are never compared)
    labels: Mapping[str, str]  # what marks it as this stack's
    files: Mapping[str, str] = field(default_factory=dict)  # path inside -> SHA-256 of what was uploaded
    tls: bool = False  # holds the stack's certificate and key


@dataclass(frozen=True)
class WantNetwork:
    name: str
    subnet: str
    resource: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class WantVolume:
    name: str
    resource: str
    container: str  # the registry whose cache it holds


@dataclass(frozen=True)
class WantFile:
    sha256: str
    resource: str  # the Command that writes it


@dataclass(frozen=True)
class WantNode:
    name: str
    networks: tuple[str, ...]  # the project network, then the shared one in shared mode
    files: Mapping[str, WantFile]  # path inside the node -> what it holds
    registry_hosting: Optional[str]  # the ConfigMap's data, checked on the first control plane


@dataclass(frozen=True)
class WantTls:
    cert: str  # paths on this host
    key: str
    resource: str


@dataclass(frozen=True)
class Expected:
    stack: str
    networks: tuple[WantNetwork, ...]
    volumes: tuple[WantVolume, ...]
    containers: tuple[WantContainer, ...]
    tls: Optional[WantTls] = None
    nodes: tuple[WantNode, ...] = ()
    cluster: Optional[str] = None
    shared_network: Optional[str] = None  # the network a project's nodes join and does not own

    @property
    def images(self) -> frozenset[str]:
        return frozenset(c.image for c in self.containers)


def expected(plan: Plan, tls_dir: Optional[str] = None, ca_pem: Optional[str] = None) -> Expected:
    """The stack's things. `tls_dir`: where its certificate lives on this host (TLS stacks);
    `ca_pem`: the local CA the nodes are given (projects that use a TLS registry)."""
    stack = plan.stack
    containers = tuple(c for r in plan.registries for c in _containers(stack, r))
    tls = WantTls(f"{tls_dir}/cert.pem", f"{tls_dir}/key.pem", resources.mkcert(stack)) if plan.tls and tls_dir else None
    base = dict(stack=stack, networks=(_network(plan),), containers=containers, tls=tls,
                volumes=tuple(WantVolume(r.volume, resources.registry_volume(stack, r.name), r.container)
                              for r in plan.registries))
    if isinstance(plan, SharedPlan):
        return Expected(**base)
    return Expected(**base, nodes=_nodes(plan, ca_pem), cluster=plan.nodes.cluster if plan.nodes.enabled else None,
                    shared_network=plan.shared.network.name if plan.shared else None)


def _network(plan: Plan) -> WantNetwork:
    labels = render.network_labels(plan.network.scope, plan.stack)
    return WantNetwork(plan.network.name, plan.network.subnet, resources.network(plan.stack), labels)


def _ours(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k in (Label.MANAGED, Label.STACK, Label.ROLE)}


def _containers(stack: str, reg: RegistryPlan) -> list[WantContainer]:
    files = {path: sha256(text) for path, text in render.container_files(reg).items()}
    out = [WantContainer(ROLE_THING[reg.role], reg.container, resources.registry_container(stack, reg.name),
                         reg.image, reg.network, reg.ip, frozenset(render.container_env(reg)),
                         _ours(render.registry_labels(reg)), files, reg.tls)]
    if reg.front is not None:
        out.append(WantContainer(Thing.FRONT, reg.front.container, resources.front_container(stack, reg.name),
                                 reg.front.image, reg.network, None, frozenset(), _ours(frontcache.labels(reg)),
                                 {frontcache.CONF_PATH: sha256(frontcache.nginx_conf(reg))}))
    return out


def _nodes(plan: ProjectPlan, ca_pem: Optional[str]) -> tuple[WantNode, ...]:
    if not plan.nodes.enabled:
        return ()
    files = {f"{NODE_CERTS_D}/{path}": WantFile(sha256(text), resources.certs_file(plan.stack, path))
             for path, text in render.hosts_files(plan).items()}
    if plan.needs_ca and ca_pem:
        files[NODE_CA] = WantFile(sha256(ca_pem), resources.certs_ca(plan.stack))
    networks = (plan.network.name, *((plan.shared.network.name,) if plan.shared else ()))
    hosting = yaml.safe_load(render.local_registry_hosting(plan))["data"][HOSTING_KEY]
    first_control_plane = next((n for n in plan.nodes.names if "-control-plane" in n), None)
    return tuple(WantNode(n, networks, {} if _load_balancer(n) else files,
                          hosting if n == first_control_plane else None)
                 for n in plan.nodes.names)


def _load_balancer(node: str) -> bool:
    """kind's load balancer in front of several control planes runs no containerd."""
    return node.endswith("-external-load-balancer")

