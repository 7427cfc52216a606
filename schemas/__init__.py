"""The event contract: what Chorus accepts on `chorus.raw` and what it emits."""
