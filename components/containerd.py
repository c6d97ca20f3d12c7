"""The project's containerd certs.d tree, written file by file: on the host, or in a volume."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_docker as docker
from pulumi_command import local

from kindreg.core import render, scripts


@dataclass
class CertsTreeArgs:
    stack: str
    files: dict[str, str]  # "<host>/hosts.toml" -> content
    directory: Optional[str] = None  # a local engine: this absolute host path
    volume: Optional[str] = None  # a remote engine: this Docker volume, written through the engine
    image: Optional[pulumi.Input[str]] = None  # the registry image that writes the volume
    ca_source: Optional[str] = None  # mkcert's rootCA.pem on this host, copied to .ca/rootCA.pem
    ca_fingerprint: Optional[str] = None
    environment: dict = field(default_factory=dict)  # DOCKER_HOST: the stack's engine


@dataclass(frozen=True)
class _Scripts:
    write: str
    delete: str
    ca_copy: str
    ca_delete: str


ON_HOST = _Scripts(scripts.HOSTS_FILE_WRITE, scripts.HOSTS_FILE_DELETE, scripts.CA_COPY, scripts.CA_DELETE)
IN_VOLUME = _Scripts(scripts.VOLUME_HOSTS_FILE_WRITE, scripts.VOLUME_HOSTS_FILE_DELETE, scripts.VOLUME_CA_COPY,
                     scripts.VOLUME_CA_DELETE)


class CertsTree(pulumi.ComponentResource):
    """The tree's root, then one Command per hosts.toml, so a change touches exactly the affected files.

    With a local engine the root is a host directory, bind-mounted into the nodes as it is.
    With a remote engine (`ssh://`, `tcp://` elsewhere) no path of this machine exists there:
    the root is a Docker volume, each file is written by a short-lived container of the registry
    image that mounts it (through the same engine), and the nodes mount the volume's directory
    (`mountpoint`). Either way a rewritten file reaches the nodes without a restart.

    A file's `triggers` are its path only: a change of content is an update, whose script
    rewrites the file in place. A replacement (another root, or `kindreg up` healing a file
    removed or edited by hand) deletes first; the delete scripts remove a file only while it
    still holds what that resource wrote, so an edited file is overwritten, never lost twice.
    """

    def __init__(self, name: str, args: CertsTreeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kindreg:containerd:CertsTree", name, None, opts)
        if args.volume:
            root, where, run = self._volume(name, args), args.volume, IN_VOLUME
            base = {**args.environment, "KINDREG_CERTS_VOLUME": root.name, "KINDREG_IMAGE": args.image}
            self.mountpoint = root.mountpoint
        else:
            root, where, run = self._directory(name, args), args.directory, ON_HOST
            base = {"KINDREG_CERTS_DIR": args.directory}
            self.mountpoint = pulumi.Output.from_input(args.directory)
        # Replaced (by `kindreg up`, when the file in the nodes was removed or edited) delete
        # first: the old resource's delete must not remove what its replacement just wrote.
        under_root = pulumi.ResourceOptions(parent=self, depends_on=[root], delete_before_replace=True)
        self.files = {
            path: local.Command(
                f"{name}-{path.split('/')[0]}", create=run.write, update=run.write, delete=run.delete,
                environment={**base, "KINDREG_HOST": path.split("/")[0], "KINDREG_CONTENT": content},
                triggers=[where, path], opts=under_root)
            for path, content in args.files.items()
        }
        self.ca = None
        if args.ca_source:
            self.ca = local.Command(
                f"{name}-ca", create=run.ca_copy, update=run.ca_copy, delete=run.ca_delete,
                environment={**base, "KINDREG_CA_SOURCE": args.ca_source,
                             "KINDREG_CA_SHA256": args.ca_fingerprint},
                triggers=[where], opts=under_root)
        self.volume_name = args.volume  # None: the tree is the host directory
        self.ready = [root, *self.files.values(), *([self.ca] if self.ca else [])]
        self.register_outputs({"root": where, "files": sorted(args.files)})

    def _directory(self, name: str, args: CertsTreeArgs) -> local.Command:
        return local.Command(
            f"{name}-root", create=scripts.CERTS_DIR_CREATE, delete=scripts.CERTS_DIR_DELETE,
            environment={"KINDREG_CERTS_DIR": args.directory}, opts=pulumi.ResourceOptions(parent=self))

    def _volume(self, name: str, args: CertsTreeArgs) -> docker.Volume:
        # Derived from the plan and rewritten by every up: deleted with the stack, never kept.
        return docker.Volume(
            f"{name}-volume", name=args.volume,
            labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in render.certs_volume_labels(args.stack).items()],
            opts=pulumi.ResourceOptions(parent=self))
