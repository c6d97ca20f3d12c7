"""Real software without Docker: Debian's registry, containerd and mkcert, in a network namespace.

Registries listen on their planned addresses (added to the namespace's loopback), and ctr
runs in a private mount namespace where the rendered tree is mounted at the node path
/etc/containerd/certs.d, so hosts.toml files are read exactly as a kind node reads them.
"""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

import pytest

from kindreg.core import scripts
from tests.images import oci_layout
from tests.netns import Netns, RegistryProcess
from tests.requirements import need_root, need_tools

TOOLS = ("ip", "unshare", "docker-registry", "containerd", "ctr", "skopeo", "curl", "openssl", "mkcert")
UPSTREAM_IP = "10.125.200.250"
UPSTREAM = f"http://{UPSTREAM_IP}:5000"
TEST_IMAGE = "library/kindreg-test"
_names = itertools.count()


class Containerd:
    def __init__(self, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        self.address = str(workdir / "containerd.sock")
        (workdir / "config.toml").write_text(
            f'version = 2\nroot = "{workdir}/root"\nstate = "{workdir}/state"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{self.address}"\n')
        self.proc = subprocess.Popen(["containerd", "--config", str(workdir / "config.toml")],
                                     stdout=(workdir / "log").open("w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 15
        while not Path(self.address).exists() and time.time() < deadline:
            time.sleep(0.1)
        assert Path(self.address).exists(), "containerd did not start"

    def pull(self, ns: Netns, tree: Path, ref: str) -> subprocess.CompletedProcess:
        """`ctr images pull` as a node does it: the tree mounted at /etc/containerd/certs.d."""
        return ns.run(
            "unshare -m sh -c '"
            "mount -t tmpfs kindreg /etc/containerd && mkdir /etc/containerd/certs.d && "
            f"mount --bind {tree} /etc/containerd/certs.d && "
            f"ctr --address {self.address} images pull --hosts-dir /etc/containerd/certs.d {ref}'",
            check=False)

    def forget(self, ref: str) -> None:
        """Remove the image and its content, so the next pull fetches again."""
        subprocess.run(["ctr", "--address", self.address, "images", "rm", "--sync", ref],
                       capture_output=True, check=False)
        subprocess.run(["ctr", "--address", self.address, "content", "prune", "references"],
                       capture_output=True, check=False)

    def close(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(15)


def write_tree(tree: Path, files: dict[str, str], ca_source: Optional[Path] = None) -> None:
    """Write a certs.d tree with the very scripts the Command resources run."""
    env = {**os.environ, "KINDREG_CERTS_DIR": str(tree)}
    subprocess.run(["sh", "-c", scripts.CERTS_DIR_CREATE], env=env, check=True)
    for path, content in files.items():
        subprocess.run(["sh", "-c", scripts.HOSTS_FILE_WRITE], check=True,
                       env={**env, "KINDREG_HOST": path.split("/")[0], "KINDREG_CONTENT": content})
    if ca_source:
        subprocess.run(["sh", "-c", scripts.CA_COPY], env={**env, "KINDREG_CA_SOURCE": str(ca_source)}, check=True)


def mint(tls_dir: Path, caroot: Path, san: tuple[str, ...]) -> subprocess.CompletedProcess:
    """The certificate, minted by the Certificate component's own script and real mkcert."""
    return subprocess.run(["sh", "-c", scripts.MKCERT_CREATE], capture_output=True, text=True,
                          env={**os.environ, "CAROOT": str(caroot), "KINDREG_TLS_DIR": str(tls_dir),
                               "KINDREG_SANS": " ".join(san)})


@pytest.fixture(scope="session")
def realsw():
    need_tools(*TOOLS)
    need_root("network namespaces, mounts and containerd")


@pytest.fixture
def netns(realsw):
    namespaces: list[Netns] = []

    def make(addresses: list[str]) -> Netns:
        ns = Netns(f"kindreg-t{os.getpid()}-{next(_names)}", addresses)
        namespaces.append(ns)
        return ns

    yield make
    for ns in namespaces:
        ns.close()


@pytest.fixture
def containerd(realsw, tmp_path):
    c = Containerd(tmp_path / "containerd")
    yield c
    c.close()


@pytest.fixture
def upstream_with_image(tmp_path):
    """An upstream registry (the stand-in for docker.io) holding TEST_IMAGE:1 and :2."""
    def start(ns: Netns) -> RegistryProcess:
        config = ("version: 0.1\nlog: {level: info}\nstorage: {filesystem: {rootdirectory: /unused}}\n"
                  f'http: {{addr: "{UPSTREAM_IP}:5000"}}\n')
        reg = RegistryProcess(ns, tmp_path / "upstream", config, UPSTREAM)
        layout = tmp_path / "oci"
        for tag, text in (("1", b"first\n"), ("2", b"second\n")):
            oci_layout(layout, tag, [{"kindreg.txt": text}, {"payload.bin": bytes(range(256)) * 2048}])
            ns.run(f"skopeo copy --insecure-policy --dest-tls-verify=false oci:{layout}:{tag} "
                   f"docker://{UPSTREAM_IP}:5000/{TEST_IMAGE}:{tag}")
        return reg
    return start
