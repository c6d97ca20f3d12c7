"""`python -m kindreg cache`: copy images the nodes must not fetch themselves into the cache registry.

The cache registry (.102) holds images that need credentials the cluster does not have. The
copy runs on the host with the host's registry credentials (skopeo reads the Docker config
and containers' auth.json), so nodes pull `lok8s.cache/<path>:<tag>` without any.
"""
from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Protocol, Sequence

from .plan import CACHE_HOSTNAME

DEFAULT_REGISTRY = "docker.io"


class CopyError(Exception):
    """A copy failed; the message says why (skopeo's own words)."""


@dataclass(frozen=True)
class ImageRef:
    registry: str
    path: str
    tag: Optional[str]
    digest: Optional[str]

    @property
    def source(self) -> str:
        return f"{self.registry}/{self.path}" + (f"@{self.digest}" if self.digest else f":{self.tag}")

    @property
    def target_tag(self) -> str:
        # A reference by digest alone still needs a tag to push under; pulls use the digest.
        return self.tag or f"sha256-{self.digest.split(':', 1)[1][:32]}"

    def in_cache(self, host: str) -> str:
        return f"{host}/{self.path}:{self.target_tag}"

    @property
    def node_ref(self) -> str:
        return f"{CACHE_HOSTNAME}/{self.path}" + (f"@{self.digest}" if self.digest else f":{self.tag}")


_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_DOMAIN = re.compile(r"^(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::[0-9]+)?$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def parse(image: str) -> ImageRef:
    """distribution's reference grammar; the first part is a registry if it has '.', ':' or is
    localhost, otherwise the image is on docker.io (library/ for a single name)."""
    bad = ValueError(f'"{image}" is not an image reference (e.g. ghcr.io/org/app:1.2)')
    name, _, digest = image.partition("@")
    if digest and not _DIGEST.match(digest):
        raise bad
    slash = name.rfind("/")
    tag = None
    if ":" in name[slash + 1:]:
        name, tag = name[:name.rfind(":")], name[name.rfind(":") + 1:]
        if not _TAG.match(tag):
            raise bad
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry, parts = parts[0], parts[1:]
        if not _DOMAIN.match(registry):
            raise bad
    else:
        registry = DEFAULT_REGISTRY
    if not parts or not all(_COMPONENT.match(p) for p in parts):
        raise bad
    if registry == DEFAULT_REGISTRY and len(parts) == 1:
        parts = ["library", *parts]
    return ImageRef(registry, "/".join(parts), tag or (None if digest else "latest"), digest or None)


class Copier(Protocol):
    def digest(self, ref: str, tls_verify: bool) -> Optional[str]:
        """Digest of the manifest (or index) at docker://ref; None if it is not there."""

    def copy(self, source: str, target: str, source_tls_verify: bool, target_tls_verify: bool) -> None:
        """Copy docker://source to docker://target, every platform, digests preserved."""


class Skopeo:
    def __init__(self, ca_file: Optional[str] = None):
        self.cert_dir: Optional[str] = None
        if ca_file:  # skopeo trusts the *.crt files of a directory
            d = tempfile.mkdtemp(prefix="kindreg-ca-")
            Path(d, "kindreg-ca.crt").write_bytes(Path(ca_file).read_bytes())
            self.cert_dir = d

    def _certs(self, flag: str) -> list[str]:
        return [flag, self.cert_dir] if self.cert_dir else []

    def digest(self, ref: str, tls_verify: bool) -> Optional[str]:
        out = subprocess.run(["skopeo", "inspect", "--raw", f"--tls-verify={str(tls_verify).lower()}",
                              *self._certs("--cert-dir"), f"docker://{ref}"], capture_output=True)
        if out.returncode != 0:
            return None
        return f"sha256:{hashlib.sha256(out.stdout).hexdigest()}"

    def copy(self, source: str, target: str, source_tls_verify: bool, target_tls_verify: bool) -> None:
        out = subprocess.run(
            ["skopeo", "copy", "--all", "--preserve-digests", "--retry-times", "2",
             f"--src-tls-verify={str(source_tls_verify).lower()}",
             f"--dest-tls-verify={str(target_tls_verify).lower()}", *self._certs("--dest-cert-dir"),
             f"docker://{source}", f"docker://{target}"], capture_output=True, text=True)
        if out.returncode != 0:
            raise CopyError(_last_error(out.stderr))


def _last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    text = lines[-1] if lines else "skopeo failed without a message"
    return re.sub(r'^time="[^"]*" level=\w+ msg="(.*)"$', r"\1", text)


@dataclass(frozen=True)
class Result:
    image: str
    target: str
    outcome: str  # copied | skipped | failed
    detail: str


def cache_images(images: Sequence[str], cache_host: str, tls: bool, copier: Copier, parallel: int = 1,
                 insecure_source: bool = False, progress: Callable[[str], None] = print) -> list[Result]:
    """Copy each image into the cache registry at `cache_host`; one image's failure stops no other."""
    lock = threading.Lock()
    total = len(images)

    def one(index: int, image: str) -> Result:
        result = _cache_one(image, cache_host, tls, copier, insecure_source)
        with lock:
            progress(f"[{index}/{total}] {result.image}: {result.outcome} {result.detail}".rstrip())
        return result

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(one, range(1, total + 1), images))


def _cache_one(image: str, cache_host: str, tls: bool, copier: Copier, insecure_source: bool) -> Result:
    try:
        ref = parse(image)
    except ValueError as err:
        return Result(image, "", "failed", str(err))
    target = ref.in_cache(cache_host)
    source_digest = copier.digest(ref.source, not insecure_source)
    if source_digest is None:
        return Result(image, target, "failed", f"cannot read {ref.source} (does it exist, and are you "
                                               "logged in to its registry? `docker login` or `skopeo login`)")
    if copier.digest(target, tls) == source_digest:
        return Result(image, target, "skipped", f"already cached ({source_digest[:19]}); nodes pull {ref.node_ref}")
    try:
        copier.copy(ref.source, target, not insecure_source, tls)
    except CopyError as err:
        return Result(image, target, "failed", str(err))
    return Result(image, target, "copied", f"({source_digest[:19]}); nodes pull {ref.node_ref}")


def summary(results: list[Result]) -> str:
    counts = {k: sum(r.outcome == k for r in results) for k in ("copied", "skipped", "failed")}
    return f"{counts['copied']} copied, {counts['skipped']} already cached, {counts['failed']} failed"
