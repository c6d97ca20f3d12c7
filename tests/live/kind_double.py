"""kind DOUBLE for kindreg's live tests (not kind): node containers from the node stand-in image.

Implements the subset of kind's CLI that kindreg's commands call:
  kind create cluster --name N --config FILE [--wait T]
  kind delete cluster --name N
  kind get clusters | kind get nodes --name N
Nodes are named and labelled as kind names them (N-control-plane, N-worker2, label
io.x-k8s.kind.cluster=N), join the network in KIND_EXPERIMENTAL_DOCKER_NETWORK (Docker picks
their addresses), and get the config's extraMounts and containerdConfigPatches (merged into the
node's /etc/containerd/config.toml before containerd starts, as kind merges them: a TOML merge
patch, sigs.k8s.io/kind pkg/internal/patch). Real kind nodes are privileged; these get
SYS_ADMIN only, which containerd needs to unpack images.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
import tomllib

import docker
import yaml

CLUSTER_LABEL = "io.x-k8s.kind.cluster"
ROLE_LABEL = "io.x-k8s.kind.role"
NODE_IMAGE_ENV = "KINDREG_TEST_NODE_IMAGE"


def node_names(cluster: str, nodes: list[dict]) -> list[tuple[str, str]]:
    counts: dict[str, int] = {}
    out = []
    for node in nodes:
        role = node.get("role", "control-plane")
        counts[role] = counts.get(role, 0) + 1
        suffix = "" if counts[role] == 1 else str(counts[role])
        out.append((f"{cluster}-{role}{suffix}", role))
    return out


def create(client: docker.DockerClient, name: str, config_path: str) -> None:
    with open(config_path, encoding="utf-8") as f:
        config = yaml.safe_load(f.read())
    network = os.environ.get("KIND_EXPERIMENTAL_DOCKER_NETWORK", "kind")
    for (node_name, role), node in zip(node_names(name, config["nodes"]), config["nodes"]):
        mounts = [docker.types.Mount(m["containerPath"], m["hostPath"], type="bind",
                                     read_only=bool(m.get("readOnly")))
                  for m in node.get("extraMounts", [])]
        container = client.containers.create(
            os.environ[NODE_IMAGE_ENV], name=node_name, hostname=node_name, detach=True,
            network=network, mounts=mounts, cap_add=["SYS_ADMIN"],
            labels={CLUSTER_LABEL: name, ROLE_LABEL: role, "kindreg.test-double": "kind",
                    # the test run that owns it (tests/doubles/ownership.py)
                    "kindreg.test-run": os.environ.get("KINDREG_TEST_RUN", "")})
        patch_containerd(container, config.get("containerdConfigPatches") or [])
        container.start()
        print(f" ✓ (double) node {node_name} started on {network}", file=sys.stderr)


CONTAINERD_CONFIG = "/etc/containerd/config.toml"


def merged(base: str, patches: list[str]) -> str:
    """`base` with each TOML patch merged in: tables merge, other values replace."""
    import tomlkit
    doc = tomllib.loads(base)
    for patch in patches:
        _merge(doc, tomllib.loads(patch))
    return tomlkit.dumps(doc)


def _merge(into: dict, patch: dict) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def patch_containerd(container, patches: list[str]) -> None:
    if not patches:
        return
    stream, _ = container.get_archive(CONTAINERD_CONFIG)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        base = tar.extractfile(os.path.basename(CONTAINERD_CONFIG)).read().decode()
    data = merged(base, patches).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(os.path.basename(CONTAINERD_CONFIG))
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    container.put_archive(os.path.dirname(CONTAINERD_CONFIG), out.getvalue())


def nodes_of(client: docker.DockerClient, name: str) -> list:
    return client.containers.list(all=True, filters={"label": f"{CLUSTER_LABEL}={name}"})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kind (double)")
    parser.add_argument("verb", choices=["create", "delete", "get"])
    parser.add_argument("noun", choices=["cluster", "clusters", "nodes"])
    parser.add_argument("--name", default="kind")
    parser.add_argument("--config")
    parser.add_argument("--wait")
    args = parser.parse_args(argv)
    client = docker.from_env()
    if (args.verb, args.noun) == ("create", "cluster"):
        create(client, args.name, args.config)
    elif (args.verb, args.noun) == ("delete", "cluster"):
        for c in nodes_of(client, args.name):
            c.remove(force=True)
    elif (args.verb, args.noun) == ("get", "clusters"):
        names = {c.labels[CLUSTER_LABEL] for c in client.containers.list(all=True, filters={"label": CLUSTER_LABEL})}
        print("\n".join(sorted(names)))
    elif (args.verb, args.noun) == ("get", "nodes"):
        print("\n".join(sorted(c.name for c in nodes_of(client, args.name))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
