"""kindreg: shared registry mirrors, per-project registries and kind clusters (see README).

The engine runs this file as the program of this checkout's stacks (Pulumi.yaml), with a
resource monitor configured; the language host runs it as the kindreg package's provider
plugin (PulumiPlugin.yaml), without one.
"""
from pulumi.runtime import settings

if settings.get_monitor() is None:
    from components.package_host import serve

    serve()
else:
    import pulumi

    from components.program import main

    pulumi.run(main)
