"""One certificate per stack, minted by mkcert from the user's local CA."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
from pulumi_command import local

from kindreg.core import scripts

from .registry import TlsFiles


@dataclass
class CertificateArgs:
    san: tuple[str, ...]  # the plan's subject alternative names, in plan order
    directory: str  # absolute host directory for cert.pem and key.pem (git-ignored)


class Certificate(pulumi.ComponentResource):
    """`mkcert` run by a Command whose only trigger is the SAN list.

    The certificate is re-minted exactly when the SAN list changes. The key stays in its
    file (mode 0600 in a 0700 directory) and in the registry containers; the resource's
    output is the certificate's SHA-256, which is what registries use to notice a new one.
    """

    def __init__(self, name: str, args: CertificateArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kindreg:tls:Certificate", name, None, opts)
        # Nothing else goes in: without an `update` script any input change re-runs create,
        # which would re-mint the certificate for no reason.
        env = {"KINDREG_TLS_DIR": args.directory, "KINDREG_SANS": " ".join(args.san)}
        self.command = local.Command(
            f"{name}-mkcert",
            create=scripts.MKCERT_CREATE,
            delete=scripts.MKCERT_DELETE,
            environment=env,
            triggers=[list(args.san)],
            logging=local.Logging.STDOUT,
            # Same file names: remove the old pair before minting the new one.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True,
                                        additional_secret_outputs=["stderr"]),
        )
        directory = Path(args.directory)
        self.files = TlsFiles(cert_path=str(directory / "cert.pem"), key_path=str(directory / "key.pem"),
                              fingerprint=self.command.stdout)
        self.register_outputs({"certPath": self.files.cert_path, "fingerprint": self.command.stdout})
