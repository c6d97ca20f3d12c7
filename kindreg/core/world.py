"""What is there: the observed model of a machine, as plain values.

An adapter (kindreg.adapters.world) reads it from the Docker engine, the nodes and this host;
another (kindreg.adapters.pulumi) reads what a stack's state records. Nothing here does I/O:
`kindreg.core.drift` compares these values with the plan.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional


@dataclass(frozen=True)
class SeenContainer:
    name: str
    id: str
    running: bool
    health: Optional[str]  # healthy, unhealthy, starting, or None without a health check
    image: str  # the ID of the image it runs
    env_names: frozenset[str]  # names only: values may be secrets
    env: frozenset[str]  # "NAME=value" entries of the variables the plan sets in the clear
    labels: Mapping[str, str]
    networks: Mapping[str, str]  # network name -> IPv4 address on it
    files: Mapping[str, Optional[str]] = field(default_factory=dict)  # path inside -> SHA-256 (None: missing)
    network_ids: Mapping[str, str] = field(default_factory=dict)  # network name -> the ID it joined
    settings: str = ""  # SHA-256 of its ID, image and every setting it was created or updated with


@dataclass(frozen=True)
class SeenNetwork:
    name: str
    id: str
    subnets: tuple[str, ...]
    labels: Mapping[str, str]
    members: tuple[str, ...]  # names of the containers attached


@dataclass(frozen=True)
class SeenVolume:
    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class SeenNode:
    """A kind node, with what it sees of kindreg's files and the ConfigMap (read inside it)."""

    name: str
    running: bool
    networks: Mapping[str, str]
    files: Optional[Mapping[str, Optional[str]]]  # path inside -> SHA-256 (None: missing); None: not read
    registry_hosting: Optional[str] = None  # the ConfigMap's data, read on a control-plane node
    hosting_read: bool = False  # whether the ConfigMap was asked for (a running control plane)
    network_ids: Mapping[str, str] = field(default_factory=dict)  # network name -> the ID it joined
    settings: str = ""  # as SeenContainer.settings


@dataclass(frozen=True)
class World:
    containers: Mapping[str, SeenContainer] = field(default_factory=dict)
    networks: Mapping[str, SeenNetwork] = field(default_factory=dict)
    volumes: Mapping[str, SeenVolume] = field(default_factory=dict)
    images: Mapping[str, str] = field(default_factory=dict)  # image reference -> ID, where present
    nodes: Mapping[str, SeenNode] = field(default_factory=dict)
    host_files: Mapping[str, Optional[str]] = field(default_factory=dict)  # path on this host -> SHA-256


@dataclass(frozen=True)
class PendingOperation:
    """An operation an interrupted run left in the state: `creating`, `updating`, `deleting`, ..."""

    urn: str
    kind: str
    type: str
    name: str
    inputs: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    """What a stack's state records: resource name -> (URN, ID), and what was left pending."""

    urns: Mapping[str, str] = field(default_factory=dict)
    ids: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, Mapping[str, object]] = field(default_factory=dict)  # name -> plain outputs
    pending: tuple[PendingOperation, ...] = ()
    read: bool = True  # False: the state could not be read (nothing is assumed from it)

    @property
    def up(self) -> bool:
        """Whether the stack has resources (a stack never brought up, or destroyed, has none)."""
        return bool(self.ids)
