"""The address layout of every kindreg network: one /24, the same shape for shared and project.

  .1          gateway
  .2 - .127   registries (shared mirrors from .2; project build .101, cache .102, own mirrors .103+)
  .128/25     Docker's dynamic range (IPAM ip_range): kind nodes only, so Docker can never hand
              a node an address a registry has or will have.
"""
from __future__ import annotations

import hashlib
import ipaddress
from typing import Optional

from .vocabulary import Scope

GATEWAY_OFFSET = 1
SHARED_MIRROR_FIRST = 2
BUILD_OFFSET = 101
CACHE_OFFSET = 102
PROJECT_MIRROR_FIRST = 103
REGISTRY_FIRST = 2
REGISTRY_LAST = 127
DYNAMIC_RANGE_OFFSET = 128
DYNAMIC_RANGE_PREFIX = 25
IFNAME_MAX = 15  # Linux interface names: 15 bytes plus NUL
BRIDGE_PREFIX = "kr-"
DEFAULT_PROJECT_CIDR = "10.125.125.0/24"
ALTERNATE_PROJECT_CIDR = "10.125.124.0/24"
DEFAULT_SHARED_CIDR = "10.125.200.0/24"

# Where a scope's mirrors start, and how many fit before the dynamic range.
MIRROR_FIRST = {Scope.SHARED: SHARED_MIRROR_FIRST, Scope.PROJECT: PROJECT_MIRROR_FIRST}
MIRROR_CAPACITY = {scope: REGISTRY_LAST - first + 1 for scope, first in MIRROR_FIRST.items()}
CAPACITY_NOTE = {
    Scope.SHARED: ".2-.127; .128-.255 is the nodes' dynamic range",
    Scope.PROJECT: ".103-.127; .101/.102 are build and cache, .128-.255 the nodes' dynamic range",
}
SUBNET_NAME = {Scope.SHARED: "the shared subnet", Scope.PROJECT: "the project subnet"}


def mirror_offset(name: str, scope: Scope, well_known: tuple[str, ...], address: Optional[str] = None,
                  cidr: Optional[str] = None) -> int:
    """Where a mirror lives in its /24, from its name alone.

    The well-known mirrors keep the first addresses (.2-.5 shared, .103-.106 project), the
    others a slot derived from a hash of the name. A mirror's address therefore never depends
    on the other mirrors: adding, removing or reordering mirrors moves none of them, so a
    project's hosts.toml never points a registry at another registry's mirror.
    """
    if address and cidr:  # the mirror's own `address` wins
        return offset_in(cidr, address)
    first = MIRROR_FIRST[scope]
    if name in well_known:
        return first + well_known.index(name)
    spread = MIRROR_CAPACITY[scope] - len(well_known)
    digest = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    return first + len(well_known) + digest % spread


def offset_in(cidr: str, ip: str) -> int:
    return int(ipaddress.ip_address(ip)) - int(ipaddress.ip_network(cidr).network_address)


def registry_offsets(scope: Scope) -> range:
    return range(MIRROR_FIRST[scope], REGISTRY_LAST + 1)


def suggest_slot(taken: str) -> str:
    return DEFAULT_PROJECT_CIDR if taken != DEFAULT_PROJECT_CIDR else ALTERNATE_PROJECT_CIDR


def address(cidr: str, offset: int) -> str:
    return str(ipaddress.ip_network(cidr).network_address + offset)


def gateway(cidr: str) -> str:
    return address(cidr, GATEWAY_OFFSET)


def dynamic_range(cidr: str) -> str:
    return f"{address(cidr, DYNAMIC_RANGE_OFFSET)}/{DYNAMIC_RANGE_PREFIX}"


def registry_range(cidr: str) -> str:
    return f"{address(cidr, REGISTRY_FIRST)}-{address(cidr, REGISTRY_LAST)}"


def bridge_name(network: str) -> str:
    """A Linux bridge name for the network, never longer than 15 characters."""
    full = BRIDGE_PREFIX + network
    if len(full) <= IFNAME_MAX:
        return full
    digest = hashlib.sha256(network.encode()).hexdigest()[:4]
    head = network[: IFNAME_MAX - len(BRIDGE_PREFIX) - len(digest) - 1].rstrip("-._")
    return f"{BRIDGE_PREFIX}{head}-{digest}"
