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
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from .layout import DEFAULT_PROJECT_CIDR, DEFAULT_SHARED_CIDR
from .vocabulary import DEFAULT_MIRROR_HOSTS, DEFAULT_MIRRORS, KNOWN_UPSTREAMS, Role

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Docker accepts these characters in network names.
NETWORK_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
# A registry host as containerd names its certs.d directory: a DNS name or IP, optional port.
HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")
PLACEHOLDER_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$")
DURATION_RE = re.compile(r"^([0-9]+(ns|us|ms|s|m|h))+$")

RESERVED_MIRROR_NAMES = (Role.BUILD.value, Role.CACHE.value)
DEFAULT_SHARED_NETWORK = "lok8s-registries"
DEFAULT_SHARED_STACK = "shared"
DEFAULT_SHARED_PREFIX = "lok8s"
DEFAULT_REGISTRY_IMAGE = "registry:3"
MAX_CONTROL_PLANES = 5
MAX_WORKERS = 20

# Labels that say nothing about which registry a mirror is (registry-1.docker.io -> io-docker).
_NOISE_LABELS = {"registry", "registry-1", "www", "index"}


def _fail(message: str, **ctx: object) -> PydanticCustomError:
    return PydanticCustomError("kindreg", message, ctx or None)


class Strict(BaseModel):
    """Strict decoding: camelCase keys only, no unknown fields, no type coercion."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, alias_generator=to_camel, validate_default=False
    )


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


def check_name(value: str, what: str) -> str:
    if not NAME_RE.match(value):
        raise _fail(
            "is not a valid {what}; use lowercase letters, digits and '-', "
            "starting with a letter or digit (pattern ^[a-z0-9][a-z0-9-]*$)",
            what=what,
        )
    return value


def check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise _fail('is not an http:// or https:// URL; write the upstream like "https://quay.io"')
    if not parts.hostname:
        raise _fail('has no host; write the upstream like "https://quay.io"')
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _fail("has a path, query or fragment; a mirror's upstream is a registry root URL")
    if parts.username or parts.password:
        raise _fail("carries credentials; give them as the mirror's username and password")
    return value.rstrip("/")


def host_of_url(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def mirror_name_for_host(host: str) -> str:
    """io-docker for docker.io, io-k8s for registry.k8s.io: the reversed domain, minus noise."""
    for name, _, known in DEFAULT_MIRRORS:
        if known == host:
            return name
    bare = host.split(":")[0]
    labels = [x for x in reversed(bare.split(".")) if x not in _NOISE_LABELS]
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(labels)).strip("-")
    return name or "mirror"


def parse_mirror_string(text: str) -> dict:
    """KSail's mirror grammar `[user:pass@]host[=upstream]` as a mirror mapping."""
    # A ${VAR:-default} placeholder is one token: its ':' does not end the user part.
    m = re.match(r"^(?:(?P<user>(?:\$\{[^}]*\}|[^:@])*):(?P<pw>.*)@)?(?P<host>[^@=\s]+)(?:=(?P<up>\S+))?$",
                 text)
    if not m:
        # The text may hold a password: quote it with the password masked, never whole.
        raise PydanticCustomError(
            "kindreg_secret", '"{text}" is not a mirror of the form "[user:pass@]host[=upstream]"',
            {"text": re.sub(r"^((?:\$\{[^}]*\}|[^:@])*):[^@]*@", r"\1:***@", text)})
    host = m["host"].lower()
    out = {
        "name": mirror_name_for_host(host),
        "url": m["up"] or KNOWN_UPSTREAMS.get(host, f"https://{host}"),
        "host": host,
    }
    if m["user"] is not None:
        out["username"] = m["user"]
        out["password"] = m["pw"]
    return out


class MirrorSpec(Strict):
    """A pull-through mirror of one upstream registry."""

    name: str
    url: str
    host: Optional[str] = None
    username: Optional[str] = None
    password: Optional[str] = None
    ttl: Optional[str] = None
    address: Optional[str] = None  # fixes the mirror's IP (else derived from its name)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: object) -> object:
        return parse_mirror_string(data) if isinstance(data, str) else data

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
        if v is not None and not HOST_RE.match(v):
            raise _fail('is not a registry host; write it like "ghcr.io" or "registry.local:5000"')
        return v

    @field_validator("password")
    @classmethod
    def _password(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not PLACEHOLDER_RE.match(v):
            # Never echo the value: it is a secret written where it should not be.
            raise PydanticCustomError(
                "kindreg_secret",
                "is a literal password in a config file; use a ${VAR} placeholder or "
                "`pulumi config set --secret --path kindreg:mirrorCredentials.<mirror>.password`",
            )
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

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not DURATION_RE.match(v):
            raise _fail('is not a duration; write it like "168h" or "30m"')
        return v

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


class NetworkSpec(Strict):
    name: Optional[str] = None
    cidr: str = DEFAULT_PROJECT_CIDR

    @field_validator("name")
    @classmethod
    def _name(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not NETWORK_NAME_RE.match(v):
            raise _fail("is not a valid Docker network name; use letters, digits, '_', '.', '-'")
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


class RegistriesSpec(Strict):
    shared: SharedRef = Field(default_factory=SharedRef)
    mirrors: list[MirrorSpec] = Field(default_factory=default_mirrors)
    tls: bool = False
    image: str = DEFAULT_REGISTRY_IMAGE
    prefix: Optional[str] = None
    delete_volumes: bool = False
    host_port: Optional[int] = Field(default=None, ge=1, le=65535)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else check_name(v, "container name prefix")


class NodesSpec(Strict):
    enabled: bool = True
    control_planes: int = Field(default=1, ge=1, le=MAX_CONTROL_PLANES)
    workers: int = Field(default=0, ge=0, le=MAX_WORKERS)
    image: Optional[str] = None


class WorkloadSpec(Strict):
    """Where `python -m kindreg push` sends the manifests (default: the project's build registry)."""

    path: str = "k8s"
    registry: Optional[str] = None  # e.g. "ghcr.io/org/manifests" or "oci://host:5000/repo:tag"
    tag: Optional[str] = None


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
        return None if v is None else check_name(v, "project name")

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


class SharedStackConfig(Strict):
    """The shared stack: one set of mirrors for every project on the machine."""

    network: SharedNetworkSpec = Field(default_factory=SharedNetworkSpec)
    prefix: str = DEFAULT_SHARED_PREFIX
    mirrors: list[MirrorSpec] = Field(default_factory=default_mirrors)
    tls: bool = False
    image: str = DEFAULT_REGISTRY_IMAGE
    delete_volumes: bool = False

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return check_name(v, "container name prefix")
