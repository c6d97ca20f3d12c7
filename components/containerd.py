"""The project's containerd certs.d tree on the host, written file by file."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
from pulumi_command import local

from kindreg.core import scripts


@dataclass
class CertsTreeArgs:
    directory: str  # absolute host path, bind-mounted read-only into every node
    files: dict[str, str]  # "<host>/hosts.toml" -> content
    ca_source: Optional[str] = None  # mkcert's rootCA.pem, copied to .ca/rootCA.pem
    ca_fingerprint: Optional[str] = None


class CertsTree(pulumi.ComponentResource):
    """One Command per hosts.toml, so a change touches exactly the affected files.

    A file's `triggers` are its path only: a change of content is an update, whose script
    rewrites the file in place (the tree directory is never recreated, so the nodes' bind
    mounts stay valid). A replacement happens only for another path, and Pulumi creates the
    replacement before it deletes the original; the delete scripts therefore remove a file
    only while it still holds what that resource wrote, never what a newer one wrote.
    """

    def __init__(self, name: str, args: CertsTreeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kindreg:containerd:CertsTree", name, None, opts)
        base = {"KINDREG_CERTS_DIR": args.directory}
        self.root = local.Command(
            f"{name}-root", create=scripts.CERTS_DIR_CREATE, delete=scripts.CERTS_DIR_DELETE,
            environment=base, opts=pulumi.ResourceOptions(parent=self))
        under_root = pulumi.ResourceOptions(parent=self, depends_on=[self.root])
        self.files = {
            path: local.Command(
                f"{name}-{path.split('/')[0]}",
                create=scripts.HOSTS_FILE_WRITE, update=scripts.HOSTS_FILE_WRITE,
                delete=scripts.HOSTS_FILE_DELETE,
                environment={**base, "KINDREG_HOST": path.split("/")[0], "KINDREG_CONTENT": content},
                triggers=[args.directory, path], opts=under_root)
            for path, content in args.files.items()
        }
        self.ca = None
        if args.ca_source:
            self.ca = local.Command(
                f"{name}-ca", create=scripts.CA_COPY, update=scripts.CA_COPY, delete=scripts.CA_DELETE,
                environment={**base, "KINDREG_CA_SOURCE": args.ca_source,
                             "KINDREG_CA_SHA256": args.ca_fingerprint},
                triggers=[args.directory], opts=under_root)
        self.ready = [self.root, *self.files.values(), *([self.ca] if self.ca else [])]
        self.register_outputs({"directory": args.directory, "files": sorted(args.files)})
