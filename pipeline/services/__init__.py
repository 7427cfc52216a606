"""The local Kafka broker and ClickHouse server that `chorus services` runs (`local`)."""
