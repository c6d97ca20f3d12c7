"""Push a manifests directory as a Flux OCI artifact, through the ORAS client library."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

from . import artifact


class PushError(Exception):
    """The registry refused the artifact, or could not be reached."""


def push(directory: Path, target: artifact.Target, tls: bool, ca_file: Optional[str] = None) -> str:
    """Push `directory` to `target`; returns the manifest digest."""
    import oras.provider  # imported here: only `push` needs the registry client

    data = artifact.package(directory)
    with tempfile.TemporaryDirectory(prefix="kindreg-push-") as tmp:
        layer = Path(tmp) / artifact.LAYER_TITLE
        layer.write_bytes(data)
        config = Path(tmp) / "config.json"
        config.write_text("{}")
        registry = oras.provider.Registry(hostname=target.registry, insecure=not tls,
                                          tls_verify=ca_file or True)
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
