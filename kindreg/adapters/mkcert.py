"""mkcert's local CA on this machine: where it is, whether it exists, whether the host trusts it.

The one place kindreg looks the CA up; the program, the preflight, `doctor`, `cache` and
`push` all ask a `LocalCA`.
"""
from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Callable, Mapping, Optional

Which = Callable[[str], Optional[str]]
ROOT_CA = "rootCA.pem"


class LocalCA:
    def __init__(self, env: Mapping[str, str], which: Which = shutil.which,
                 exists: Callable[[str], bool] = os.path.exists):
        self.env, self.which, self.exists = env, which, exists
        self._root: Optional[str] = None
        self._asked = False

    def root(self) -> Optional[str]:
        """$CAROOT, else what `mkcert -CAROOT` says (asked once)."""
        if not self._asked:
            self._asked = True
            self._root = self.env.get("CAROOT") or self._ask_mkcert()
        return self._root

    def _ask_mkcert(self) -> Optional[str]:
        if not self.which("mkcert"):
            return None
        out = subprocess.run(["mkcert", "-CAROOT"], capture_output=True, text=True, check=False,
                             env={**os.environ, **self.env})
        return out.stdout.strip() or None

    def file(self) -> Optional[str]:
        """The CA's rootCA.pem, if the CA exists."""
        root = self.root()
        path = str(Path(root) / ROOT_CA) if root else None
        return path if path and self.exists(path) else None

    def trusted(self, bundle: Optional[str] = None) -> Optional[bool]:
        """Is the CA in the system trust bundle (where `mkcert -install` puts it on Linux)?
        None when there is no bundle file to read (macOS keychain, Windows store)."""
        ca = self.file()
        return ca_in_bundle(ca, bundle) if ca else False


def ca_in_bundle(ca_file: str, bundle: Optional[str] = None) -> Optional[bool]:
    paths = ssl.get_default_verify_paths()
    bundle = bundle or paths.cafile or paths.openssl_cafile
    if not bundle or not Path(bundle).exists():
        return None
    body = _pem_body(Path(ca_file).read_text())
    return bool(body) and body in re.sub(r"\s+", "", Path(bundle).read_text())


def _pem_body(text: str) -> str:
    match = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)
    return re.sub(r"\s+", "", match.group(1)) if match else ""
