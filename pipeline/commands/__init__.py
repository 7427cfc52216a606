"""Sub-commands of `chorus`, one module per group."""
