"""MirrorSet, the kindreg package's shared mirrors: what a shared stack holds, for a program in
any language (PulumiPlugin.yaml). It reads its inputs as a shared stack reads `kindreg:shared`
and builds what that stack builds, under itself."""
from typing import Optional

import pulumi
from pydantic.alias_generators import to_camel

from kindreg.core import load as loading
from kindreg.core.plan import plan_shared

from .package_types import MirrorSetArgs, NetworkOutput, RegistryOutput, MirrorSetExport, config_of, python_names
from . import program
from .program import Placement, build_shared, package_error

TYPE = "kindreg:index:MirrorSet"


class MirrorSet(pulumi.ComponentResource):
    """A machine's shared pull-through mirrors (docker.io, ghcr.io, quay.io and registry.k8s.io by
    default), each behind a front cache, on a network of their own: what a kindreg shared stack
    holds. Projects pull through them."""

    kindreg: pulumi.Output[MirrorSetExport]
    """What a Project reads of these mirrors: give it to the Project's `shared` input."""
    network: pulumi.Output[NetworkOutput]
    """The shared network."""
    mirrors: pulumi.Output[list[RegistryOutput]]
    """The mirrors."""

    def __init__(self, name: str, args: MirrorSetArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        with package_error():
            loaded = loading.shared_mapping(config_of(args), name, f'MirrorSet "{name}"', prefix="")
            plan = plan_shared(loaded.config, loaded.stack, loaded.source, loaded.prefix)
            out = build_shared(plan, loaded, program.package_host(), Placement(
                self, args.get("mirror_credentials"),
                s3_credentials=_s3_keys(args.get("s3_credentials")), auth_passwords=args.get("auth_passwords")))
        self.kindreg = pulumi.Output.from_input(python_names(out["kindreg"]))
        self.network = pulumi.Output.from_input(python_names(out["network"]))
        self.mirrors = pulumi.Output.from_input(python_names(out["mirrors"]))
        self.register_outputs({"kindreg": self.kindreg, "network": self.network, "mirrors": self.mirrors})


def _s3_keys(given: Optional[dict]) -> Optional[dict]:
    """The s3Credentials input (Python names, as the host hands them over) as the stack config's."""
    return None if given is None else {to_camel(k): v for k, v in given.items()}
