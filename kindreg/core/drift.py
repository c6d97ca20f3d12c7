"""Expected against observed: every difference between a stack's plan and the machine, with its fix.

One comparison serves `up` (what to heal before and what to verify after the engine), `preview`
(what `up` would heal), `status` and `doctor` (the verdict). Pure: the observed model comes from
the adapters, the expected one from the plan.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Iterable, Optional

from . import resources
from .expected import Expected, Thing, WantContainer, WantNetwork, WantNode, WantTls
from .render import CREDENTIAL_ENV, OVERRIDE_ENV_PREFIXES, TLS_CERT, TLS_KEY
from .vocabulary import MANAGED_VALUE, NODE_CERTS_D, Label
from .world import Recorded, SeenContainer, SeenNode, World


class Drift(StrEnum):
    MISSING = "missing"
    STOPPED = "stopped"
    CHANGED = "changed"
    UNHEALTHY = "unhealthy"
    FOREIGN = "not kindreg's"


class Fix(StrEnum):
    """Who puts it back, and how."""

    ENGINE = "engine"  # the engine's refresh sees it; up recreates or restarts it
    REPLACE = "replace"  # up replaces the resource that makes it (the engine cannot see it)
    REMOVE = "remove"  # up removes what is there (labelled kindreg's) and the engine makes it anew
    CONNECT = "connect"  # up connects the node to the network
    RECONNECT = "reconnect"  # up detaches the node from a removed network and joins the new one
    START = "start"  # up starts the node
    HAND = "by hand"  # not kindreg's to touch: the user acts, as the message says

    @property
    def by_up(self) -> bool:
        return self is not Fix.HAND


UP_DOES = {Fix.ENGINE: "up recreates or restarts it", Fix.REPLACE: "up rewrites it",
           Fix.REMOVE: "up removes it and creates it anew", Fix.CONNECT: "up connects it",
           Fix.RECONNECT: "up detaches it from the removed network and connects it to the new one",
           Fix.START: "up starts it"}


@dataclass(frozen=True)
class Difference:
    stack: str
    thing: Thing
    name: str
    drift: Drift
    detail: str
    fix: Fix
    resource: Optional[str] = None  # the Pulumi resource that makes it (a REPLACE fix replaces it)
    network: Optional[str] = None  # the network a CONNECT fix joins
    hand: str = ""  # what the user runs for a HAND fix

    def remedy(self) -> str:
        return self.hand if self.fix is Fix.HAND else f"{UP_DOES[self.fix]} (`kindreg up --stack {self.stack}`)"

    def line(self) -> str:
        return f"{self.thing} {self.name}: {self.drift} ({self.detail})"

    def to_json(self) -> dict:
        return {**asdict(self), "remedy": self.remedy()}


def compare(want: Expected, world: World, recorded: Recorded = Recorded(read=False)) -> list[Difference]:
    """Every difference, in the order things depend on each other."""
    found = [*_networks(want, world), *_volumes(want, world)]
    for c in want.containers:
        found += _container(want, c, world, recorded)
    found += _tls(want, world, recorded)
    for node in want.nodes:
        found += _node(want, node, world)
    return found


def _diff(want: Expected, thing: Thing, name: str, drift: Drift, detail: str, fix: Fix, **kw) -> Difference:
    return Difference(want.stack, thing, name, drift, detail, fix, **kw)


# ---------------------------------------------------------------- networks and volumes

def _networks(want: Expected, world: World) -> list[Difference]:
    out = []
    for net in want.networks:
        seen = world.networks.get(net.name)
        if seen is None:
            out.append(_diff(want, Thing.NETWORK, net.name, Drift.MISSING, "removed", Fix.ENGINE, resource=net.resource))
        elif not _labelled(seen.labels, want.stack):
            out.append(_network_foreign(want, net))
        elif net.subnet not in seen.subnets:
            out.append(_network_changed(want, net, seen.subnets, seen.members))
    return out


def _network_foreign(want: Expected, net: WantNetwork) -> Difference:
    return _diff(want, Thing.NETWORK, net.name, Drift.FOREIGN, "a network kindreg did not create has its name",
                 Fix.HAND, hand=f"remove it (`docker network rm {net.name}`) or rename stack {want.stack}'s network")


def _network_changed(want: Expected, net: WantNetwork, subnets: tuple[str, ...], members: tuple[str, ...]) -> Difference:
    detail = f"recreated with subnet {', '.join(subnets) or 'none'}, planned {net.subnet}"
    if not members:
        return _diff(want, Thing.NETWORK, net.name, Drift.CHANGED, detail, Fix.REMOVE, resource=net.resource)
    return _diff(want, Thing.NETWORK, net.name, Drift.CHANGED, f"{detail}; {', '.join(members)} attached", Fix.HAND,
                 hand=f"stop what is attached, `docker network rm {net.name}`, then `kindreg up --stack {want.stack}`")


def _volumes(want: Expected, world: World) -> list[Difference]:
    return [_diff(want, Thing.VOLUME, v.name, Drift.MISSING, f"removed: {v.container} starts with an empty cache",
                  Fix.ENGINE, resource=v.resource) for v in want.volumes if v.name not in world.volumes]


def _labelled(labels, stack: str) -> bool:
    return labels.get(Label.MANAGED) == MANAGED_VALUE and labels.get(Label.STACK) == stack


# ---------------------------------------------------------------- registries and front caches

def _container(want: Expected, c: WantContainer, world: World, recorded: Recorded) -> list[Difference]:
    seen = world.containers.get(c.name)
    if seen is None:
        return [_diff(want, c.thing, c.name, Drift.MISSING, "removed", Fix.ENGINE, resource=c.resource)]
    if not _labelled(seen.labels, want.stack):
        return [_diff(want, c.thing, c.name, Drift.FOREIGN, "a container kindreg did not create has its name",
                      Fix.HAND, hand=f"remove or rename it (`docker rm -f {c.name}`), then `kindreg up --stack {want.stack}`")]
    changes = _changes(c, seen, world, recorded, want.tls)
    if changes:
        return [_diff(want, c.thing, c.name, Drift.CHANGED, "; ".join(changes), Fix.REMOVE, resource=c.resource)]
    if not seen.running:
        return [_diff(want, c.thing, c.name, Drift.STOPPED, "not running", Fix.ENGINE, resource=c.resource)]
    if seen.health == "unhealthy":
        return [_diff(want, c.thing, c.name, Drift.UNHEALTHY, "its health check fails", Fix.REMOVE,
                      resource=c.resource)]
    return []


def _changes(c: WantContainer, seen: SeenContainer, world: World, recorded: Recorded,
             tls: Optional[WantTls]) -> list[str]:
    out = []
    rid = recorded.ids.get(c.resource)
    if rid and rid != seen.id:
        out.append("recreated outside kindreg")
    image = world.images.get(c.image)
    if image and image != seen.image:
        out.append(f"runs image {_short(seen.image)}, planned {c.image} ({_short(image)})")
    wrong_env = sorted({e.split("=", 1)[0] for e in c.env - seen.env})
    if wrong_env:
        out.append(f"environment differs: {', '.join(wrong_env)}")
    added = sorted(_added_settings(c, seen))
    if added:
        out.append(f"environment adds {', '.join(added)}, which the plan does not set")
    ip = seen.networks.get(c.network)
    net = world.networks.get(c.network)
    joined = seen.network_ids.get(c.network)
    if ip is None:
        out.append(f"not on network {c.network}")
    elif joined and (net is None or net.id != joined):
        out.append(f"attached to a network {c.network} that was removed (it cannot start again)")
    elif c.ip and seen.running and ip != c.ip:  # a stopped container's endpoint has no address
        out.append(f"at {ip} on {c.network}, planned {c.ip}")
    out += _file_changes(c, seen, world, tls)
    return out


def _added_settings(c: WantContainer, seen: SeenContainer) -> set[str]:
    """Variables that override the registry's configuration (distribution reads REGISTRY_*
    over its config file) or kindreg's own, set by someone else; the image's own are not."""
    planned = {e.split("=", 1)[0] for e in c.env} | set(CREDENTIAL_ENV)
    return {n for n in seen.env_names - planned if n.startswith(OVERRIDE_ENV_PREFIXES)}


def _file_changes(c: WantContainer, seen: SeenContainer, world: World, tls: Optional[WantTls]) -> list[str]:
    """Files read inside a running container: what kindreg uploaded, and the stack's certificate
    and key as this host holds them (a pair minted anew replaces the containers that hold it)."""
    if not seen.running:
        return []
    wanted = dict(c.files)
    if c.tls and tls:
        wanted |= {inside: world.host_files.get(host) for inside, host in ((TLS_CERT, tls.cert), (TLS_KEY, tls.key))}
    edited = [p for p, digest in wanted.items() if digest and p in seen.files and seen.files[p] != digest]
    return [f"file {p} differs from what kindreg wrote" for p in edited]


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


# ---------------------------------------------------------------- TLS files

def _tls(want: Expected, world: World, recorded: Recorded) -> list[Difference]:
    if want.tls is None:
        return []
    t = want.tls
    missing = [p for p in (t.cert, t.key) if world.host_files.get(p) is None]
    if missing:
        return [_diff(want, Thing.TLS, t.cert.rsplit("/", 1)[0], Drift.MISSING, f"{', '.join(missing)} removed",
                      Fix.REPLACE, resource=t.resource)]
    minted = (recorded.outputs.get(t.resource) or {}).get("stdout")
    if minted and world.host_files.get(t.cert) != minted:
        return [_diff(want, Thing.TLS, t.cert.rsplit("/", 1)[0], Drift.CHANGED,
                      f"{t.cert} is not the certificate kindreg minted", Fix.REPLACE, resource=t.resource)]
    return []


# ---------------------------------------------------------------- nodes

def _node(want: Expected, node: WantNode, world: World) -> list[Difference]:
    seen = world.nodes.get(node.name)
    if seen is None:
        return [_diff(want, Thing.NODE, node.name, Drift.MISSING, f"kind cluster {want.cluster} lost it",
                      Fix.REPLACE, resource=resources.kind(want.stack))]
    out = _node_networks(want, node.networks, seen, world)
    if not seen.running:
        return [_diff(want, Thing.NODE, node.name, Drift.STOPPED, "not running", Fix.START), *out]
    if seen.files is None:
        return [*out, _diff(want, Thing.NODE_FILE, f"{node.name}:{NODE_CERTS_D}", Drift.UNHEALTHY,
                            "its files could not be read (docker exec failed)", Fix.HAND,
                            hand=f"check the node (`docker exec {node.name} ls {NODE_CERTS_D}`)")]
    for path, file in node.files.items():
        digest = seen.files.get(path)
        if digest != file.sha256:
            out.append(_diff(want, Thing.NODE_FILE, f"{node.name}:{path}", Drift.MISSING if digest is None else Drift.CHANGED,
                             "removed" if digest is None else "edited", Fix.REPLACE, resource=file.resource))
    if node.registry_hosting is not None and seen.hosting_read and seen.registry_hosting != node.registry_hosting:
        gone = seen.registry_hosting is None
        out.append(_diff(want, Thing.CONFIGMAP, f"kube-public/local-registry-hosting on {want.cluster}",
                         Drift.MISSING if gone else Drift.CHANGED, "deleted" if gone else "edited", Fix.REPLACE,
                         resource=resources.registry_hosting(want.stack)))
    return out


def _node_networks(want: Expected, networks: tuple[str, ...], seen: SeenNode, world: World) -> list[Difference]:
    out = []
    for net in networks:
        joined, current = seen.network_ids.get(net), world.networks.get(net)
        if net not in seen.networks:
            out.append(_diff(want, Thing.NODE_NETWORK, f"{seen.name} on {net}", Drift.MISSING, "disconnected",
                             Fix.CONNECT, network=net))
        elif joined and (current is None or current.id != joined):
            # A node still joined to a removed network cannot start again until it is detached.
            out.append(_diff(want, Thing.NODE_NETWORK, f"{seen.name} on {net}", Drift.CHANGED,
                             "joined to a network that was removed", Fix.RECONNECT, network=net))
    return out


# ---------------------------------------------------------------- what callers ask

def replacements(found: Iterable[Difference]) -> list[str]:
    """The resources `up` replaces: one entry each, in order."""
    return list(dict.fromkeys(d.resource for d in found if d.fix is Fix.REPLACE and d.resource))


# Fixes kindreg makes itself, on a node kind made: nothing for the engine to do.
KINDREG_DOES = frozenset({Fix.CONNECT, Fix.RECONNECT, Fix.START})
CONTAINERS = frozenset({Thing.MIRROR, Thing.FRONT, Thing.BUILD, Thing.CACHE})


def engine_targets(found: Iterable[Difference]) -> Optional[list[str]]:
    """The resources whose replacement alone heals `found` (each once, in order): a container
    gone, stopped or removed here for a change, and what a REPLACE fix names. None when another
    difference (a network or volume gone) needs the engine to see the whole stack."""
    out: list[str] = []
    for d in found:
        if d.fix in KINDREG_DOES:
            continue
        container = d.thing in CONTAINERS and d.fix in (Fix.ENGINE, Fix.REMOVE)
        if not d.resource or not (container or d.fix is Fix.REPLACE):
            return None
        out.append(d.resource)
    return list(dict.fromkeys(out)) or None


def by_hand(found: Iterable[Difference]) -> list[Difference]:
    return [d for d in found if d.fix is Fix.HAND]
