"""Push a manifests package as a Flux OCI artifact, through the ORAS client library."""
from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import Optional

from kindreg.core import artifact


class PushError(Exception):
    """The registry refused the artifact, or could not be reached."""


def reachable(registry: str, tls: bool, timeout: float = 5.0) -> None:
    """Fail fast when nothing listens: the ORAS client retries a refused connection for two
    minutes (sleeps of 3, 5, 11, 29 and 83 s) before it gives up."""
    host, _, port = registry.rpartition(":") if registry.count(":") == 1 else (registry, "", "")
    address = (host or registry, int(port) if port.isdigit() else (443 if tls else 80))
    try:
        socket.create_connection(address, timeout=timeout).close()
    except OSError as err:
        raise PushError(f"cannot reach the registry {registry} ({err.strerror or err}); is it running, "
                        f"and is the address right?") from None


def push(data: bytes, target: artifact.Target, tls: bool, ca_file: Optional[str] = None,
         auth: Optional[tuple[str, str]] = None) -> str:
    """Push the package `data` to `target` (with basic `auth` when given); the manifest digest."""
    import oras.provider  # imported here: only `push` needs the registry client

    reachable(target.registry, tls)
    with tempfile.TemporaryDirectory(prefix="kindreg-push-") as tmp:
        layer = Path(tmp) / artifact.LAYER_TITLE
        layer.write_bytes(data)
        config = Path(tmp) / "config.json"
        config.write_text("{}")
        registry = oras.provider.Registry(hostname=target.registry, insecure=not tls,
                                          tls_verify=ca_file or True)
        if auth:  # in memory only: never written to a Docker config as `login` would
            registry.auth.set_basic_auth(*auth)
        try:
            response = registry.push(
                target=target.reference,
                files=[f"{layer}:{artifact.FLUX_CONTENT_MEDIA_TYPE}"],
                manifest_config=f"{config}:{artifact.FLUX_CONFIG_MEDIA_TYPE}",
                # Content-derived only, so unchanged files push the same manifest (same digest).
                manifest_annotations={"org.opencontainers.image.source": "kindreg",
                                      "org.opencontainers.image.revision": artifact.digest(data)},
                disable_path_validation=True, quiet=True)
        except Exception as err:  # noqa: BLE001 - requests/oras raise many kinds; one clear message
            raise PushError(f"pushing to {target.reference} failed: {err}") from None
    found = response.headers.get("Docker-Content-Digest")
    if not found:
        raise PushError(f"{target.reference} accepted the manifest but returned no digest")
    return found
