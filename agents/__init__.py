"""Faust agents: each wires Chorus topics to the plain logic in `pipeline/`."""
