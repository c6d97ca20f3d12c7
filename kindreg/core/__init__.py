"""The pure core: configuration, validation, the plan and every rendered file. No I/O."""
