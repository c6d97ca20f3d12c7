"""Every word kindreg uses for what it manages, defined once.

Roles and scopes are typed (`Role.BUILD`, `Scope.SHARED`), labels are one enum that the
program writes, `status`/`doctor`/the destroy guard read, and the tests and benchmarks
filter by; the well-known registries (the four default mirrors, Docker Hub's aliases) and
the fixed names inside registries and nodes live here too. Nothing here does I/O.
"""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a registry is for."""

    BUILD = "build"  # push target of the project's own images (.101)
    CACHE = "cache"  # images copied in with the host's credentials (.102)
    MIRROR = "mirror"  # pull-through cache of one upstream registry

    @property
    def pushable(self) -> bool:
        return self is not Role.MIRROR


# The label values of what is not a registry but carries the same labels: networks, and the
# volume holding a project's containerd certs.d tree.
NETWORK_ROLE = "network"
CERTS_ROLE = "containerd-certs"
FRONT_ROLE = "front-cache"  # a mirror's nginx between its registry and the upstream
PRUNE_ROLE = "prune"  # the one-shot container that collects a paused mirror's garbage
RESTORE_ROLE = "restore"  # the one-shot container that places a restored archive in a mirror's volume


class Scope(StrEnum):
    """Who uses a network or registry: every project on the machine, or one project.

    It is also the role of a stack: the shared stack owns the shared scope."""

    SHARED = "shared"
    PROJECT = "project"


class TreePlace(StrEnum):
    """Where a project's containerd certs.d tree lives (`nodes.certsTree`)."""

    AUTO = "auto"  # a host directory with a local engine, a volume with a remote one
    DIRECTORY = "directory"  # a host directory, bind-mounted into the nodes as it is
    VOLUME = "volume"  # a Docker volume written through the engine; nodes mount its directory


class Label(StrEnum):
    """Docker labels on everything kindreg creates: the only thing `status` and `doctor` read."""

    MANAGED = "kindreg.managed"  # "true" on every container, network and volume kindreg made
    ROLE = "kindreg.role"  # a Role, or NETWORK_ROLE
    SCOPE = "kindreg.scope"
    STACK = "kindreg.stack"  # the stack that owns it
    NAME = "kindreg.name"  # build, cache or the mirror's name
    HOST = "kindreg.host"  # the registry host containerd redirects (lok8s.local, docker.io, ...)
    SCHEME = "kindreg.scheme"
    IP = "kindreg.ip"
    UPSTREAM = "kindreg.upstream"
    TEST_RUN = "kindreg.test-run"  # tests and benchmarks: the run that created it


MANAGED_VALUE = "true"

# kind's own label on its node containers (sigs.k8s.io/kind pkg/cluster/constants).
KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster"

# ---------------------------------------------------------------- names nodes resolve

BUILD_HOSTNAME = "lok8s.local"
CACHE_HOSTNAME = "lok8s.cache"
HOSTNAMES = {Role.BUILD: BUILD_HOSTNAME, Role.CACHE: CACHE_HOSTNAME}

# ---------------------------------------------------------------- well-known registries

# The four mirrors every kind cluster needs: name, upstream, registry host.
DEFAULT_MIRRORS = (
    ("io-docker", "https://registry-1.docker.io", "docker.io"),
    ("io-quay", "https://quay.io", "quay.io"),
    ("io-k8s", "https://registry.k8s.io", "registry.k8s.io"),
    ("io-ghcr", "https://ghcr.io", "ghcr.io"),
)
DEFAULT_MIRROR_HOSTS = {name: host for name, _, host in DEFAULT_MIRRORS}
DEFAULT_MIRROR_NAMES = tuple(name for name, _, _ in DEFAULT_MIRRORS)

# Docker Hub answers under several names; image references say docker.io, its API lives on
# registry-1.docker.io, and `docker login` stores credentials under the index URL.
DOCKER_HUB = "docker.io"
DOCKER_HUB_UPSTREAM = "https://registry-1.docker.io"
DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DOCKER_HUB_CONFIG_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io",
                          "registry-1.docker.io", "https://registry-1.docker.io")
# `passwordFrom` of a mirror that uses the user's `docker login` to its upstream (opt-in).
DOCKER_LOGIN_SOURCE = "docker-login"
# Registries whose API host differs from the name images use (KSail derives the upstream).
KNOWN_UPSTREAMS = {DOCKER_HUB: DOCKER_HUB_UPSTREAM}

# ---------------------------------------------------------------- paths inside containers

NODE_CERTS_D = "/etc/containerd/certs.d"
NODE_CA = f"{NODE_CERTS_D}/.ca/rootCA.pem"
STATE_DIR = ".kindreg"

# Registries are published on this address of the engine's host only, never on every interface.
PUBLISH_ADDRESS = "127.0.0.1"
LOCAL_NAMES = ("localhost", PUBLISH_ADDRESS)  # what the host calls a published registry (SANs)  # per-stack files on the host, under the project directory
