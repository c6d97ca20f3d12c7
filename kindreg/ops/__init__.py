"""What the commands do: the core's plans applied to the outside world through the adapters."""
