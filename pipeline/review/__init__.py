"""The communications team's review of flags: lifecycle, estimates, digests (no Kafka, no web)."""
