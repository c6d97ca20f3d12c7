"""The plan: every network, registry, IP, port, name, alias and volume, decided in one place.

The models are typed and validate what they read: the shared stack's export (what projects
read through a StackReference) and plan documents given to `diff` are checked field by field,
and derived values (gateway, ranges, port, scheme, URL, node names) must agree with what they
derive from. The address layout itself is in `layout.py`.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from pydantic.alias_generators import to_camel

from . import diskbound, endpoint, layout
from .quantity import duration_seconds
from .grammar import LINUX_HOSTNAME_MAX
from .config import (MIRRORS_MAX_SIZE, AuthSpec, FrontCacheSpec, MirrorSpec, ProjectConfig, S3StorageSpec,
                     SharedStackConfig)
from .errors import ConfigError, Problem, problem
from .vocabulary import (BUILD_HOSTNAME, CACHE_HOSTNAME, DEFAULT_MIRROR_NAMES, DOCKER_LOGIN_SOURCE, HOSTNAMES,
                         LOCAL_NAMES, PUBLISH_ADDRESS, STATE_DIR, Role, Scope, TreePlace)

EXPORT_FORMAT = "kindreg/shared/v1"
CERTS_VOLUME_SUFFIX = "containerd-certs"
PORTS = {"http": 80, "https": 443}


class PlanModel(BaseModel):
    """Frozen, strict about unknown keys, camelCase in JSON (the plan document's spelling)."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel,
                              populate_by_name=True)

    def to_json(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)


# Derived values (gateway, port, URL, node names) are checked against what they derive from
# when another stack's export is read; a plan document edited by hand for `diff` is not.
CHECK_DERIVED = {"check_derived": True}


def _checking(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("check_derived"))


class NetworkPlan(PlanModel):
    name: str
    scope: Scope
    subnet: str
    gateway: str
    ip_range: str
    registry_range: str
    bridge: str

    @classmethod
    def of(cls, name: str, subnet: str, scope: Scope) -> "NetworkPlan":
        return cls(name=name, scope=scope, subnet=subnet, **_derived_network(name, subnet))

    @model_validator(mode="after")
    def _derived(self, info: ValidationInfo) -> "NetworkPlan":
        if not _checking(info):
            return self
        for field, expected in _derived_network(self.name, self.subnet).items():
            if getattr(self, field) != expected:
                raise ValueError(f"{to_camel(field)} {getattr(self, field)!r} does not follow from "
                                 f"subnet {self.subnet} and name {self.name}")
        return self


def _derived_network(name: str, subnet: str) -> dict[str, str]:
    return {"gateway": layout.gateway(subnet), "ip_range": layout.dynamic_range(subnet),
            "registry_range": layout.registry_range(subnet), "bridge": layout.bridge_name(name)}


class FrontPlan(PlanModel):
    """A mirror's front cache: nginx between the registry's proxy and the upstream."""

    container: str  # also its DNS name on the mirror's network
    image: str
    max_size: str
    keep: str

    @property
    def url(self) -> str:
        """What the mirror's registry proxies to instead of the upstream."""
        return f"http://{self.container}:{FRONT_PORT}"


FRONT_PORT = 8080
FRONT_SUFFIX = "-front"
ANY_ADDRESS = ("0.0.0.0", PUBLISH_ADDRESS)  # published there, no address of its own to name


class S3Plan(PlanModel):
    """A mirror's storage on S3: distribution's s3 driver parameters (the keys are not here)."""

    bucket: str
    region: str
    endpoint: Optional[str]
    force_path_style: bool
    root_directory: str  # this mirror's own prefix in the bucket

    @property
    def secure(self) -> bool:
        return self.endpoint is None or self.endpoint.startswith("https:")

    @property
    def where(self) -> str:
        """The bucket and prefix, as messages name them."""
        return f"s3://{self.bucket}/{self.root_directory}" + (f" at {self.endpoint}" if self.endpoint else "")


class RegistryPlan(PlanModel):
    """One registry: build, cache or a pull-through mirror (field order is the JSON's)."""

    role: Role
    name: str  # "build", "cache" or the mirror's name
    container: str
    network: str
    ip: str
    port: int
    scheme: Literal["http", "https"]
    url: str
    host: str  # containerd host directory besides the IP: lok8s.local, docker.io, ...
    upstream: Optional[str] = None
    ttl: Optional[str] = None
    username: Optional[str] = None  # may be a ${VAR} placeholder; never a secret
    password_from: Optional[str] = None  # where the password comes from, never its value
    volume: str
    image: str
    scope: Scope
    owner: str  # the stack that owns the container
    # Decisions that are not part of the plan document (kindreg/plan/v1 keeps its keys):
    aliases: tuple[str, ...] = Field(default=(), exclude=True)  # DNS names on its network
    # Published on 127.0.0.1 of the engine's host, so the host's commands reach it where
    # container addresses are not routable (Docker Desktop, Colima, rootless engines): on
    # `host_port`, or on a free port the engine picks (two stacks can never collide on those).
    publish: bool = Field(default=False, exclude=True)
    host_port: Optional[int] = Field(default=None, exclude=True)
    front: Optional[FrontPlan] = Field(default=None, exclude=True)  # a mirror's front cache
    # A bounded mirror's share of the disk bound (kindreg.core.diskbound), in bytes: everything
    # it keeps, its front cache's part included, what its keeper holds its volume to.
    keep_bytes: Optional[int] = Field(default=None, exclude=True)
    in_use_seconds: Optional[int] = Field(default=None, exclude=True)  # read this recently: kept
    publish_address: str = Field(default=PUBLISH_ADDRESS, exclude=True)  # with `publish`: where
    # A registry that mirrors the upstream already (a team mirror): fetched from instead of the
    # upstream, which stays `upstream` (containerd's fallback, kindreg.core.render.hosts_toml).
    via: Optional[str] = Field(default=None, exclude=True)
    via_ca: bool = Field(default=False, exclude=True)  # `via` is signed by the stack's viaCa
    s3: Optional[S3Plan] = Field(default=None, exclude=True)  # storage on S3 instead of the volume
    auth_users: tuple[str, ...] = Field(default=(), exclude=True)  # basic auth: these users only

    @classmethod
    def of(cls, *, tls: bool, ip: str, **fields) -> "RegistryPlan":
        scheme = "https" if tls else "http"
        return cls(ip=ip, port=PORTS[scheme], scheme=scheme, url=f"{scheme}://{ip}", **fields)

    @model_validator(mode="after")
    def _derived(self, info: ValidationInfo) -> "RegistryPlan":
        if not _checking(info):
            return self
        if self.port != PORTS[self.scheme] or self.url != f"{self.scheme}://{self.ip}":
            raise ValueError(f"port {self.port} and url {self.url} do not follow from scheme "
                             f"{self.scheme} and ip {self.ip}")
        if (self.role is Role.MIRROR) != (self.upstream is not None):
            raise ValueError("a mirror has an upstream, a build or cache registry has none")
        return self

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def capabilities(self) -> tuple[str, ...]:
        return ("pull", "resolve", "push") if self.role.pushable else ("pull", "resolve")

    @property
    def fetches_from(self) -> Optional[str]:
        """Where the mirror's fills come from: its `via` registry, else the upstream itself."""
        return self.via or self.upstream


class SharedExport(PlanModel):
    """What a project reads of the shared stack: its `kindreg` output (kindreg/shared/v1)."""

    format: Literal["kindreg/shared/v1"] = EXPORT_FORMAT
    stack: str
    tls: bool
    network: NetworkPlan
    mirrors: tuple[RegistryPlan, ...]

    @classmethod
    def read(cls, stack: str, exported: object) -> "SharedExport":
        """The export of stack `stack`, or a ConfigError saying what is wrong and the fix."""
        fix = f"run `pulumi up -s {stack}` first (the shared mirrors stack)"
        if not isinstance(exported, dict) or not exported:
            raise ConfigError(f'shared stack "{stack}"', [problem(
                "outputs.kindreg", f"is missing: the stack has no kindreg outputs; {fix}")])
        try:
            return cls.model_validate(exported, context=CHECK_DERIVED)
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top)"
            raise ConfigError(f'shared stack "{stack}"', [problem(
                "outputs.kindreg", f"is not a {EXPORT_FORMAT} export ({where}: {first['msg']}); "
                f"{fix}")]) from None


class SharedPlan(SharedExport):
    """The shared stack: its export plus what only the shared stack itself needs."""

    image: str = Field(exclude=True)
    delete_volumes: bool = Field(exclude=True)

    @property
    def role(self) -> Scope:
        return Scope.SHARED

    @property
    def registries(self) -> tuple[RegistryPlan, ...]:
        return self.mirrors

    @property
    def state_dir(self) -> str:
        return f"{STATE_DIR}/{self.stack}"

    publish_names: tuple[str, ...] = Field(default=(), exclude=True)

    @property
    def san(self) -> tuple[str, ...]:
        published = [m for m in self.mirrors if m.publish]
        # Other machines reach published mirrors by the address they listen on (when it is one
        # address, not all of them) and by the names the stack gives.
        reached = tuple(dict.fromkeys(m.publish_address for m in published if m.publish_address not in ANY_ADDRESS))
        return san_list(self.mirrors, (*LOCAL_NAMES, *reached, *self.publish_names) if published else ())

    def export(self) -> SharedExport:
        return SharedExport.model_validate(self.model_dump())


class NodesPlan(PlanModel):
    enabled: bool
    cluster: str
    control_planes: int
    workers: int
    image: Optional[str]
    names: tuple[str, ...]

    @classmethod
    def of(cls, enabled: bool, cluster: str, control_planes: int, workers: int,
           image: Optional[str]) -> "NodesPlan":
        return cls(enabled=enabled, cluster=cluster, control_planes=control_planes, workers=workers,
                   image=image, names=kind_node_names(enabled, cluster, control_planes, workers))

    @model_validator(mode="after")
    def _derived(self, info: ValidationInfo) -> "NodesPlan":
        expected = kind_node_names(self.enabled, self.cluster, self.control_planes, self.workers)
        if _checking(info) and self.names != expected:
            raise ValueError(f"names {list(self.names)} are not the ones kind gives")
        return self


def kind_node_names(enabled: bool, cluster: str, control_planes: int, workers: int) -> tuple[str, ...]:
    """Node container names as kind gives them."""
    if not enabled:
        return ()

    def numbered(role: str, count: int) -> list[str]:
        return [f"{cluster}-{role}{'' if i == 1 else i}" for i in range(1, count + 1)]

    names = numbered("control-plane", control_planes) + numbered("worker", workers)
    if control_planes > 1:
        names.append(f"{cluster}-external-load-balancer")
    return tuple(names)


class ProjectPlan(PlanModel):
    stack: str
    project: str
    tls: bool
    delete_volumes: bool
    network: NetworkPlan
    shared: Optional[SharedExport]
    registries: tuple[RegistryPlan, ...]  # owned by this stack: build, cache, own mirrors
    mirrors: tuple[RegistryPlan, ...]  # what the nodes pull through (shared or own)
    nodes: NodesPlan
    host_port: Optional[int] = None
    # The containerd certs.d tree: the host directory `certs_dir`, or the Docker volume
    # `certs_volume` (a remote engine: nothing of the project exists on its machine).
    certs_volume: str
    certs_tree: TreePlace = TreePlace.AUTO

    def tree_in_volume(self, docker_host: Optional[str]) -> bool:
        """Whether the tree is the volume, for an engine at `docker_host` (None: Docker's default)."""
        return self.certs_tree is TreePlace.VOLUME or (
            self.certs_tree is TreePlace.AUTO and not endpoint.is_local(docker_host))

    @property
    def role(self) -> Scope:
        return Scope.PROJECT

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
        # The build and cache registries are always published: the host may call them localhost.
        return san_list(self.registries, (BUILD_HOSTNAME, CACHE_HOSTNAME, *LOCAL_NAMES))


def san_list(registries: tuple[RegistryPlan, ...], hostnames: tuple[str, ...]) -> tuple[str, ...]:
    """IPs first (plan order), then framework hostnames, then mirrored domains; no repeats."""
    ordered = [r.ip for r in registries] + list(hostnames)
    ordered += [r.host.split(":")[0] for r in registries if r.role is Role.MIRROR]
    return tuple(dict.fromkeys(ordered))


# ---------------------------------------------------------------- planning

def plan_shared(cfg: SharedStackConfig, stack: str, source: str = "config", prefix: str = "") -> SharedPlan:
    net = NetworkPlan.of(cfg.network.name, cfg.network.cidr, Scope.SHARED)
    mirrors = _served(_mirrors(cfg.mirrors, cfg.prefix, net, cfg.tls, cfg.image, stack, cfg.publish_mirrors,
                               cfg.front_cache), via_ca=cfg.via_ca is not None, s3=cfg.storage.s3, auth=cfg.auth,
                      publish_address=cfg.publish_address)
    at = _indexed(cfg.mirrors, field_path(prefix, cfg.mirrors_path))
    mirrors, problems = _bounded(mirrors, cfg.mirrors, cfg.mirrors_max_size, cfg.mirrors_in_use_for,
                                 cfg.front_cache, field_path(prefix, MIRRORS_MAX_SIZE), at)
    problems += _names_too_long(mirrors, field_path(prefix, "prefix"), at)
    problems += _certs_dir_clashes(mirrors, at)
    if problems:
        raise ConfigError(source, problems)
    return SharedPlan(stack=stack, network=net, tls=cfg.tls, mirrors=mirrors, image=cfg.image,
                      delete_volumes=cfg.delete_volumes, publish_names=tuple(cfg.publish_names))


def plan_project(cfg: ProjectConfig, stack: str, shared: Optional[SharedExport],
                 source: str = "config", prefix: str = "") -> ProjectPlan:
    """The project's plan; in shared mode `shared` is the shared stack's export."""
    net = NetworkPlan.of(cfg.network_name, cfg.network.cidr, Scope.PROJECT)
    regs = cfg.registries
    name_prefix = regs.prefix or cfg.network_name

    def own(role: Role, offset: int) -> RegistryPlan:
        return RegistryPlan.of(
            role=role, name=role.value, container=f"{name_prefix}-registry-{role}",
            volume=f"{name_prefix}-registry-{role}-data", network=net.name,
            ip=layout.address(net.subnet, offset), tls=regs.tls, host=HOSTNAMES[role], image=regs.image,
            scope=Scope.PROJECT, owner=stack,
            # Pods resolve lok8s.local / lok8s.cache through Docker's DNS on the project network.
            aliases=(HOSTNAMES[role],),
            publish=True, host_port=regs.host_port if role is Role.BUILD else None,
        )

    owned = [own(Role.BUILD, layout.BUILD_OFFSET), own(Role.CACHE, layout.CACHE_OFFSET)]
    if cfg.shared_mode:
        if shared is None:
            raise ConfigError(source, [problem(
                field_path(prefix, "registries.shared.stack"),
                f'names the shared stack "{cfg.registries.shared.stack}", which was not found; '
                f"run `pulumi up -s {cfg.registries.shared.stack}` first, or set "
                "registries.shared.enabled: false")])
        mirrors = _shared_mirrors(cfg, shared, source, prefix)
    else:
        mirrors = _served(_mirrors(regs.mirrors, name_prefix, net, regs.tls, regs.image, stack, regs.publish_mirrors,
                                   regs.front_cache), via_ca=regs.via_ca is not None)
    if cfg.shared_mode:  # a clash with a shared mirror is fixed in the shared stack it names
        at = lambda name, field: field_path(prefix, "registries.shared.stack")  # noqa: E731
        problems = []
    else:
        at = _indexed(regs.mirrors, field_path(prefix, "registries." + regs.mirrors_path))
        mirrors, problems = _bounded(mirrors, regs.mirrors, regs.mirrors_max_size, regs.mirrors_in_use_for,
                                     regs.front_cache, field_path(prefix, f"registries.{MIRRORS_MAX_SIZE}"), at)
        owned += mirrors
    problems += _names_too_long(tuple(owned), field_path(prefix, "registries.prefix" if regs.prefix else "network.name"), at)
    problems += _certs_dir_clashes(tuple(owned[:2]) + tuple(mirrors), at)
    if problems:
        raise ConfigError(source, problems)
    nodes = NodesPlan.of(cfg.nodes.enabled, cfg.project, cfg.nodes.control_planes,
                         cfg.nodes.workers, cfg.nodes.image)
    return ProjectPlan(
        stack=stack, project=cfg.project, tls=regs.tls, delete_volumes=regs.delete_volumes,
        network=net, shared=shared if cfg.shared_mode else None, registries=tuple(owned),
        mirrors=tuple(mirrors), nodes=nodes, host_port=regs.host_port,
        certs_volume=f"{name_prefix}-{CERTS_VOLUME_SUFFIX}", certs_tree=cfg.nodes.certs_tree,
    )


def _mirrors(specs: list[MirrorSpec], prefix: str, net: NetworkPlan, tls: bool, image: str,
             stack: str, publish: bool, front: FrontCacheSpec) -> tuple[RegistryPlan, ...]:
    return tuple(_mirror(m, f"{prefix}-registry-{m.name}", net,
                         layout.mirror_offset(m.name, net.scope, DEFAULT_MIRROR_NAMES, m.address, net.subnet),
                         tls, image, stack, publish, front) for m in specs)


def _bounded(mirrors: tuple[RegistryPlan, ...], specs: list[MirrorSpec], bound: Optional[str], in_use: str,
             front: FrontCacheSpec, stack_at: str, at) -> tuple[tuple[RegistryPlan, ...], list[Problem]]:
    """The mirrors with their shares of the disk bound (kindreg.core.diskbound)."""
    front_max = diskbound.nginx_bytes(front.max_size) if front.enabled else None
    found, problems = diskbound.shares([diskbound.Mirror(m.name, m.max_size, front_max) for m in specs],
                                       bound, stack_at, lambda name: at(name, "maxSize"))
    seconds = max(1, round(duration_seconds(in_use)))
    return tuple(_with_share(r, found.get(r.name), seconds) for r in mirrors), problems


def _with_share(reg: RegistryPlan, share: Optional[diskbound.Share], in_use: int) -> RegistryPlan:
    if share is None:
        return reg
    front = reg.front and reg.front.model_copy(update={"max_size": diskbound.nginx_size(share.front),
                                                       "keep": diskbound.front_keep(reg.front.keep, in_use)})
    return reg.model_copy(update={"keep_bytes": share.bound,
                                  "in_use_seconds": in_use, "front": front})


def _front(container: str, spec: FrontCacheSpec) -> Optional[FrontPlan]:
    if not spec.enabled:
        return None
    return FrontPlan(container=container + FRONT_SUFFIX, image=spec.image, max_size=spec.max_size,
                     keep=spec.keep)


def _mirror(m: MirrorSpec, container: str, net: NetworkPlan, offset: int, tls: bool,
            image: str, stack: str, publish: bool = False,
            front: FrontCacheSpec = FrontCacheSpec()) -> RegistryPlan:
    # Mirrors get no DNS alias: naming a container docker.io would hijack that name.
    return RegistryPlan.of(
        role=Role.MIRROR, name=m.name, container=container, volume=f"{container}-data",
        network=net.name, ip=layout.address(net.subnet, offset), tls=tls, host=m.registry_host,
        image=image, scope=net.scope, owner=stack, upstream=m.url, ttl=m.ttl,
        username=m.username, password_from=DOCKER_LOGIN_SOURCE if m.use_docker_login else m.password,
        publish=publish, host_port=m.host_port, front=_front(container, front), via=m.via,
    )


def _served(mirrors: tuple[RegistryPlan, ...], *, via_ca: bool, s3: Optional[S3StorageSpec] = None,
            auth: Optional[AuthSpec] = None, publish_address: str = PUBLISH_ADDRESS) -> tuple[RegistryPlan, ...]:
    """The stack-wide settings of how its mirrors serve and store: published where, behind
    which users, on which bucket, trusting which CA for their `via` registries."""
    return tuple(r.model_copy(update={
        "publish_address": publish_address, "via_ca": via_ca and r.via is not None,
        "auth_users": tuple(auth.users) if auth else (),
        "s3": s3 and S3Plan(bucket=s3.bucket, region=s3.region, endpoint=s3.endpoint,
                            force_path_style=s3.force_path_style, root_directory=f"{s3.root_directory}/{r.name}"),
    }) for r in mirrors)


def _indexed(specs: list[MirrorSpec], path: str):
    """The config path of a mirror, by its name: `registries.mirrors[2]`."""
    index = {m.name: i for i, m in enumerate(specs)}
    return lambda name, field: f"{path}[{index[name]}].{field}"


def _names_too_long(registries: tuple[RegistryPlan, ...], prefix_field: str, mirror_at) -> list[Problem]:
    """A container's name is its hostname: at most 63 characters."""
    out = []
    for r in registries:
        # A front cache's name is a DNS name its registry resolves: the same limit.
        longest = r.front.container if r.front else r.container
        if len(longest) > LINUX_HOSTNAME_MAX:
            fix = prefix_field if r.role is not Role.MIRROR else f"{prefix_field} or the name of mirror {r.name}"
            out.append(problem(mirror_at(r.name, "name") if r.role is Role.MIRROR else prefix_field,
                               f"makes the container name {longest} ({len(longest)} characters); a "
                               f"container's name is its hostname, at most {LINUX_HOSTNAME_MAX}: shorten {fix}"))
    return out


def _certs_dir_clashes(endpoints: tuple[RegistryPlan, ...], mirror_at) -> list[Problem]:
    """Two registries that would write the same certs.d/<dir>/hosts.toml (a mirror's host that
    is another registry's address or name) would overwrite each other: refused."""
    owner: dict[str, RegistryPlan] = {}
    out = []
    for r in endpoints:
        for directory in dict.fromkeys((r.host, r.ip)):
            first = owner.setdefault(directory, r)
            if first is not r:
                out.append(problem(mirror_at(r.name, "host"), f"gives mirror {r.name} the host {directory}, which "
                                   f"is also {_what(first)}: both would write certs.d/{directory}/hosts.toml; "
                                   "set the mirror's host to the registry it mirrors"))
    return out


def _what(r: RegistryPlan) -> str:
    return f"mirror {r.name}'s" if r.role is Role.MIRROR else f"the {r.role} registry's name or address"


def field_path(prefix: str, path: str) -> str:
    """`path` under the source's `prefix` (none for the package's inputs)."""
    return f"{prefix}.{path}" if prefix else path


def _shared_mirrors(cfg: ProjectConfig, shared: SharedExport, source: str,
                    prefix: str) -> tuple[RegistryPlan, ...]:
    """The shared stack's mirrors this project uses; any claim it makes must agree."""
    problems = _shared_network_disagreements(cfg, shared, prefix)
    by_name = {m.name: m for m in shared.mirrors}
    used = shared.mirrors
    if cfg.set_fields("registries", "mirrors"):
        used = []
        for i, m in enumerate(cfg.registries.mirrors):
            problems += _mirror_disagreements(m, by_name.get(m.name), shared,
                                              field_path(prefix, f"registries.mirrors[{i}]"))
            if m.name in by_name:
                used.append(by_name[m.name])
        used = tuple(used)
    if problems:
        raise ConfigError(source, problems)
    return used


def _shared_network_disagreements(cfg: ProjectConfig, shared: SharedExport,
                                  prefix: str) -> list[Problem]:
    out = []
    claimed = cfg.registries.shared.network
    where = f'the shared stack "{shared.stack}" has network {shared.network.name} ' \
            f"{shared.network.subnet}"
    for fld, theirs in (("name", shared.network.name), ("cidr", shared.network.subnet)):
        if cfg.set_fields("registries", "shared", "network", fld) and getattr(claimed, fld) != theirs:
            out.append(problem(
                field_path(prefix, f"registries.shared.network.{fld}"),
                f'disagrees with the shared stack: {where}; set this field to "{theirs}" '
                f"(or remove it), or change Pulumi.{shared.stack}.yaml and run "
                f"`pulumi up -s {shared.stack}`",
                getattr(claimed, fld)))
    if cfg.network.cidr == shared.network.subnet:
        out.append(problem(
            field_path(prefix, "network.cidr"),
            f"is the shared registries' subnet ({where}); give the project its own slot, "
            f'e.g. "{layout.suggest_slot(cfg.network.cidr)}"', cfg.network.cidr))
    return out


def _mirror_disagreements(m: MirrorSpec, theirs: Optional[RegistryPlan], shared: SharedExport,
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
