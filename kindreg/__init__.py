"""kindreg's pure core: configuration, address plan and rendered files (no Pulumi, no Docker)."""
