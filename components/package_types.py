"""The input and output types of the kindreg Pulumi package (`PulumiPlugin.yaml`).

Pulumi's component provider host infers the package schema from these annotations and takes
each description from the string under a field (pulumi/provider/experimental/analyzer.py,
`get_docstring`). The inputs are the stack config (kindreg.core.config) field for field, under
the same camelCase names; tests/unit/test_package_types.py holds the two to each other, so a
field added to the config and not here fails a test. Plain fields: the plan is made from the
values themselves when the component is constructed. No `from __future__ import annotations`
here: the analyzer reads the annotations as types, not as strings.
"""
from collections.abc import Mapping
from enum import Enum
from typing import Optional, Required, TypedDict

import pulumi
from pydantic.alias_generators import to_camel, to_snake

from kindreg.core.config import MIRRORS_IN_USE_FOR, MIRRORS_MAX_SIZE
from kindreg.core.vocabulary import TreePlace


# ---------------------------------------------------------------- inputs: the stack config

class MirrorArgs(TypedDict, total=False):
    """A pull-through mirror of one upstream registry."""

    name: Required[str]
    """The mirror's name, part of its container's name (io-docker for docker.io)."""
    url: Required[str]
    """The upstream registry's URL, e.g. https://registry-1.docker.io."""
    host: str
    """The registry host containerd redirects to this mirror (default: derived from the name or URL)."""
    username: str
    """The upstream user name, or a ${VAR} placeholder; a password goes in mirrorCredentials."""
    password: str
    """A ${VAR} placeholder read from the environment, never a literal: use mirrorCredentials."""
    ttl: str
    """How long an image may go unread before `kindreg cache prune` removes it, like 168h."""
    max_size: str
    """This mirror's own disk bound, a size like 5GiB (default: a share of mirrorsMaxSize)."""
    address: str
    """The mirror's fixed IPv4 address (default: derived from its name)."""
    via: str
    """A registry that mirrors url already (a team mirror): fetched from instead of url, which nodes still fall back to."""
    host_port: int
    """With publishMirrors: the mirror's port on the host (default: one the engine picks)."""
    use_docker_login: bool
    """Pull with the user's `docker login` to the upstream (everyone reaching the mirror then does)."""


class FrontCacheArgs(TypedDict, total=False):
    """The front cache between each mirror and its upstream: one upstream fetch per blob."""

    enabled: bool
    """Whether mirrors get a front cache (default true)."""
    image: str
    """The front cache's nginx image (default nginx:stable-alpine)."""
    max_size: str
    """The front cache's bound, in nginx size syntax like 4g."""
    keep: str
    """How long the front cache keeps a blob, in nginx time syntax like 30m."""


class S3StorageArgs(TypedDict, total=False):
    """The mirrors' storage on an S3 bucket (distribution's s3 driver); the keys go in s3Credentials."""

    bucket: Required[str]
    """The bucket's name."""
    region: str
    """The bucket's region (default us-east-1)."""
    endpoint: str
    """An S3-compatible store's URL (MinIO, Ceph RGW, SeaweedFS, R2); AWS S3 when absent."""
    path_style: bool
    """Address the bucket as a path of the endpoint (default: true with an endpoint)."""
    root_directory: str
    """The key prefix the mirrors store under, each in <rootDirectory>/<mirror> (default kindreg)."""


class StorageArgs(TypedDict, total=False):
    """Where the mirrors keep what they fetch: their volumes (default), or an S3 bucket."""

    s3: S3StorageArgs
    """Store on this S3 bucket."""


class AuthArgs(TypedDict, total=False):
    """Basic auth on the mirrors; the passwords go in authPasswords."""

    users: Required[list[str]]
    """The users who may pull."""


class S3CredentialsArgs(TypedDict):
    """The S3 keys of storage.s3; give both as secrets."""

    access_key: pulumi.Input[str]
    """The access key ID."""
    secret_key: pulumi.Input[str]
    """The secret access key."""


class NetworkArgs(TypedDict, total=False):
    """A Docker network of kindreg's."""

    name: str
    """The network's name (default: the project's or the shared one's)."""
    cidr: str
    """The network's IPv4 subnet, like 10.210.0.0/16."""


class SharedRefArgs(TypedDict, total=False):
    """How a project uses the machine's shared mirrors."""

    enabled: bool
    """Pull through the shared mirrors (default true); false gives the project mirrors of its own."""
    network: NetworkArgs
    """The shared network the project's nodes join."""


class RegistriesArgs(TypedDict, total=False):
    """A project's build and cache registries and the mirrors its nodes pull through."""

    shared: SharedRefArgs
    """Use of the shared mirrors."""
    mirrors: list[MirrorArgs]
    """The project's own mirrors, when it does not use the shared ones."""
    mirrors_max_size: str
    """The bound of everything the mirrors keep on disk, front caches included, like 20GiB (a stack's mirrors.maxSize)."""
    mirrors_in_use_for: str
    """Content read this recently is in use and never evicted (default 1m; a stack's mirrors.inUseFor)."""
    tls: bool
    """Serve the project's registries over TLS with a certificate from the local mkcert CA."""
    image: str
    """The registry image (default registry:3)."""
    prefix: str
    """The prefix of the registries' container names (default: the project's name)."""
    delete_volumes: bool
    """Remove the registries' volumes on destroy (default false: what they hold survives)."""
    host_port: int
    """Publish the build registry on this port of 127.0.0.1."""
    publish_mirrors: bool
    """Publish the project's own mirrors on 127.0.0.1 too."""
    front_cache: FrontCacheArgs
    """The front caches of the project's own mirrors."""
    via_ca: str
    """The CA certificate file (PEM, in the project) of the own mirrors' via registries."""


class NodesArgs(TypedDict, total=False):
    """The project's kind cluster."""

    enabled: bool
    """Create the kind cluster (default true)."""
    control_planes: int
    """Control-plane nodes, 1 to 5."""
    workers: int
    """Worker nodes, 0 to 20."""
    image: str
    """The kind node image (default: kind's own)."""
    certs_tree: TreePlace
    """Where the containerd certs.d tree lives: auto, directory or volume."""


class WorkloadArgs(TypedDict, total=False):
    """Where `kindreg push` sends the project's manifests."""

    path: str
    """The manifests' directory (default k8s)."""
    registry: str
    """The OCI repository they go to (default: the project's build registry)."""
    tag: str
    """The artifact's tag."""


class MirrorCredentialsArgs(TypedDict):
    """A mirror's upstream credentials; give the password as a secret."""

    username: pulumi.Input[str]
    """The upstream user name."""
    password: pulumi.Input[str]
    """The upstream password or token (kept secret)."""


# ---------------------------------------------------------------- outputs: what stacks export
# Roles and scopes are strings here, not the enums: a MirrorSet's export goes into a Project's
# `shared` input, and pulumi-yaml (v1.25.0) does not assign an enum of an output to the same
# enum of an input ("Cannot assign 'kindreg:index:Role' to 'kindreg:index:Role'").

class NetworkOutput(TypedDict):
    """A network as planned."""

    name: str
    """The Docker network's name."""
    scope: str
    """Who uses it: shared or project."""
    subnet: str
    """Its IPv4 subnet."""
    gateway: str
    """Its gateway address."""
    ip_range: str
    """The range Docker assigns addresses from (the nodes')."""
    registry_range: str
    """The range registries take fixed addresses from."""
    bridge: str
    """The Linux bridge's name."""


class RegistryOutput(TypedDict):
    """A registry as planned: build, cache or mirror."""

    role: str
    """build, cache or mirror."""
    name: str
    """build, cache, or the mirror's name."""
    container: str
    """Its container's name."""
    network: str
    """The network it is on."""
    ip: str
    """Its address on that network."""
    port: int
    """Its port."""
    scheme: str
    """http or https."""
    url: str
    """How nodes reach it."""
    host: str
    """The registry host containerd redirects to it."""
    upstream: Optional[str]
    """A mirror's upstream URL."""
    ttl: Optional[str]
    """A mirror's TTL."""
    username: Optional[str]
    """A mirror's upstream user name or placeholder (never a secret)."""
    password_from: Optional[str]
    """Where a mirror's upstream password comes from (never its value)."""
    volume: str
    """The volume that holds what it stores."""
    image: str
    """Its image."""
    scope: str
    """shared or project."""
    owner: str
    """The stack or component that owns its container."""


class MirrorSetExport(TypedDict):
    """What a project reads of a shared mirror set (kindreg/shared/v1)."""

    format: str
    """kindreg/shared/v1."""
    stack: str
    """The stack or component that owns the mirrors."""
    tls: bool
    """Whether the mirrors serve TLS."""
    network: NetworkOutput
    """The shared network."""
    mirrors: list[RegistryOutput]
    """The mirrors."""


# ---------------------------------------------------------------- the components' inputs

class MirrorSetArgs(TypedDict, total=False):
    """A machine's shared mirrors: the fields of a shared stack's `kindreg:shared`."""

    network: NetworkArgs
    """The shared network (default lok8s-registries, 10.210.0.0/16)."""
    prefix: str
    """The prefix of the mirrors' container names (default lok8s)."""
    mirrors: list[MirrorArgs]
    """The mirrors (default: docker.io, ghcr.io, quay.io and registry.k8s.io)."""
    mirrors_max_size: str
    """The bound of everything the mirrors keep on disk, front caches included, like 20GiB (a stack's mirrors.maxSize)."""
    mirrors_in_use_for: str
    """Content read this recently is in use and never evicted (default 1m; a stack's mirrors.inUseFor)."""
    tls: bool
    """Serve the mirrors over TLS with a certificate from the local mkcert CA."""
    image: str
    """The registry image (default registry:3)."""
    delete_volumes: bool
    """Remove the mirrors' volumes on destroy (default false: the cache survives)."""
    publish_mirrors: bool
    """Publish the mirrors on the host too (at publishAddress)."""
    publish_address: str
    """The host address published mirrors listen on (default 127.0.0.1; 0.0.0.0 for a team mirror)."""
    publish_names: list[str]
    """The host names other machines reach the published mirrors by (in the TLS certificate)."""
    front_cache: FrontCacheArgs
    """The mirrors' front caches."""
    storage: StorageArgs
    """Where the mirrors store what they fetch (default: their volumes)."""
    auth: AuthArgs
    """Basic auth on the mirrors (needs tls)."""
    via_ca: str
    """The CA certificate file (PEM, in the project) of the mirrors' via registries."""
    mirror_credentials: dict[str, MirrorCredentialsArgs]
    """Upstream credentials by mirror name; give passwords as secrets."""
    s3_credentials: S3CredentialsArgs
    """The keys of storage.s3; give them as secrets."""
    auth_passwords: dict[str, pulumi.Input[str]]
    """The password of each user of auth.users; give them as secrets."""


class ProjectArgs(TypedDict, total=False):
    """One project: the fields of a project stack's `kindreg:cluster`, and the shared mirrors it uses."""

    name: str
    """The project's name (default: the component's name)."""
    network: NetworkArgs
    """The project's network."""
    registries: RegistriesArgs
    """Its build and cache registries and its mirrors."""
    nodes: NodesArgs
    """Its kind cluster."""
    workload: WorkloadArgs
    """Where `kindreg push` sends its manifests."""
    shared: pulumi.Input[MirrorSetExport]
    """The `kindreg` output of a MirrorSet or of a shared stack (a StackReference); required unless registries.shared.enabled is false."""
    mirror_credentials: dict[str, MirrorCredentialsArgs]
    """Upstream credentials of the project's own mirrors, by mirror name; give passwords as secrets."""


# ---------------------------------------------------------------- the inputs as stack config

# Inputs of the components that are not stack config: they are read apart.
NOT_CONFIG = ("shared", "mirror_credentials", "s3_credentials", "auth_passwords")


def python_names(value: object) -> object:
    """A stack output (the plan's JSON, camelCase) under the Python names the host maps to the
    schema's: it maps a component's outputs by those, and leaves out any key it does not know."""
    if isinstance(value, Mapping):
        return {to_snake(k): python_names(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [python_names(v) for v in value]
    return value


def input_name(alias: str) -> str:
    """A config field's name as an input: a dotted one joined (mirrors.maxSize: mirrorsMaxSize)."""
    head, *rest = alias.split(".")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


# Inputs whose config field is dotted, by input name.
DOTTED = {input_name(a): a for a in (MIRRORS_MAX_SIZE, MIRRORS_IN_USE_FOR)}


def config_of(args: Mapping) -> dict:
    """The component's inputs (Python names, as the host hands them over) as the stack config
    reads them: camelCase keys, enums as their values. Every key is a field name: the config
    has no mapping keyed by user data."""
    return {_config_key(k): _config_value(v) for k, v in args.items() if k not in NOT_CONFIG}


def _config_key(name: str) -> str:
    return DOTTED.get(to_camel(name), to_camel(name))


def export_of(shared: Mapping) -> dict:
    """A Project's `shared` input (Python names) as the MirrorSet's export reads (camelCase)."""
    return _config_value(shared)


def _config_value(value: object) -> object:
    # The wire carries every number as a double: a whole one is the integer it was written as.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {_config_key(k): _config_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_config_value(v) for v in value]
    return value.value if isinstance(value, Enum) else value
