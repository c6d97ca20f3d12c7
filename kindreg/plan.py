"""The address plan: every network, registry, IP, port, name and volume, decided in one place.

Layout of every /24 (shared and project alike):
  .1          gateway
  .2 - .127   registries (shared mirrors from .2; project build .101, cache .102, own mirrors .103+)
  .128/25     Docker's dynamic range (IPAM ip_range): kind nodes only, so Docker can never hand
              a node an address a registry has or will have.
"""
from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Optional

from .config import (
    DEFAULT_PROJECT_CIDR,
    MirrorSpec,
    ProjectConfig,
    SharedStackConfig,
)
from .errors import ConfigError, Problem, problem

GATEWAY_OFFSET = 1
SHARED_MIRROR_FIRST = 2
BUILD_OFFSET = 101
CACHE_OFFSET = 102
PROJECT_MIRROR_FIRST = 103
REGISTRY_LAST = 127
DYNAMIC_RANGE_OFFSET = 128
DYNAMIC_RANGE_PREFIX = 25
SHARED_MIRROR_CAPACITY = REGISTRY_LAST - SHARED_MIRROR_FIRST + 1
PROJECT_MIRROR_CAPACITY = REGISTRY_LAST - PROJECT_MIRROR_FIRST + 1

BUILD_HOSTNAME = "lok8s.local"
CACHE_HOSTNAME = "lok8s.cache"
STATE_DIR = ".kindreg"
NODE_CERTS_D = "/etc/containerd/certs.d"
NODE_CA = f"{NODE_CERTS_D}/.ca/rootCA.pem"
IFNAME_MAX = 15  # Linux interface names: 15 bytes plus NUL
BRIDGE_PREFIX = "kr-"
EXPORT_FORMAT = "kindreg/shared/v1"


def suggest_slot(taken: str) -> str:
    return DEFAULT_PROJECT_CIDR if taken != DEFAULT_PROJECT_CIDR else "10.125.124.0/24"


def capacity_note(where: str) -> str:
    if where == "the shared subnet":
        return ".2-.127; .128-.255 is the nodes' dynamic range"
    return ".103-.127; .101/.102 are build and cache, .128-.255 the nodes' dynamic range"


def bridge_name(network: str) -> str:
    """A Linux bridge name for the network, never longer than 15 characters."""
    full = BRIDGE_PREFIX + network
    if len(full) <= IFNAME_MAX:
        return full
    digest = hashlib.sha256(network.encode()).hexdigest()[:4]
    head = network[: IFNAME_MAX - len(BRIDGE_PREFIX) - len(digest) - 1].rstrip("-._")
    return f"{BRIDGE_PREFIX}{head}-{digest}"


def address(cidr: str, offset: int) -> str:
    return str(ipaddress.ip_network(cidr).network_address + offset)


@dataclass(frozen=True)
class NetworkPlan:
    name: str
    subnet: str
    scope: str  # "shared" | "project"

    @property
    def gateway(self) -> str:
        return address(self.subnet, GATEWAY_OFFSET)

    @property
    def ip_range(self) -> str:
        return f"{address(self.subnet, DYNAMIC_RANGE_OFFSET)}/{DYNAMIC_RANGE_PREFIX}"

    @property
    def bridge(self) -> str:
        return bridge_name(self.name)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "scope": self.scope,
            "subnet": self.subnet,
            "gateway": self.gateway,
            "ipRange": self.ip_range,
            "registryRange": f"{address(self.subnet, 2)}-{address(self.subnet, REGISTRY_LAST)}",
            "bridge": self.bridge,
        }

    @classmethod
    def from_json(cls, d: dict) -> "NetworkPlan":
        return cls(name=d["name"], subnet=d["subnet"], scope=d["scope"])


@dataclass(frozen=True)
class RegistryPlan:
    role: str  # "build" | "cache" | "mirror"
    name: str  # "build", "cache" or the mirror's name
    container: str
    volume: str
    network: str
    ip: str
    tls: bool
    host: str  # containerd host directory besides the IP: lok8s.local, docker.io, ...
    image: str
    scope: str  # "shared" | "project"
    owner: str  # the stack that owns the container
    upstream: Optional[str] = None
    ttl: Optional[str] = None
    username: Optional[str] = None  # may be a ${VAR} placeholder; never a secret
    password_ref: Optional[str] = None  # where the password comes from, never its value

    @property
    def port(self) -> int:
        return 443 if self.tls else 80

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.ip}"

    @property
    def capabilities(self) -> tuple[str, ...]:
        if self.role == "mirror":
            return ("pull", "resolve")
        return ("pull", "resolve", "push")

    def to_json(self) -> dict:
        return {
            "role": self.role,
            "name": self.name,
            "container": self.container,
            "network": self.network,
            "ip": self.ip,
            "port": self.port,
            "scheme": self.scheme,
            "url": self.url,
            "host": self.host,
            "upstream": self.upstream,
            "ttl": self.ttl,
            "username": self.username,
            "passwordFrom": self.password_ref,
            "volume": self.volume,
            "image": self.image,
            "scope": self.scope,
            "owner": self.owner,
        }

    @classmethod
    def from_json(cls, d: dict) -> "RegistryPlan":
        return cls(
            role=d["role"], name=d["name"], container=d["container"], volume=d["volume"],
            network=d["network"], ip=d["ip"], tls=d["scheme"] == "https", host=d["host"],
            image=d["image"], scope=d["scope"], owner=d["owner"], upstream=d.get("upstream"),
            ttl=d.get("ttl"), username=d.get("username"), password_ref=d.get("passwordFrom"),
        )


@dataclass(frozen=True)
class SharedView:
    """What a project uses of the shared stack: read from that stack, never recomputed."""

    stack: str
    network: NetworkPlan
    tls: bool
    mirrors: tuple[RegistryPlan, ...]

    @classmethod
    def from_export(cls, stack: str, exported: object) -> "SharedView":
        fix = f"run `pulumi up -s {stack}` first (the shared mirrors stack)"
        if not isinstance(exported, dict) or not exported:
            raise ConfigError(f'shared stack "{stack}"', [problem(
                "outputs.kindreg", f"is missing: the stack has no kindreg outputs; {fix}")])
        try:
            if exported.get("format") != EXPORT_FORMAT:
                raise KeyError("format")
            return cls(
                stack=exported["stack"],
                network=NetworkPlan.from_json(exported["network"]),
                tls=bool(exported["tls"]),
                mirrors=tuple(RegistryPlan.from_json(m) for m in exported["mirrors"]),
            )
        except (KeyError, TypeError) as err:
            raise ConfigError(f'shared stack "{stack}"', [problem(
                "outputs.kindreg", f"is not a {EXPORT_FORMAT} export (bad {err}); {fix}")]) from None


@dataclass(frozen=True)
class SharedPlan:
    stack: str
    network: NetworkPlan
    tls: bool
    mirrors: tuple[RegistryPlan, ...]
    delete_volumes: bool

    @property
    def role(self) -> str:
        return "shared"

    @property
    def registries(self) -> tuple[RegistryPlan, ...]:
        return self.mirrors

    @property
    def state_dir(self) -> str:
        return f"{STATE_DIR}/{self.stack}"

    @property
    def san(self) -> tuple[str, ...]:
        return san_list(self.mirrors, ())

    def view(self) -> SharedView:
        return SharedView(self.stack, self.network, self.tls, self.mirrors)

    def export(self) -> dict:
        """The stack output projects read through a StackReference."""
        return {
            "format": EXPORT_FORMAT,
            "stack": self.stack,
            "tls": self.tls,
            "network": self.network.to_json(),
            "mirrors": [m.to_json() for m in self.mirrors],
        }


@dataclass(frozen=True)
class NodesPlan:
    enabled: bool
    cluster: str
    control_planes: int
    workers: int
    image: Optional[str]

    @property
    def names(self) -> tuple[str, ...]:
        """Node container names as kind gives them."""
        def numbered(role: str, count: int) -> list[str]:
            return [f"{self.cluster}-{role}{'' if i == 1 else i}" for i in range(1, count + 1)]

        names = numbered("control-plane", self.control_planes) + numbered("worker", self.workers)
        if self.control_planes > 1:
            names.append(f"{self.cluster}-external-load-balancer")
        return tuple(names) if self.enabled else ()

    def to_json(self) -> dict:
        return {
            "enabled": self.enabled,
            "cluster": self.cluster,
            "controlPlanes": self.control_planes,
            "workers": self.workers,
            "image": self.image,
            "names": list(self.names),
        }


@dataclass(frozen=True)
class ProjectPlan:
    stack: str
    project: str
    tls: bool
    delete_volumes: bool
    network: NetworkPlan
    shared: Optional[SharedView]
    registries: tuple[RegistryPlan, ...]  # owned by this stack: build, cache, own mirrors
    mirrors: tuple[RegistryPlan, ...]  # what the nodes pull through (shared or own)
    nodes: NodesPlan
    host_port: Optional[int] = None

    @property
    def role(self) -> str:
        return "project"

    @property
    def build(self) -> RegistryPlan:
        return self.registries[0]

    @property
    def cache(self) -> RegistryPlan:
        return self.registries[1]

    @property
    def state_dir(self) -> str:
        return f"{STATE_DIR}/{self.stack}"

    @property
    def certs_dir(self) -> str:
        return f"{self.state_dir}/certs.d"

    @property
    def endpoints(self) -> tuple[RegistryPlan, ...]:
        """Every registry the nodes are configured for: build, cache, then mirrors."""
        return self.registries[:2] + self.mirrors

    @property
    def needs_ca(self) -> bool:
        return any(r.tls for r in self.endpoints)

    @property
    def san(self) -> tuple[str, ...]:
        local = ("localhost", "127.0.0.1") if self.host_port else ()
        return san_list(self.registries, (BUILD_HOSTNAME, CACHE_HOSTNAME, *local))


def san_list(registries: tuple[RegistryPlan, ...], hostnames: tuple[str, ...]) -> tuple[str, ...]:
    """IPs first (plan order), then framework hostnames, then mirrored domains; no repeats."""
    ordered = [r.ip for r in registries] + list(hostnames)
    ordered += [r.host.split(":")[0] for r in registries if r.role == "mirror"]
    return tuple(dict.fromkeys(ordered))


# ---------------------------------------------------------------- planning

def plan_shared(cfg: SharedStackConfig, stack: str) -> SharedPlan:
    net = NetworkPlan(cfg.network.name, cfg.network.cidr, "shared")
    mirrors = tuple(
        _mirror(m, f"{cfg.prefix}-registry-{m.name}", net, SHARED_MIRROR_FIRST + i, cfg.tls,
                cfg.image, "shared", stack)
        for i, m in enumerate(cfg.mirrors)
    )
    return SharedPlan(stack, net, cfg.tls, mirrors, cfg.delete_volumes)


def plan_project(cfg: ProjectConfig, stack: str, shared: Optional[SharedView],
                 source: str = "config", prefix: str = "") -> ProjectPlan:
    """The project's plan; in shared mode `shared` is the shared stack's declaration."""
    net = NetworkPlan(cfg.network_name, cfg.network.cidr, "project")
    regs = cfg.registries
    name_prefix = regs.prefix or cfg.network_name

    def own(role: str, offset: int, host: str) -> RegistryPlan:
        return RegistryPlan(
            role=role, name=role, container=f"{name_prefix}-registry-{role}",
            volume=f"{name_prefix}-registry-{role}-data", network=net.name,
            ip=address(net.subnet, offset), tls=regs.tls, host=host, image=regs.image,
            scope="project", owner=stack,
        )

    owned = [own("build", BUILD_OFFSET, BUILD_HOSTNAME), own("cache", CACHE_OFFSET, CACHE_HOSTNAME)]
    if cfg.shared_mode:
        if shared is None:
            raise ConfigError(source, [problem(
                _at(prefix, "registries.shared.stack"),
                f'names the shared stack "{cfg.registries.shared.stack}", which was not found; '
                f"run `pulumi up -s {cfg.registries.shared.stack}` first, or set "
                "registries.shared.enabled: false")])
        mirrors = _shared_mirrors(cfg, shared, source, prefix)
    else:
        mirrors = tuple(
            _mirror(m, f"{name_prefix}-registry-{m.name}", net, PROJECT_MIRROR_FIRST + i,
                    regs.tls, regs.image, "project", stack)
            for i, m in enumerate(regs.mirrors)
        )
        owned += mirrors
    nodes = NodesPlan(cfg.nodes.enabled, cfg.project, cfg.nodes.control_planes,
                      cfg.nodes.workers, cfg.nodes.image)
    return ProjectPlan(
        stack=stack, project=cfg.project, tls=regs.tls, delete_volumes=regs.delete_volumes,
        network=net, shared=shared if cfg.shared_mode else None, registries=tuple(owned),
        mirrors=tuple(mirrors), nodes=nodes, host_port=regs.host_port,
    )


def _mirror(m: MirrorSpec, container: str, net: NetworkPlan, offset: int, tls: bool,
            image: str, scope: str, stack: str) -> RegistryPlan:
    return RegistryPlan(
        role="mirror", name=m.name, container=container, volume=f"{container}-data",
        network=net.name, ip=address(net.subnet, offset), tls=tls, host=m.registry_host,
        image=image, scope=scope, owner=stack, upstream=m.url, ttl=m.ttl,
        username=m.username,
        password_ref=m.password,
    )


def _at(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if prefix else path


def _shared_mirrors(cfg: ProjectConfig, shared: SharedView, source: str,
                    prefix: str) -> tuple[RegistryPlan, ...]:
    """The shared stack's mirrors this project uses; any claim it makes must agree."""
    problems = _shared_network_disagreements(cfg, shared, prefix)
    by_name = {m.name: m for m in shared.mirrors}
    used = shared.mirrors
    if cfg.set_fields("registries", "mirrors"):
        used = []
        for i, m in enumerate(cfg.registries.mirrors):
            problems += _mirror_disagreements(m, by_name.get(m.name), shared,
                                              _at(prefix, f"registries.mirrors[{i}]"))
            if m.name in by_name:
                used.append(by_name[m.name])
        used = tuple(used)
    if problems:
        raise ConfigError(source, problems)
    return used


def _shared_network_disagreements(cfg: ProjectConfig, shared: SharedView,
                                  prefix: str) -> list[Problem]:
    out = []
    claimed = cfg.registries.shared.network
    where = f'the shared stack "{shared.stack}" has network {shared.network.name} ' \
            f"{shared.network.subnet}"
    for fld, theirs in (("name", shared.network.name), ("cidr", shared.network.subnet)):
        if cfg.set_fields("registries", "shared", "network", fld) and getattr(claimed, fld) != theirs:
            out.append(problem(
                _at(prefix, f"registries.shared.network.{fld}"),
                f'disagrees with the shared stack: {where}; set this field to "{theirs}" '
                f"(or remove it), or change Pulumi.{shared.stack}.yaml and run "
                f"`pulumi up -s {shared.stack}`",
                getattr(claimed, fld)))
    if cfg.network.cidr == shared.network.subnet:
        out.append(problem(
            _at(prefix, "network.cidr"),
            f"is the shared registries' subnet ({where}); give the project its own slot, "
            f'e.g. "{suggest_slot(cfg.network.cidr)}"', cfg.network.cidr))
    return out


def _mirror_disagreements(m: MirrorSpec, theirs: Optional[RegistryPlan], shared: SharedView,
                          path: str) -> list[Problem]:
    if theirs is None:
        have = ", ".join(x.name for x in shared.mirrors) or "none"
        return [problem(
            path, f'names mirror "{m.name}", which the shared stack "{shared.stack}" does not '
            f"have (it has: {have}); add it to Pulumi.{shared.stack}.yaml and run "
            f"`pulumi up -s {shared.stack}`, or remove it here")]
    out = []
    for fld, mine, other in (("url", m.url, theirs.upstream), ("host", m.registry_host, theirs.host)):
        if mine != other:
            out.append(problem(
                f'{path}.{fld}', f'disagrees with the shared stack "{shared.stack}", whose '
                f'mirror {m.name} has {fld} "{other}"; use "{other}" here, or change the '
                f"shared stack", mine))
    return out
