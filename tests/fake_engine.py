"""A fake Docker engine: containers and networks shaped like `docker inspect` output."""
from __future__ import annotations

from typing import Optional, Sequence

from kindreg.core import render
from kindreg.adapters.engine import EngineError
from kindreg.core.plan import RegistryPlan
from kindreg.core.vocabulary import KIND_CLUSTER_LABEL


def container(name: str, labels: dict, networks: dict[str, str], status: str = "running",
              health: Optional[str] = "healthy", ports: Optional[dict] = None) -> dict:
    state = {"Status": status, "Running": status == "running"}
    if health:
        state["Health"] = {"Status": health}
    return {"Name": f"/{name}", "Config": {"Labels": labels}, "State": state,
            "NetworkSettings": {"Networks": {n: {"IPAddress": ip} for n, ip in networks.items()},
                                "Ports": ports or {}},
            "HostConfig": {"PortBindings": {}}}


def registry(reg: RegistryPlan, **kw) -> dict:
    return container(reg.container, render.registry_labels(reg), {reg.network: reg.ip}, **kw)


def node(name: str, cluster: str, networks: dict[str, str], **kw) -> dict:
    return container(name, {KIND_CLUSTER_LABEL: cluster}, networks, health=None, **kw)


def network(name: str, subnet: str, labels: Optional[dict] = None, containers: Optional[dict] = None) -> dict:
    return {"Name": name, "Labels": labels or {}, "IPAM": {"Config": [{"Subnet": subnet}]},
            "Containers": {f"id-{n}": {"Name": n, "IPv4Address": f"{ip}/24"} for n, ip in (containers or {}).items()}}


def planted(engine: "FakeEngine", *plans) -> "FakeEngine":
    """The files kindreg writes, as each plan has them, inside the fake's containers and nodes
    (what `docker exec ... sha256sum` and kubectl would find on a machine that is up)."""
    from kindreg.core.expected import expected
    for plan in plans:
        want = expected(plan)
        for c in want.containers:
            engine.files.setdefault(c.name, {}).update(c.files)
        for n in want.nodes:
            engine.files.setdefault(n.name, {}).update({p: f.sha256 for p, f in n.files.items()})
            if n.registry_hosting is not None:
                engine.hosting[n.name] = n.registry_hosting
    return engine


class FakeEngine:
    def __init__(self, containers: Sequence[dict] = (), networks: Sequence[dict] = (),
                 execs: Optional[dict] = None, reachable: bool = True,
                 network_members: Optional[dict[str, list[dict]]] = None, volumes: Sequence[dict] = (),
                 docker_host: str = "unix:///var/run/docker.sock"):
        self.files: dict[str, dict[str, str]] = {}  # container -> path -> SHA-256 (see `planted`)
        self.hosting: dict[str, str] = {}  # node -> the local-registry-hosting ConfigMap's data
        self._containers, self._networks, self._volumes = list(containers), list(networks), list(volumes)
        self.network_members = network_members or {}
        self.execs = execs or {}
        self.reachable = reachable
        self.docker_host = docker_host
        self.calls: list[tuple[str, tuple]] = []

    def ping(self) -> str:
        if not self.reachable:
            raise EngineError("cannot reach the Docker engine (connection refused); start Docker or check DOCKER_HOST")
        return "engine 20.10.24"

    def containers(self) -> list[dict]:
        self._check()
        return self._containers

    def _check(self) -> None:
        if not self.reachable:
            raise EngineError("cannot reach the Docker engine (connection refused)")

    def network_containers(self, network: str) -> Optional[list[dict]]:
        self._check()
        return self.network_members.get(network)

    def _networks_of(self, name: str) -> dict:
        found = next(c for c in self._containers if c["Name"].lstrip("/") == name)
        return found["NetworkSettings"]["Networks"]

    def network_connect(self, network: str, container: str) -> None:
        self.calls.append(("network connect", (network, container)))
        self._networks_of(container)[network] = {"IPAddress": ""}

    def network_disconnect(self, network: str, container: str) -> None:
        self.calls.append(("network disconnect", (network, container)))
        self._networks_of(container).pop(network)

    def networks(self) -> list[dict]:
        return self._networks

    def endpoint(self) -> str:
        return self.docker_host

    def volumes(self) -> list[dict]:
        return self._volumes

    def image_ids(self, refs) -> dict[str, str]:
        return {}

    def start(self, name: str) -> None:
        self.calls.append(("start", (name,)))

    def remove(self, name: str) -> None:
        self.calls.append(("rm", (name,)))

    def network_remove(self, name: str) -> None:
        self.calls.append(("network rm", (name,)))

    def exec(self, name: str, argv: Sequence[str]) -> tuple[int, str]:
        from kindreg.adapters import world
        if list(argv[:len(world.DIGESTS)]) == world.DIGESTS:
            held = self.files.get(name, {})
            return 0, "".join(f"{held[p]}  {p}\n" if p in held else f"- {p}\n" for p in argv[len(world.DIGESTS):])
        if list(argv) == world.HOSTING_GET:
            import yaml
            if name not in self.hosting:
                return 1, 'Error from server (NotFound): configmaps "local-registry-hosting" not found'
            return 0, yaml.safe_dump({"data": {"localRegistryHosting.v1": self.hosting[name]}})
        self.calls.append((name, tuple(argv)))
        for (who, first), result in self.execs.items():
            if who == name and first == argv[0 if argv[0] != "sh" else -1].split()[0]:
                return result
        return 1, "no such command in the fake"
