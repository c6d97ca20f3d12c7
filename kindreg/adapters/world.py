"""Reads what is there into the observed model (kindreg.core.world): containers, networks and
volumes from the Docker engine, files and the ConfigMap from inside the nodes and registries,
the TLS files from this host.

Only what the expected model names is read, each kind once: one listing of containers, networks
and volumes, one image lookup, and one `docker exec` per running container or node that holds
files kindreg wrote. File contents never leave the container: only their SHA-256.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, Mapping, Optional

import yaml

from kindreg.core.expected import HOSTING_KEY, Expected
from kindreg.core.render import TLS_CERT, TLS_KEY
from kindreg.core.vocabulary import KIND_CLUSTER_LABEL
from kindreg.core.world import SeenContainer, SeenNetwork, SeenNode, SeenVolume, World

from .engine import Engine, addresses, label, name_of, running

# Paths arrive as arguments, never inside the script text; a missing file prints "- <path>".
DIGESTS = ["sh", "-c", 'for f; do if [ -f "$f" ]; then sha256sum "$f"; else echo "- $f"; fi; done', "digests"]
KUBECONFIG = "/etc/kubernetes/admin.conf"
HOSTING_GET = ["kubectl", "--kubeconfig", KUBECONFIG, "get", "configmap", "local-registry-hosting",
               "-n", "kube-public", "-o", "yaml"]


def observe(engine: Engine, wanted: Iterable[Expected]) -> World:
    wanted = list(wanted)
    inspected = engine.containers()
    by_name = {name_of(c): c for c in inspected}
    clusters = {w.cluster for w in wanted if w.cluster}
    containers = {}
    for want in wanted:
        for c in want.containers:
            if c.name in by_name:
                paths = [*c.files, *((TLS_CERT, TLS_KEY) if c.tls else ())]
                containers[c.name] = _container(engine, by_name[c.name], paths)
    nodes = {}
    for want in wanted:
        for node in want.nodes:
            found = by_name.get(node.name)
            if found is not None and label(found, KIND_CLUSTER_LABEL) in clusters:
                nodes[node.name] = _node(engine, found, list(node.files), node.registry_hosting is not None)
    images = {ref for w in wanted for ref in w.images}
    tls = [p for w in wanted if w.tls for p in (w.tls.cert, w.tls.key)]
    return World(containers=containers, networks=_networks(engine), volumes=_volumes(engine),
                 images=engine.image_ids(sorted(images)), nodes=nodes, host_files={p: file_digest(p) for p in tls})


def file_digest(path: str) -> Optional[str]:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _labels(c: dict) -> Mapping[str, str]:
    return (c.get("Config") or {}).get("Labels") or {}


def _container(engine: Engine, c: dict, paths: list[str]) -> SeenContainer:
    env = (c.get("Config") or {}).get("Env") or []
    up = running(c)
    return SeenContainer(
        name=name_of(c), id=c.get("Id", ""), running=up,
        health=((c.get("State") or {}).get("Health") or {}).get("Status"),
        image=c.get("Image", ""), env_names=frozenset(e.split("=", 1)[0] for e in env),
        env=frozenset(e for e in env if not _secret(e)), labels=_labels(c), networks=addresses(c),
        network_ids=_network_ids(c), settings=settings(c),
        files=(digests(engine, name_of(c), paths) or {}) if up and paths else {})


def settings(c: dict) -> str:
    """SHA-256 of what a container is (ID, image) and holds (Config, HostConfig, Mounts): all
    that `docker create`, `docker update` or a recreation changes, none of what running does."""
    kept = {k: c.get(k) for k in ("Id", "Image", "Config", "HostConfig", "Mounts")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


def _network_ids(c: dict) -> dict[str, str]:
    return {n: i.get("NetworkID", "") for n, i in ((c.get("NetworkSettings") or {}).get("Networks") or {}).items()}


def _secret(entry: str) -> bool:
    """Variables that may carry a password are never compared or kept (only their names)."""
    name = entry.split("=", 1)[0].upper()
    return any(word in name for word in ("PASSWORD", "SECRET", "TOKEN", "KEY"))


def digests(engine: Engine, container: str, paths: list[str]) -> Optional[dict[str, Optional[str]]]:
    """SHA-256 of each path inside a running container (None: missing); None when the
    container could not be asked (that says nothing about the files)."""
    code, out = engine.exec(container, [*DIGESTS, *paths])
    if code != 0:
        return None
    found: dict[str, Optional[str]] = {}
    for line in out.splitlines():
        digest, _, path = line.partition(" ")
        path = path.strip()
        if path in paths:
            found[path] = None if digest == "-" else digest
    return found


def _node(engine: Engine, c: dict, paths: list[str], hosting: bool) -> SeenNode:
    up = running(c)
    seen = dict(name=name_of(c), running=up, networks=addresses(c), network_ids=_network_ids(c), settings=settings(c),
                files=digests(engine, name_of(c), paths) if up and paths else ({} if not paths else None))
    if not (up and hosting):
        return SeenNode(**seen)
    code, out = engine.exec(name_of(c), HOSTING_GET)
    if code == 0:
        return SeenNode(**seen, registry_hosting=_hosting_data(out), hosting_read=True)
    return SeenNode(**seen, hosting_read="NotFound" in out or "not found" in out)


def _hosting_data(text: str) -> Optional[str]:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None
    return ((doc.get("data") or {}) if isinstance(doc, dict) else {}).get(HOSTING_KEY)


def _networks(engine: Engine) -> dict[str, SeenNetwork]:
    out = {}
    for n in engine.networks():
        subnets = tuple(cfg.get("Subnet", "") for cfg in ((n.get("IPAM") or {}).get("Config") or []))
        members = tuple(sorted(m.get("Name", "") for m in (n.get("Containers") or {}).values()))
        out[n.get("Name", "")] = SeenNetwork(n.get("Name", ""), n.get("Id", ""), subnets, n.get("Labels") or {}, members)
    return out


def _volumes(engine: Engine) -> dict[str, SeenVolume]:
    return {v.get("Name", ""): SeenVolume(v.get("Name", ""), v.get("Labels") or {}) for v in engine.volumes()}
