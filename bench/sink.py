"""`chorus bench sink`: rows/s of the sink path against the clickhouse-driver insert ceiling.

The sink path is what a sink agent does without Kafka: follows arrive as
micro-batch messages (up to 1,000 records each, as columns: `schemas.columnar`,
as `agents.kafka.output.KafkaOutput` writes them); `Sink.add()` decodes each
message into its table's columns and `Sink.submit()` inserts every full batch
(in a thread; as in the sink agents, the next batch is decoded once it is in)
and, at the end, the rest: rows in ClickHouse, out. The
ceiling is the same rows, already built as columns, inserted by one client in
batches of the same size: what clickhouse-driver and the server can take, with
nothing of Chorus around it.

The machine and the server may be shared, so their load swings from run to
run: each round runs both paths back to back (in alternating order) into a
scratch database, and the share of the ceiling is the median over rounds of
sink rows/s over ceiling rows/s of the same round. The process's CPU per row
shows what the sink path adds, whatever the load.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline import warehouse
from pipeline.settings import Settings
from pipeline.sink import Sink
from schemas import columnar
from schemas.columnar import BatchDecoder
from schemas.events import Follow


def follows(n: int) -> list[Follow]:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    return [
        Follow(event_id=f"ev-{i:09d}", occurred_at=start + timedelta(seconds=i // 100),
               network="x", account_id=f"@employee{i % 2500}",
               follower_id=f"p{(i * 2654435761) % 10**12:032x}",
               action="follow" if i % 10 else "unfollow")
        for i in range(n)
    ]  # fmt: skip


def messages(records: list[Follow], per_message: int) -> list[bytes]:
    """The records as the micro-batch messages a sink agent reads."""
    return [
        columnar.encode(records[i : i + per_message]) for i in range(0, len(records), per_message)
    ]


def run(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="chorus bench sink")
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--batch-rows", type=int, default=Settings().insert_rows)
    parser.add_argument("--records-per-message", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    settings = replace(Settings.from_env(), clickhouse_database=f"bench_{uuid.uuid4().hex[:8]}")
    warehouse.migrator(settings).migrate()
    client = warehouse.client(settings)
    records = follows(args.rows)
    payloads = messages(records, args.records_per_message)
    table = warehouse.TABLES[Follow]
    blocks = [
        table.to_columns(records[i : i + args.batch_rows])
        for i in range(0, args.rows, args.batch_rows)
    ]

    def ceiling() -> None:
        for block in blocks:
            warehouse.insert_columns(client, table, block)

    async def sink_path() -> None:
        sink = Sink(
            "follows",
            BatchDecoder(Follow),
            lambda t, block: warehouse.insert_columns(client, t, block),
            max_rows=args.batch_rows,
            max_seconds=3600,
        )
        for payload in payloads:
            if sink.add(payload):
                await sink.submit()
        await sink.submit()

    paths: dict[str, Callable[[], None]] = {
        "ceiling": ceiling,
        "sink": lambda: asyncio.run(sink_path()),
    }
    runs: dict[str, list[tuple[float, float]]] = {"ceiling": [], "sink": []}  # rows/s, CPU µs/row

    def measure(path: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        paths[path]()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        runs[path].append((args.rows / wall, cpu / args.rows * 1e6))

    try:
        for round_ in range(args.rounds):
            for path in ("ceiling", "sink") if round_ % 2 == 0 else ("sink", "ceiling"):
                measure(path)
        stored = client.execute("SELECT uniqExact(event_id) FROM follows")[0][0]
    finally:
        client.execute(f"DROP DATABASE IF EXISTS {settings.clickhouse_database}")
        client.disconnect()
    ceilings = [rate for rate, _ in runs["ceiling"]]
    sinks = [rate for rate, _ in runs["sink"]]
    return {
        "rows": args.rows,
        "batch_rows": args.batch_rows,
        "records_per_message": args.records_per_message,
        "server": f"{settings.clickhouse_host}:{settings.clickhouse_port}",
        "sink_share_of_ceiling": round(
            statistics.median(s / c for s, c in zip(sinks, ceilings, strict=True)), 3
        ),
        "target_share": 0.8,
        "ceiling_rows_per_s": round(max(ceilings)),
        "sink_rows_per_s": round(max(sinks)),
        "share_of_best_runs": round(max(sinks) / max(ceilings), 3),
        "ceiling_runs": [round(x) for x in ceilings],
        "sink_runs": [round(x) for x in sinks],
        "ceiling_cpu_us_per_row": round(min(cpu for _, cpu in runs["ceiling"]), 2),
        "sink_cpu_us_per_row": round(min(cpu for _, cpu in runs["sink"]), 2),
        "distinct_events_stored": stored,
    }
