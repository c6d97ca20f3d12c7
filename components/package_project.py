"""Project, the kindreg package's project: what a project stack holds (network, build and cache
registries, kind nodes, containerd's hosts.toml), for a program in any language. It reads its
inputs as a project stack reads `kindreg:cluster`, and the shared mirrors from its `shared`
input instead of a stack reference."""
from typing import Optional

import pulumi

from kindreg.core import load as loading
from kindreg.core.errors import ConfigError, problem
from kindreg.core.load import LoadedProject
from kindreg.core.plan import SharedExport, plan_project

from .package_types import NetworkOutput, ProjectArgs, RegistryOutput, config_of, export_of, python_names
from . import program
from .program import Placement, build_project, package_error

TYPE = "kindreg:index:Project"
# The program's outputs of a project stack, under the attribute names the package shows.
OUTPUTS = {"project": "project", "network": "network", "shared_network": "sharedNetwork",
           "registries": "registries", "mirrors": "mirrors", "certs_dir": "certsDir",
           "certs_volume": "certsVolume", "flux": "flux", "nodes": "nodes"}


class Project(pulumi.ComponentResource):
    """One project on the machine: its network, a build registry (.101) and a cache registry
    (.102), its kind nodes on its network and the shared one, and containerd in every node
    pulling through the shared mirrors: what a kindreg project stack holds."""

    project: pulumi.Output[str]
    """The project's name."""
    network: pulumi.Output[NetworkOutput]
    """The project's network."""
    shared_network: pulumi.Output[Optional[NetworkOutput]]
    """The shared network its nodes join (none without shared mirrors)."""
    registries: pulumi.Output[list[RegistryOutput]]
    """The registries it owns: build, cache, and its own mirrors."""
    mirrors: pulumi.Output[list[RegistryOutput]]
    """The mirrors its nodes pull through."""
    certs_dir: pulumi.Output[str]
    """Where containerd's certs.d tree is on the engine's machine."""
    certs_volume: pulumi.Output[Optional[str]]
    """The volume that holds the tree, when it is not a host directory."""
    flux: pulumi.Output[str]
    """Flux OCIRepository and Kustomization for what `kindreg push` pushes."""
    nodes: pulumi.Output[Optional[list[str]]]
    """The kind nodes' container names (none when nodes.enabled is false)."""

    def __init__(self, name: str, args: ProjectArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        with package_error():
            loaded = loading.project_mapping(config_of(args), name, f'Project "{name}"', prefix="")
        at = Placement(self, args.get("mirror_credentials"))
        shared = args.get("shared")
        # The plan needs the shared mirrors' values. Given by another resource (a MirrorSet's
        # output), they arrive as an Output: known in a preview too, since a MirrorSet's
        # outputs come from its plan alone.
        if isinstance(shared, pulumi.Output):
            built = shared.apply(lambda view: _build(loaded, view, at))
        else:
            built = pulumi.Output.from_input(_build(loaded, shared, at))
        for attr, key in OUTPUTS.items():
            setattr(self, attr, built.apply(lambda out, key=key: _output(out.get(key))))
        self.register_outputs({key: getattr(self, attr) for attr, key in OUTPUTS.items()})


def _output(value: object) -> object:
    # Outputs of resources (nodes, certsDir) are strings already; plan values go by Python names.
    return value.apply(python_names) if isinstance(value, pulumi.Output) else python_names(value)


def _build(loaded: LoadedProject, shared: object, at: Placement) -> dict:
    with package_error():
        view = None
        if loaded.config.shared_mode:
            if shared is None:
                raise ConfigError(loaded.source, [problem("shared", (
                    "is missing: give the `kindreg` output of a MirrorSet (or of a shared stack, "
                    "through a StackReference), or set registries.shared.enabled to false"))])
            view = SharedExport.read("shared", export_of(shared) if isinstance(shared, dict) else shared)
        plan = plan_project(loaded.config, loaded.stack, view, loaded.source, loaded.prefix)
        return build_project(plan, loaded, program.package_host(), at)
