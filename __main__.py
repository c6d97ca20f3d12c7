"""kindreg: shared registry mirrors, per-project registries and kind clusters (see README)."""
import pulumi

from components.program import main

pulumi.run(main)
