"""Test images built offline with `docker import` (nothing can be pulled on build machines).

- registry: distribution 3.x built from its Go module (what `registry:3` runs) as
  /bin/registry, busybox for the shell, wget and the rest of what kindreg's mirror
  entrypoint and health check use.
- node: a kind node stand-in running containerd 2.x built from its Go module (what kind v0.27+
  node images run), with the CRI registry config_path at /etc/containerd/certs.d as kind's
  images set it, plus a kubectl double that records what is applied.

The binaries come from the tool cache tests/setup.sh fills (KINDREG_TEST_REGISTRY_BIN,
KINDREG_TEST_CONTAINERD_BIN); `registry_image(DEBIAN_REGISTRY_BIN)` builds one with Debian's
distribution 2.8.2 where a test checks compatibility with it on purpose.

Each image is tagged with a hash of what went into it, so it is built once and reused.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Iterable

RECIPE_VERSION = "1"
LIBS = ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2")
BUSYBOX_APPLETS = ("sh", "wget", "cat", "kill", "sleep", "mkdir", "rm", "ls", "tr", "grep", "cut",
                   "sort", "head", "echo", "printf", "ps", "mv", "cp", "du", "find", "test", "[", "env",
                   "timeout", "rmdir", "sha256sum")

NODE_CONTAINERD_CONFIG = """version = 3
# As in kind's node images (kind >= v0.27, containerd 2.x): registry hosts come from this directory.
[plugins."io.containerd.cri.v1.images".registry]
  config_path = "/etc/containerd/certs.d"
"""

KUBECTL_DOUBLE = """#!/bin/sh
# kubectl DOUBLE for kindreg's live tests: keeps the one ConfigMap kindreg applies in a file.
#   kubectl [--kubeconfig F] apply -f -            stores stdin
#   kubectl [--kubeconfig F] get configmap N -n NS -o yaml   prints it, or NotFound as kubectl does
#   kubectl [--kubeconfig F] delete configmap N -n NS
store=/var/lib/kubectl-double/applied.yaml
[ "$1" = "--kubeconfig" ] && shift 2
case "$1" in
  apply) mkdir -p /var/lib/kubectl-double; cat > "$store"
         echo "configmap/local-registry-hosting configured (kubectl double)" ;;
  get) if [ -f "$store" ]; then cat "$store"; else
         echo "Error from server (NotFound): configmaps \"$3\" not found" >&2; exit 1; fi ;;
  delete) if [ -f "$store" ]; then rm -f "$store"; echo "configmap \"$3\" deleted"; else
         echo "Error from server (NotFound): configmaps \"$3\" not found" >&2; exit 1; fi ;;
  *) echo "kubectl double: unsupported: $*" >&2; exit 1 ;;
esac
"""

def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def _rootfs(binaries: dict[str, str], files: dict[str, tuple[bytes, int]], dirs: Iterable[str],
            libs: Iterable[str] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "lib", "lib/x86_64-linux-gnu", "lib64", "etc", "var", "var/lib", "run", *dirs):
            _add_dir(tar, d)
        _add_dir(tar, "tmp", 0o1777)
        for lib in dict.fromkeys((*LIBS, *libs)):
            _add_file(tar, lib.lstrip("/"), Path(lib).read_bytes(), 0o755)
        _add_file(tar, "bin/busybox", Path(shutil.which("busybox") or "/bin/busybox").read_bytes(), 0o755)
        for applet in BUSYBOX_APPLETS:
            _add_link(tar, f"bin/{applet}", "busybox")
        for target, source in binaries.items():
            _add_file(tar, target, Path(source).read_bytes(), 0o755)
        for name, (data, mode) in files.items():
            _add_file(tar, name, data, mode)
    return buf.getvalue()


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256(RECIPE_VERSION.encode())
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()[:12]


def _import(repo: str, rootfs: bytes, changes: list[str]) -> str:
    tag = f"{repo}:{_digest(rootfs, '|'.join(changes).encode())}"
    have = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False)
    if have.returncode == 0:
        return tag
    cmd = ["docker", "import"]
    for c in changes:
        cmd += ["--change", c]
    subprocess.run([*cmd, "-", tag], input=rootfs, check=True, capture_output=True)
    return tag


DEBIAN_REGISTRY_BIN = "/usr/bin/docker-registry"  # distribution 2.8.2


def go_built(variable: str) -> str:
    """A binary tests/setup.sh put in the tool cache (built from Go modules, or Debian's nginx)."""
    path = os.environ.get(variable, "")
    if not path or not os.path.exists(path):
        raise FileNotFoundError(f"{variable} does not name a built binary ({path or 'unset'}); "
                                "`bash tests/run` provides it (tests/setup.sh)")
    return path


def registry_image(registry_bin: str = "") -> str:
    rootfs = _rootfs(
        {"bin/registry": registry_bin or go_built("KINDREG_TEST_REGISTRY_BIN")},
        {"etc/ssl/certs/ca-certificates.crt": (Path("/etc/ssl/certs/ca-certificates.crt").read_bytes(), 0o644),
         "etc/distribution/config.yml": (b"version: 0.1\nstorage: {filesystem: {rootdirectory: /var/lib/registry}}\n"
                                         b"http: {addr: ':5000'}\n", 0o644)},
        ("etc/ssl", "etc/ssl/certs", "etc/distribution", "var/lib/registry"),
    )
    return _import("kindreg-test/registry", rootfs,
                   ["ENV PATH=/bin", 'ENTRYPOINT ["registry", "serve", "/etc/distribution/config.yml"]'])


def node_image() -> str:
    bin_dir = go_built("KINDREG_TEST_CONTAINERD_BIN")
    rootfs = _rootfs(
        {"bin/containerd": f"{bin_dir}/containerd", "bin/ctr": f"{bin_dir}/ctr"},
        {"etc/containerd/config.toml": (NODE_CONTAINERD_CONFIG.encode(), 0o644),
         "bin/kubectl": (KUBECTL_DOUBLE.encode(), 0o755)},
        ("etc/containerd", "etc/kubernetes", "var/lib/containerd"),
    )
    return _import("kindreg-test/node", rootfs, ["ENV PATH=/bin", 'ENTRYPOINT ["/bin/containerd"]'])


def shared_libraries(binary: str) -> list[str]:
    """The shared libraries `binary` loads, as this machine's loader resolves them."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return [part.split()[2] for part in out.splitlines() if "=> /" in part]


# The official nginx image runs its workers as `nobody`; so does the front's config.
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = b"root:x:0:\nnobody:x:65534:\n"


def front_image() -> str:
    """The front cache: Debian's nginx (what the official nginx image runs), busybox for wget."""
    nginx = go_built("KINDREG_TEST_NGINX_BIN")
    rootfs = _rootfs(
        {"bin/nginx": nginx},
        {"etc/ssl/certs/ca-certificates.crt": (Path("/etc/ssl/certs/ca-certificates.crt").read_bytes(), 0o644),
         "etc/passwd": (PASSWD, 0o644), "etc/group": (GROUP, 0o644)},
        ("etc/ssl", "etc/ssl/certs", "etc/nginx", "var/cache", "var/log", "var/log/nginx", "var/lib/nginx"),
        libs=shared_libraries(nginx),
    )
    return _import("kindreg-test/front", rootfs, ["ENV PATH=/bin", 'ENTRYPOINT ["/bin/nginx"]'])


def front_cache() -> dict:
    """A stack's `frontCache` setting naming the test front image (nginx:stable-alpine cannot be pulled)."""
    return {"image": front_image()}


def built() -> tuple[str, str]:
    return registry_image(), node_image()
