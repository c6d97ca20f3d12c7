"""lok8s `Lo` cluster files, read as lok8s writes them.

A `cluster.lok8s.yaml` carries much more than kindreg manages (the Kubernetes bootstrap,
kubehz, load balancer, remote mode, ...). Those sections are accepted and listed once as left
to lok8s; the fields that map onto kindreg are translated with lok8s's own meaning and
defaults (lok8s's Lo driver, `readNetworkConfig`/`slotFromDomain`, and docs/reference/specs.md):

- the slot comes from `spec.cluster.domain`: `lok8s.dev` is 125, `<n>.lok8s.dev` is n (2-199);
  another domain must give `spec.network.name` and `spec.network.cidr`;
- `spec.network.name` defaults to `metadata.name`;
- `spec.registries.tls` defaults to true;
- `spec.registries.prefix` is lok8s's image prefix (default `lok8s.local`), not a name prefix;
- `spec.registries.mirrors: []` (or empty) means the default mirrors;
- `spec.nodes.controlPlane` is the control-plane count;
- `spec.kubernetes.version` picks the kind node image (`kindest/node:<version>`).

An unknown key inside a section kindreg manages is still an error, with did-you-mean.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Optional

from .errors import Problem, problem
from .vocabulary import BUILD_HOSTNAME

API_VERSION = "cluster.lok8s.dev/v1beta1"
KIND = "Lo"
TOP = ("apiVersion", "kind", "metadata", "spec")
METADATA = ("name", "labels", "annotations")
DEFAULT_DOMAIN, DEFAULT_SLOT = "lok8s.dev", 125
SLOT_DOMAIN_RE = re.compile(r"^([0-9]+)\.lok8s\.dev$")
SLOT_RANGE = range(2, 200)  # 200 is the shared registries' network
KIND_NODE_IMAGE = "kindest/node"
VERSION_RE = re.compile(r"^v[0-9]+\.[0-9]+\.[0-9]+$")

# Per section of `spec`: the keys kindreg reads, and the ones it accepts and leaves to lok8s.
# kindreg's own extensions (image, deleteVolumes, hostPort, publishMirrors, nodes.enabled/image, workload)
# are accepted in a lok8s file too.
MANAGED = {
    "spec": ("network", "registries", "nodes", "kubernetes", "cluster", "runtime", "workload"),
    "spec.network": ("name", "cidr"),
    "spec.registries": ("tls", "shared", "mirrors", "prefix", "image", "deleteVolumes", "hostPort",
                         "publishMirrors"),
    "spec.nodes": ("controlPlane", "workers", "enabled", "image", "certsTree"),
    "spec.kubernetes": ("version",),
    "spec.cluster": ("domain",),
}
LEFT_TO_LOK8S = {
    "spec": ("bootstrap", "kubehz", "loadBalancer", "provider", "remote", "coredns", "build", "gitops",
             "oidc", "dns"),
    "spec.nodes": ("hostPorts", "maxConcurrentDownloads", "extraMounts"),
    "spec.cluster": ("namespace",),
    "spec.network": (),
    "spec.registries": (),
    "spec.kubernetes": (),
}


@dataclass
class Translated:
    """A lok8s spec as kindreg project fields, with what was left to lok8s and what is wrong."""

    raw: dict = field(default_factory=dict)
    left_to_lok8s: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def slot_of(domain: str) -> Optional[int]:
    if domain == DEFAULT_DOMAIN:
        return DEFAULT_SLOT
    m = SLOT_DOMAIN_RE.match(domain)
    return int(m.group(1)) if m and int(m.group(1)) in SLOT_RANGE else None


def translate(doc: dict) -> Translated:
    out = Translated()
    out.problems += _keys(doc, TOP, (), "")
    if doc.get("apiVersion") != API_VERSION:
        out.problems.append(problem("apiVersion", f'is not supported; use "{API_VERSION}"', doc.get("apiVersion")))
    if doc.get("kind") != KIND:
        out.problems.append(problem("kind", f'is not a kind kindreg reads; kindreg provisions kind clusters, '
                                    f'lok8s `kind: {KIND}` files', doc.get("kind")))
    meta = _mapping(doc, "metadata", out)
    out.problems += _keys(meta, METADATA, (), "metadata")
    if "name" not in meta:
        out.problems.append(problem("metadata.name", "is required (it names the project and its kind cluster)"))
    spec = _mapping(doc, "spec", out)
    _sections(spec, out)
    raw = {k: _known(spec[k], f"spec.{k}") for k in ("network", "registries", "nodes", "workload") if k in spec}
    if "name" in meta:
        raw["name"] = meta["name"]
    _network(spec, meta, raw, out)
    _registries(raw, out)
    _nodes(spec, raw, out)
    _runtime(spec, out)
    out.raw = raw
    return out


def path_of(loc: tuple) -> str:
    """The lok8s path of a kindreg field, for messages."""
    if loc[:1] == ("name",):
        return "metadata.name"
    parts = ["spec"]
    for i, p in enumerate(loc):
        if isinstance(p, int):
            parts[-1] += f"[{p}]"
        elif loc[:i] == ("nodes",) and p == "controlPlanes":
            parts.append("controlPlane")
        else:
            parts.append(str(p))
    return ".".join(parts)


# ---------------------------------------------------------------- sections

def _known(value: object, where: str) -> object:
    """A section with only the keys kindreg reads (the others are reported or left to lok8s)."""
    if not isinstance(value, dict) or where not in MANAGED:
        return value
    return {k: v for k, v in value.items() if k in MANAGED[where]}


def _mapping(parent: dict, key: str, out: Translated, at: str = "") -> dict:
    value = parent.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        out.problems.append(problem(f"{at}.{key}" if at else key, "is not a mapping of fields", value))
        return {}
    return value


def _sections(spec: dict, out: Translated) -> None:
    out.problems += _keys(spec, MANAGED["spec"], LEFT_TO_LOK8S["spec"], "spec")
    out.left_to_lok8s += [f"spec.{k}" for k in spec if k in LEFT_TO_LOK8S["spec"]]
    for section in ("network", "registries", "nodes", "kubernetes", "cluster"):
        where = f"spec.{section}"
        values = _mapping(spec, section, out, "spec")
        out.problems += _keys(values, MANAGED[where], LEFT_TO_LOK8S[where], where)
        out.left_to_lok8s += [f"{where}.{k}" for k in values if k in LEFT_TO_LOK8S[where]]


def _keys(values: dict, managed: tuple, left: tuple, at: str) -> list[Problem]:
    allowed = managed + left
    out = []
    for key in values:
        if key not in allowed:
            guess = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f'did you mean "{guess[0]}"? ' if guess else ""
            out.append(problem(f"{at}.{key}" if at else str(key),
                               f"unknown field; {hint}(allowed here: {', '.join(allowed)})"))
    return out


def _network(spec: dict, meta: dict, raw: dict, out: Translated) -> None:
    network = dict(raw.get("network") or {})
    cluster = spec.get("cluster") if isinstance(spec.get("cluster"), dict) else {}
    domain = cluster.get("domain")
    slot = slot_of(domain) if isinstance(domain, str) else None
    if slot is not None:
        network.setdefault("cidr", f"10.125.{slot}.0/24")
    else:
        why = (f'the domain "{domain}" names no slot' if isinstance(domain, str) else "spec.cluster.domain is not set")
        for key, example in (("name", '"lok8s-50"'), ("cidr", '"10.125.50.0/24"')):
            if key not in network:
                out.problems.append(problem(
                    f"spec.network.{key}", f"is required: {why} (lok8s derives the network only for lok8s.dev "
                    f"and <n>.lok8s.dev, n from 2 to 199); set it, e.g. {example}"))
    if network:
        raw["network"] = network


def _registries(raw: dict, out: Translated) -> None:
    regs = raw.get("registries")
    regs = dict(regs) if isinstance(regs, dict) else {}
    regs.setdefault("tls", True)  # lok8s serves TLS unless told otherwise
    if regs.get("mirrors") in ([], None):
        regs.pop("mirrors", None)  # lok8s: no mirror list means its default mirrors
    prefix = regs.pop("prefix", None)
    if prefix is not None and prefix != BUILD_HOSTNAME:
        out.problems.append(problem(
            "spec.registries.prefix", f"is lok8s's image prefix; kindreg's nodes always pull the build "
            f'registry as {BUILD_HOSTNAME}: remove it or set it to "{BUILD_HOSTNAME}"', prefix))
    raw["registries"] = regs


def _nodes(spec: dict, raw: dict, out: Translated) -> None:
    nodes = {k: v for k, v in (raw.get("nodes") or {}).items() if k not in LEFT_TO_LOK8S["spec.nodes"]}
    if "controlPlane" in nodes:
        nodes["controlPlanes"] = nodes.pop("controlPlane")
    version = (spec.get("kubernetes") or {}).get("version") if isinstance(spec.get("kubernetes"), dict) else None
    if version is not None and "image" not in nodes:
        if isinstance(version, str) and VERSION_RE.match(version):
            nodes["image"] = f"{KIND_NODE_IMAGE}:{version}"
        else:
            out.problems.append(problem("spec.kubernetes.version", 'is not a Kubernetes version like "v1.31.4"',
                                        version))
    if nodes or "nodes" in raw:
        raw["nodes"] = nodes


def _runtime(spec: dict, out: Translated) -> None:
    runtime = spec.get("runtime", "kind")
    if runtime != "kind":
        out.problems.append(problem("spec.runtime", 'is not "kind"; kindreg provisions kind clusters', runtime))
