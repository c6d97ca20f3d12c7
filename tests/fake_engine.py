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


class FakeEngine:
    def __init__(self, containers: Sequence[dict] = (), networks: Sequence[dict] = (),
                 execs: Optional[dict] = None, reachable: bool = True,
                 network_members: Optional[dict[str, list[dict]]] = None, volumes: Sequence[dict] = (),
                 docker_host: str = "unix:///var/run/docker.sock"):
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

    def exec(self, name: str, argv: Sequence[str]) -> tuple[int, str]:
        self.calls.append((name, tuple(argv)))
        for (who, first), result in self.execs.items():
            if who == name and first == argv[0 if argv[0] != "sh" else -1].split()[0]:
                return result
        return 1, "no such command in the fake"
