"""Benchmarks, run with `chorus bench NAME --json` (never as timed tests)."""
