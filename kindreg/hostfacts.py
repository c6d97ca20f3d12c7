"""Facts about this machine the CLI and the program read: mkcert's CA, trust store, ports."""
from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Callable, Mapping, Optional

Which = Callable[[str], Optional[str]]


def mkcert_caroot(env: Mapping[str, str], which: Which = shutil.which) -> Optional[str]:
    """Where mkcert keeps its CA: $CAROOT, else what `mkcert -CAROOT` says."""
    if env.get("CAROOT"):
        return env["CAROOT"]
    if not which("mkcert"):
        return None
    out = subprocess.run(["mkcert", "-CAROOT"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


def _pem_body(text: str) -> str:
    match = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)
    return re.sub(r"\s+", "", match.group(1)) if match else ""


def ca_trusted(ca_file: str, bundle: Optional[str] = None) -> Optional[bool]:
    """Is the CA in the system trust bundle (where `mkcert -install` puts it on Linux)?
    None when there is no bundle file to read (macOS keychain, Windows store)."""
    bundle = bundle or ssl.get_default_verify_paths().cafile or ssl.get_default_verify_paths().openssl_cafile
    if not bundle or not Path(bundle).exists():
        return None
    body = _pem_body(Path(ca_file).read_text())
    return bool(body) and body in re.sub(r"\s+", "", Path(bundle).read_text())


def port_free(port: int) -> bool:
    for address in ("127.0.0.1", "0.0.0.0"):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True
