"""The kindreg package's provider: Pulumi's component provider host serving MirrorSet and
Project to programs in any language (PulumiPlugin.yaml; the language host runs `__main__.py`).

Two corrections to pulumi.provider.experimental.component.ComponentProvider (SDK 3.260.0),
each cited where it is made.
"""
import sys
from typing import Optional

import pulumi
from pulumi.errors import InputPropertiesError
from pulumi.provider import main
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.server import ComponentInitError

from .package_mirrors import MirrorSet
from .package_project import Project

NAME = "kindreg"
COMPONENTS = [MirrorSet, Project]


class KindregProvider(ComponentProvider):
    def map_input_properties(self, inputs, properties, mapping, component_name, property_path):
        """`map_input_properties` replaces an object input that arrives as an Output (one that
        depends on another resource: the server wraps it, provider/server.py `_select_value`)
        by `{}` (`input_val if isinstance(input_val, dict) else {}`). Such inputs are mapped
        once their value is there, and stay Outputs."""
        if not isinstance(inputs, dict):
            return super().map_input_properties(inputs, properties, mapping, component_name, property_path)
        later = {k for k, v in inputs.items() if isinstance(v, pulumi.Output) and properties.get(k) is not None}
        now = super().map_input_properties({k: v for k, v in inputs.items() if k not in later},
                                           {k: p for k, p in properties.items() if k not in later},
                                           mapping, component_name, property_path)
        for key in later:
            now[mapping[key]] = inputs[key].apply(
                lambda value, key=key: super(KindregProvider, self).map_input_properties(
                    {key: value}, {key: properties[key]}, mapping, component_name, property_path
                ).get(mapping[key]))
        return now

    def construct(self, name: str, resource_type: str, inputs, options: Optional[pulumi.ResourceOptions] = None):
        """`construct` wraps every exception of a component's `__init__` in ComponentInitError,
        which the server prints with a traceback; invalid inputs go to the engine as such."""
        try:
            return super().construct(name, resource_type, inputs, options)
        except ComponentInitError as err:
            if isinstance(err.inner, InputPropertiesError):
                raise err.inner from None
            raise


def serve(version: str = "0.0.0") -> None:
    # The language host runs `python <checkout> <engine address> [flags]`.
    main(KindregProvider(COMPONENTS, NAME, version=version), sys.argv[1:])
