"""kindreg: registries for local kind clusters, planned by a pure core, applied by Pulumi.

Layers (see docs/architecture.md):
  kindreg.core      pure: config, validation, plan, rendered files; no I/O, no Pulumi, no Docker
  kindreg.adapters  the outside world behind small interfaces: Docker engine, mkcert, skopeo,
                    ORAS, files
  kindreg.ops       what the commands do, from the core and the adapters
  kindreg.cli       argument parsing and printing
  components/       Pulumi components that translate a plan into resources
"""
