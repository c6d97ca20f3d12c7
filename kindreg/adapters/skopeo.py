"""Image copies between registries, by skopeo (with the host's registry credentials)."""
from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Optional, Protocol


class CopyError(Exception):
    """A copy failed; the message says why (skopeo's own words)."""


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
            raise CopyError(last_error(out.stderr))


def last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    text = lines[-1] if lines else "skopeo failed without a message"
    return re.sub(r'^time="[^"]*" level=\w+ msg="(.*)"$', r"\1", text)
