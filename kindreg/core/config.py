"""Configuration models: strict shape and per-field rules.

Two stack roles share these models:
- the shared stack (`kindreg:shared`) declares the machine-wide mirrors;
- a project stack (`kindreg:cluster`, or a lok8s file named by `kindreg:clusterFile`)
  declares one project's network, build/cache registries and kind nodes.

Rules that relate several fields (overlapping subnets, duplicate mirrors, address
capacity) live in `validation.py`, so that they still run when an unrelated field is invalid
and every problem is reported at once.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from . import grammar, imageref, quantity

from .layout import DEFAULT_PROJECT_CIDR, DEFAULT_SHARED_CIDR
from .vocabulary import (DEFAULT_MIRROR_HOSTS, DEFAULT_MIRRORS, HOSTNAMES, KNOWN_UPSTREAMS, PUBLISH_ADDRESS, Role,
                         TreePlace)

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Docker accepts these characters in network names.
NETWORK_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
PLACEHOLDER_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:[-=][^}]*)?\}$")
SECRET_PLACEHOLDER_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")  # no default: a default is a literal
SECRET_FIELDS = ("password",)
# Where a mirror's password goes as a secret: a stack's secret config, or the package's input.
SECRET_FIX = ("`pulumi config set --secret --path kindreg:mirrorCredentials.<mirror>.password` "
              "(from the package: its mirrorCredentials input)")
KIND_NODE_SUFFIX = "-external-load-balancer"  # the longest name kind gives a node
DURATION_RE = re.compile(r"^([0-9]+(ns|us|ms|s|m|h))+$")

RESERVED_MIRROR_NAMES = (Role.BUILD.value, Role.CACHE.value)
DEFAULT_SHARED_NETWORK = "lok8s-registries"
DEFAULT_SHARED_STACK = "shared"
DEFAULT_SHARED_PREFIX = "lok8s"
DEFAULT_REGISTRY_IMAGE = "registry:3"
DEFAULT_FRONT_IMAGE = "nginx:stable-alpine"
# nginx's own size and time syntax (http://nginx.org/en/docs/syntax.html): what maxSize and
# keep are written into the front cache's config as.
NGINX_SIZE_RE = re.compile(r"^[1-9][0-9]{0,5}[kmg]$")
NGINX_TIME_RE = re.compile(r"^[1-9][0-9]{0,5}[smhd]$")
MAX_CONTROL_PLANES = 5
MAX_WORKERS = 20

# Labels that say nothing about which registry a mirror is (registry-1.docker.io -> io-docker).
_NOISE_LABELS = {"registry", "registry-1", "www", "index"}


def _fail(message: str, **ctx: object) -> PydanticCustomError:
    return PydanticCustomError("kindreg", message, ctx or None)


def _secret_fail(message: str) -> PydanticCustomError:
    """An error about a value that must never be quoted (it is, or may hold, a secret)."""
    return PydanticCustomError("kindreg_secret", message)


def _check(error: Optional[str]) -> None:
    if error:
        raise _fail(error.replace("{", "{{").replace("}", "}}"))


class Strict(BaseModel):
    """Strict decoding: camelCase keys only, no unknown fields, no type coercion, and no
    control character in any text (a newline in a value could end a line of a file)."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, alias_generator=to_camel, validate_default=False
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, v: object, info: ValidationInfo) -> object:
        if isinstance(v, str) and (error := grammar.control_characters(v)):
            raise (_secret_fail(error) if info.field_name in SECRET_FIELDS else _fail(error))
        return v


def check_cidr(value: str) -> str:
    """A /24 IPv4 network written as its network address (one kindreg slot)."""
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise _fail('is not an IPv4 subnet; write it like "10.125.125.0/24"') from None
    if "/" not in value:
        raise _fail('has no prefix length; write it like "10.125.125.0/24"')
    if iface.version != 4:
        raise _fail('is IPv6; kindreg plans IPv4 /24 subnets, e.g. "10.125.125.0/24"')
    net = iface.network
    if net.prefixlen != 24:
        raise _fail(
            'is a /{bits}; kindreg plans one /24 per network, e.g. "{example}"',
            bits=net.prefixlen,
            example=f"{ipaddress.ip_network(value, strict=False).network_address}/24",
        )
    if iface.ip != net.network_address:
        raise _fail('has host bits set; use the network address "{net}"', net=str(net))
    return value


def check_name(value: str, what: str, limit: int = grammar.LINUX_HOSTNAME_MAX,
               why: str = "it becomes part of container names, which are hostnames") -> str:
    if not NAME_RE.match(value):
        raise _fail(
            "is not a valid {what}; use lowercase letters, digits and '-', "
            "starting with a letter or digit (pattern ^[a-z0-9][a-z0-9-]*$)",
            what=what,
        )
    _check(grammar.length(value, limit, why))
    return value


def check_url(value: str) -> str:
    error = grammar.url(value)
    if error and "credentials" in error:
        raise _secret_fail(error)  # the URL holds a password: never quoted
    _check(error)
    return value.rstrip("/")


def check_image(value: str) -> str:
    try:
        imageref.parse(value)
    except ValueError:
        raise _fail('is not an image reference; write it like "registry:3" or '
                    '"ghcr.io/org/registry:3.0.0"') from None
    return value


def check_size(value: Optional[str]) -> Optional[str]:
    if value is not None:
        try:
            quantity.size_bytes(value)
        except quantity.QuantityError as err:
            _check(str(err))
    return value


# The bound of a stack's mirrors. `mirrors` is a list, so the form `mirrors: {maxSize, inUseFor,
# list}` is moved into these fields by the loader (kindreg.core.load), named as written.
MIRRORS_MAX_SIZE = "mirrors.maxSize"
MIRRORS_IN_USE_FOR = "mirrors.inUseFor"  # content read this recently is in use: never evicted
MIRRORS_LIST = "list"
DEFAULT_IN_USE_FOR = "1m"


def check_duration(value: str) -> str:
    try:
        quantity.duration_seconds(value)
    except quantity.QuantityError as err:
        _check(str(err))
    return value


def host_of_url(url: str) -> str:
    return grammar.url_host(url.rstrip("/")).lower()


def mirror_name_for_host(host: str) -> str:
    """io-docker for docker.io, io-k8s for registry.k8s.io: the reversed domain, minus noise."""
    for name, _, known in DEFAULT_MIRRORS:
        if known == host:
            return name
    bare = host.split(":")[0]
    labels = [x for x in reversed(bare.split(".")) if x not in _NOISE_LABELS]
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(labels)).strip("-")
    return name or "mirror"


class MirrorSpec(Strict):
    """A pull-through mirror of one upstream registry."""

    name: str
    url: str
    host: Optional[str] = None
    username: Optional[str] = None
    password: Optional[str] = None
    ttl: Optional[str] = None
    max_size: Optional[str] = None  # this mirror's own disk bound (else a share of the stack's)
    address: Optional[str] = None  # fixes the mirror's IP (else derived from its name)
    # A registry that mirrors `url` already (a team mirror): fetched from instead of the upstream
    # itself; nodes still fall back to `url` when the mirror cannot serve.
    via: Optional[str] = None
    host_port: Optional[int] = Field(default=None, ge=1, le=65535)  # with publishMirrors: this port
    # The upstream credentials of the user's `docker login`, which then serve everyone who can
    # reach the mirror: only when the configuration asks for it.
    use_docker_login: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        check_name(v, "mirror name")
        if v in RESERVED_MIRROR_NAMES:
            raise _fail(
                "is reserved for the project's {v} registry, which every project gets "
                'implicitly; drop this entry or rename it (e.g. "io-{v}")',
                v=v,
            )
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_url(v)

    @field_validator("host")
    @classmethod
    def _host(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return v
        if grammar.host_port(v):
            raise _fail('is not a registry host; write it like "ghcr.io" or "registry.local:5000"')
        if v in HOSTNAMES.values():
            raise _fail("is the name nodes use for the project's own {role} registry; a mirror needs "
                        "the host of the registry it mirrors", role=next(r for r, h in HOSTNAMES.items() if h == v))
        return v

    @field_validator("username")
    @classmethod
    def _username(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and ("${" in v and not PLACEHOLDER_RE.match(v)):
            raise _secret_fail("is not a ${VAR} placeholder (nor a plain user name); write ${VAR}, "
                               "${VAR:-default} or the user name itself")
        return v

    @field_validator("password")
    @classmethod
    def _password(cls, v: Optional[str]) -> Optional[str]:
        # Never quote the value: it is a secret, or holds one.
        if v is not None and PLACEHOLDER_RE.match(v) and not SECRET_PLACEHOLDER_RE.match(v):
            raise _secret_fail("gives a literal default password; use ${VAR} alone (and export VAR) "
                               "or a secret: " + SECRET_FIX)
        if v is not None and not SECRET_PLACEHOLDER_RE.match(v):
            raise _secret_fail("is a literal password; use a ${VAR} placeholder or a secret: " + SECRET_FIX)
        return v

    @field_validator("address")
    @classmethod
    def _address(cls, v: Optional[str]) -> Optional[str]:
        if v is not None:
            try:
                ipaddress.IPv4Address(v)
            except ValueError:
                raise _fail('is not an IPv4 address; write it like "10.125.200.17"') from None
        return v

    @field_validator("max_size")
    @classmethod
    def _max_size(cls, v: Optional[str]) -> Optional[str]:
        return check_size(v)

    @field_validator("via")
    @classmethod
    def _via(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return v
        check_url(v)
        if v.startswith("https:") and grammar.is_ipv4(grammar.url_host(v).rsplit(":", 1)[0]):
            # The front cache (nginx) checks a certificate against a host name only (X509_check_host).
            raise _fail("names the via registry by its address; over https it must be reached by a host name "
                        'its certificate holds, like "https://team-mirror.example.com:5000"')
        return v.rstrip("/")

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not DURATION_RE.match(v):
            raise _fail('is not a duration; write it like "168h" or "30m"')
        return v

    @model_validator(mode="after")
    def _one_credential_source(self) -> "MirrorSpec":
        if self.use_docker_login and self.password is not None:
            raise _fail("mirror {name} has both useDockerLogin and a username/password; keep one",
                        name=self.name)
        return self

    @model_validator(mode="after")
    def _credentials_pair(self) -> "MirrorSpec":
        if (self.username is None) != (self.password is None):
            have, missing = ("username", "password") if self.username else ("password", "username")
            raise _fail(
                "mirror {name} has a {have} but no {missing}; give both or neither",
                name=self.name, have=have, missing=missing,
            )
        return self

    @property
    def registry_host(self) -> str:
        """The host containerd redirects (its certs.d directory name)."""
        return self.host or DEFAULT_MIRROR_HOSTS.get(self.name) or host_of_url(self.url)


def default_mirrors() -> list[MirrorSpec]:
    return [MirrorSpec(name=n, url=u) for n, u, _ in DEFAULT_MIRRORS]


class FrontCacheSpec(Strict):
    """The front cache between each mirror and its upstream: one upstream fetch per blob,
    however many nodes ask for it at once (distribution fetches once per request)."""

    enabled: bool = True
    image: str = DEFAULT_FRONT_IMAGE
    # Bounded and short-lived: the mirror's volume stays the only long-term copy.
    max_size: str = "4g"
    keep: str = "30m"

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        return check_image(v)

    @field_validator("max_size")
    @classmethod
    def _size(cls, v: str) -> str:
        if not NGINX_SIZE_RE.match(v):
            raise _fail('is not a size; write it like "4g" or "512m" (a number and k, m or g)')
        return v

    @field_validator("keep")
    @classmethod
    def _keep(cls, v: str) -> str:
        if not NGINX_TIME_RE.match(v):
            raise _fail('is not a time; write it like "30m" or "2h" (a number and s, m, h or d)')
        return v


class NetworkSpec(Strict):
    name: Optional[str] = None
    cidr: str = DEFAULT_PROJECT_CIDR

    @field_validator("name")
    @classmethod
    def _name(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not NETWORK_NAME_RE.match(v):
            raise _fail("is not a valid Docker network name; use letters, digits, '_', '.', '-'")
        if v is not None:
            _check(grammar.length(v, grammar.LINUX_HOSTNAME_MAX, "it names the project's containers"))
        return v

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        return check_cidr(v)


class SharedNetworkSpec(NetworkSpec):
    name: str = DEFAULT_SHARED_NETWORK
    cidr: str = DEFAULT_SHARED_CIDR


class SharedRef(Strict):
    """How a project uses the shared mirrors."""

    enabled: bool = True
    stack: str = DEFAULT_SHARED_STACK
    network: SharedNetworkSpec = Field(default_factory=SharedNetworkSpec)

    @field_validator("stack")
    @classmethod
    def _stack(cls, v: str) -> str:
        return check_name(v, "stack name")


class MirrorsBound(Strict):
    """The disk bound of the mirrors a stack owns: `mirrors: {maxSize, inUseFor, list}`."""

    mirrors_max_size: Optional[str] = Field(default=None, alias=MIRRORS_MAX_SIZE)
    mirrors_in_use_for: str = Field(default=DEFAULT_IN_USE_FOR, alias=MIRRORS_IN_USE_FOR)

    @field_validator("mirrors_max_size")
    @classmethod
    def _bound(cls, v: Optional[str]) -> Optional[str]:
        return check_size(v)

    @field_validator("mirrors_in_use_for")
    @classmethod
    def _in_use(cls, v: str) -> str:
        return check_duration(v)

    @property
    def mirrors_path(self) -> str:
        """Where the mirror list was written: under `list` when `mirrors` was a mapping (the
        bound's fields are set only that way, kindreg.core.load)."""
        mapped = {"mirrors_max_size", "mirrors_in_use_for"} & self.model_fields_set
        return f"mirrors.{MIRRORS_LIST}" if mapped else "mirrors"


class RegistriesSpec(MirrorsBound):
    shared: SharedRef = Field(default_factory=SharedRef)
    mirrors: list[MirrorSpec] = Field(default_factory=default_mirrors)
    tls: bool = False
    image: str = DEFAULT_REGISTRY_IMAGE
    prefix: Optional[str] = None
    delete_volumes: bool = False
    host_port: Optional[int] = Field(default=None, ge=1, le=65535)
    publish_mirrors: bool = False  # own mirrors (not shared) also on 127.0.0.1
    front_cache: FrontCacheSpec = Field(default_factory=FrontCacheSpec)  # of own mirrors
    via_ca: Optional[str] = None  # the CA file (PEM) own mirrors' `via` registries are signed by

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else check_name(v, "container name prefix")

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        return check_image(v)


class NodesSpec(Strict):
    enabled: bool = True
    control_planes: int = Field(default=1, ge=1, le=MAX_CONTROL_PLANES)
    workers: int = Field(default=0, ge=0, le=MAX_WORKERS)
    image: Optional[str] = None
    certs_tree: TreePlace = TreePlace.AUTO

    @field_validator("certs_tree", mode="before")
    @classmethod
    def _certs_tree(cls, v: object) -> object:
        if isinstance(v, str) and v in tuple(TreePlace):
            return TreePlace(v)
        if isinstance(v, TreePlace):
            return v
        raise _fail("is not a place for the containerd tree; use " + ", ".join(f'"{p}"' for p in TreePlace))

    @field_validator("image")
    @classmethod
    def _image(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else check_image(v)


class WorkloadSpec(Strict):
    """Where `kindreg push` sends the manifests (default: the project's build registry)."""

    path: str = "k8s"
    registry: Optional[str] = None  # e.g. "ghcr.io/org/manifests" or "oci://host:5000/repo:tag"
    tag: Optional[str] = None

    @field_validator("registry")
    @classmethod
    def _registry(cls, v: Optional[str]) -> Optional[str]:
        if v is not None:
            try:
                imageref.parse_registry_spec(v, "workload.registry")
            except ValueError as err:
                raise _secret_fail(str(err).replace("{", "{{").replace("}", "}}")) from None
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v or v.startswith("/") or ".." in v.split("/"):
            raise _fail('is not a directory inside the project; write a relative path like "k8s"')
        return v


class ProjectConfig(Strict):
    """One project: its network, build and cache registries, mirrors and kind nodes."""

    name: Optional[str] = None
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    registries: RegistriesSpec = Field(default_factory=RegistriesSpec)
    nodes: NodesSpec = Field(default_factory=NodesSpec)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)

    @field_validator("name")
    @classmethod
    def _name(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else check_name(
            v, "project name", grammar.LINUX_HOSTNAME_MAX - len(KIND_NODE_SUFFIX),
            f"kind names its nodes <project>{KIND_NODE_SUFFIX}, a hostname of at most 63")

    @property
    def project(self) -> str:
        assert self.name is not None, "the loader fills in the project name"
        return self.name

    @property
    def network_name(self) -> str:
        return self.network.name or self.project

    @property
    def shared_mode(self) -> bool:
        return self.registries.shared.enabled

    def set_fields(self, *path: str) -> bool:
        """True when the user wrote this field (not a default): a claim to check."""
        node: BaseModel = self
        for part in path[:-1]:
            if part not in node.model_fields_set:
                return False
            node = getattr(node, part)
        return path[-1] in node.model_fields_set


S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3's bucket naming rules
S3_REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
S3_ROOT_RE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
AUTH_USER_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")  # htpasswd: no ':' and no space in a name


class S3StorageSpec(Strict):
    """The mirrors' storage on an S3 bucket, through distribution's own s3 driver; the keys are
    secret config (`kindreg:s3Credentials.accessKey` / `.secretKey`)."""

    bucket: str
    region: str = "us-east-1"
    endpoint: Optional[str] = None  # an S3-compatible store (MinIO, Ceph RGW, SeaweedFS, R2); AWS without
    path_style: Optional[bool] = None  # default: true with an endpoint (distribution#4528)
    root_directory: str = "kindreg"  # each mirror under <rootDirectory>/<mirror>

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        if not S3_BUCKET_RE.match(v) or ".." in v:
            raise _fail("is not an S3 bucket name; use 3 to 63 lowercase letters, digits, '.' and '-', "
                        "starting and ending with a letter or digit")
        return v

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        if not S3_REGION_RE.match(v):
            raise _fail('is not a region name; write it like "us-east-1" (any name an S3-compatible store accepts)')
        return v

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else check_url(v)

    @field_validator("root_directory")
    @classmethod
    def _root(cls, v: str) -> str:
        if not S3_ROOT_RE.match(v):
            raise _fail('is not a key prefix; write it like "kindreg" or "team/mirrors" (no leading or trailing /)')
        return v

    @model_validator(mode="after")
    def _path_style_with_endpoint(self) -> "S3StorageSpec":
        if self.endpoint is not None and self.path_style is False:
            raise _fail("pathStyle is false with an endpoint; distribution's s3 driver then addresses "
                        "the bucket as a host name of the endpoint, which such stores do not answer "
                        "(distribution#4528): drop pathStyle or set it true")
        return self

    @property
    def force_path_style(self) -> bool:
        return self.path_style if self.path_style is not None else self.endpoint is not None


class StorageSpec(Strict):
    """Where the mirrors keep what they fetched: their volumes (default), or an S3 bucket."""

    s3: Optional[S3StorageSpec] = None


class AuthSpec(Strict):
    """Basic auth on the mirrors (a team mirror): the users' passwords are secret config
    (`kindreg:authPasswords.<user>`); only their bcrypt hashes reach the containers."""

    users: list[str] = Field(min_length=1)

    @field_validator("users")
    @classmethod
    def _users(cls, v: list[str]) -> list[str]:
        for name in v:
            if not AUTH_USER_RE.match(name):
                raise _fail('has "{name}", not a user name; use letters, digits, ".", "_", "@" and "-"', name=name)
        if len(set(v)) != len(v):
            raise _fail("names a user twice; list each once")
        return v


def check_ipv4(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise _fail('is not an IPv4 address; write it like "127.0.0.1" or "0.0.0.0" (every address of the host)') from None
    return value


class SharedStackConfig(MirrorsBound):
    """The shared stack: one set of mirrors for every project on the machine."""

    network: SharedNetworkSpec = Field(default_factory=SharedNetworkSpec)
    prefix: str = DEFAULT_SHARED_PREFIX
    mirrors: list[MirrorSpec] = Field(default_factory=default_mirrors)
    tls: bool = False
    image: str = DEFAULT_REGISTRY_IMAGE
    delete_volumes: bool = False
    publish_mirrors: bool = False  # mirrors also on the host (status and doctor reach them)
    publish_address: str = PUBLISH_ADDRESS  # where on the host: 0.0.0.0 for a team mirror
    # The names other machines reach the published mirrors by: in the TLS certificate's names.
    publish_names: list[str] = Field(default_factory=list)
    front_cache: FrontCacheSpec = Field(default_factory=FrontCacheSpec)
    storage: StorageSpec = Field(default_factory=StorageSpec)
    auth: Optional[AuthSpec] = None
    via_ca: Optional[str] = None  # the CA file (PEM) the mirrors' `via` registries are signed by

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return check_name(v, "container name prefix")

    @field_validator("publish_address")
    @classmethod
    def _publish_address(cls, v: str) -> str:
        return check_ipv4(v)

    @field_validator("publish_names")
    @classmethod
    def _publish_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if grammar.hostname(name):
                raise _fail('has "{name}", not a host name; write names like "team-mirror.example.com"', name=name)
        return v

    @field_validator("via_ca")
    @classmethod
    def _via_ca(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not v.strip():
            raise _fail("is empty; give the path of the CA certificate (PEM) of the mirrors' `via` registries")
        return v

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        return check_image(v)
