"""Network namespaces with processes in them: test hosts on one machine (real software tests,
and the benchmark's rate-limited upstream)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional


class Netns:
    def __init__(self, name: str, addresses: list[str]):
        self.name = name
        self.procs: list[subprocess.Popen] = []
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.run("ip link set lo up")
        for addr in addresses:
            self.run(f"ip addr add {addr}/24 dev lo")

    def run(self, command: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        out = subprocess.run(["ip", "netns", "exec", self.name, "sh", "-c", command],
                             capture_output=True, text=True, **kw)
        if check and out.returncode != 0:
            raise AssertionError(f"{command!r} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        return out

    def start(self, argv: list[str], log: Path, env: Optional[dict] = None) -> subprocess.Popen:
        proc = subprocess.Popen(["ip", "netns", "exec", self.name, *argv], stdout=log.open("w"),
                                stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def wait_http(self, url: str, cacert: Optional[Path] = None, timeout: float = 15) -> None:
        ca = f"--cacert {cacert}" if cacert else ""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.run(f"curl -sf {ca} -o /dev/null {url}", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError(f"{url} did not answer within {timeout}s")

    def close(self) -> None:
        for p in self.procs:
            self.stop(p)
        subprocess.run(["ip", "netns", "del", self.name], check=False)


class RegistryProcess:
    """Debian's registry serving a rendered config; host-specific paths come from env overrides."""

    def __init__(self, ns: Netns, workdir: Path, config: str, url: str, tls_dir: Optional[Path] = None,
                 cacert: Optional[Path] = None):
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.yml").write_text(config)
        env = {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(workdir / "data"),
               # the debug listener of the rendered config (:5001) would clash between registries
               "REGISTRY_HTTP_DEBUG_ADDR": ""}
        if tls_dir:
            env["REGISTRY_HTTP_TLS_CERTIFICATE"] = str(tls_dir / "cert.pem")
            env["REGISTRY_HTTP_TLS_KEY"] = str(tls_dir / "key.pem")
        self.ns, self.log, self.url = ns, workdir / "registry.log", url
        self.proc = ns.start(["docker-registry", "serve", str(workdir / "config.yml")], self.log, env)
        ns.wait_http(f"{url}/v2/", cacert)

    def stop(self) -> None:
        self.ns.stop(self.proc)

    def requests(self, path: str, methods: tuple = ("GET", "HEAD")) -> int:
        """Access-log requests whose path starts with `path` (e.g. "/v2/library/x/manifests/")."""
        found = re.findall(r'"([A-Z]+) (/v2/[^ ?"]*)', self.log.read_text())
        return sum(1 for method, p in found if method in methods and p.startswith(path))


def link_to_host(ns: Netns, host_ip: str, ns_ip: str, prefix: int = 30, rate: Optional[str] = None) -> str:
    """A veth pair between the host and `ns` (the namespace's default route), optionally with
    the namespace's side shaped by a tbf qdisc (e.g. rate="20mbit": what the namespace sends)."""
    host_if = f"krh{abs(hash(ns.name)) % 100000}"
    subprocess.run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", "kr0", "netns", ns.name], check=True)
    subprocess.run(["ip", "addr", "add", f"{host_ip}/{prefix}", "dev", host_if], check=True)
    subprocess.run(["ip", "link", "set", host_if, "up"], check=True)
    ns.run(f"ip addr add {ns_ip}/{prefix} dev kr0 && ip link set kr0 up && ip route add default via {host_ip}")
    if rate:
        # tbf, not netem (not in this kernel): the bucket holds ~10 ms at that rate.
        ns.run(f"tc qdisc add dev kr0 root tbf rate {rate} burst 64kb latency 400ms")
    return host_if
