"""`chorus bench sink`: rows/s of the sink path against the clickhouse-driver insert ceiling.

The sink path is what an agent does without Kafka: `Sink.add()` (decode),
`Sink.flush()` (map to columns, insert in a thread) for JSON follows, batch
after batch, into the local server. The ceiling is the same rows, already
built as columns, inserted by one client in batches of the same size: what
clickhouse-driver and the server can take, with nothing of Chorus around it.
Both run twice, alternating, into a scratch database; the best of each counts.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline import warehouse
from pipeline.settings import Settings
from pipeline.sink import Sink
from schemas import events
from schemas.events import Follow


def follows(n: int) -> list[bytes]:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    return [
        events.encoder.encode(
            Follow(event_id=f"ev-{i:09d}", occurred_at=start + timedelta(seconds=i // 100),
                   network="x", account_id=f"@employee{i % 2500}",
                   follower_id=f"p{(i * 2654435761) % 10**12:032x}",
                   action="follow" if i % 10 else "unfollow")
        )
        for i in range(n)
    ]  # fmt: skip


def run(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="chorus bench sink")
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--batch-rows", type=int, default=Settings().batch_rows)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    settings = Settings(
        **{**settings.__dict__, "clickhouse_database": f"bench_{uuid.uuid4().hex[:8]}"}
    )
    warehouse.migrator(settings).migrate()
    client = warehouse.client(settings)
    payloads = follows(args.rows)
    table = warehouse.TABLES[Follow]
    decoder = events.decoder_for(Follow)
    batches = [
        table.to_columns([decoder.decode(p) for p in payloads[i : i + args.batch_rows]])
        for i in range(0, args.rows, args.batch_rows)
    ]

    def ceiling() -> float:
        started = time.perf_counter()
        for columns in batches:
            client.execute(
                table.insert_sql, columns, columnar=True, settings={"insert_deduplicate": 1}
            )
        return args.rows / (time.perf_counter() - started)

    async def sink_path() -> float:
        sink = Sink(
            "follows",
            decoder,
            lambda t, records: warehouse.insert(client, t, records),
            max_rows=args.batch_rows,
            max_seconds=3600,
        )
        started = time.perf_counter()
        for payload in payloads:
            if sink.add(payload):
                await sink.flush()
        await sink.flush()
        return args.rows / (time.perf_counter() - started)

    try:
        ceilings, sinks = [], []
        for _ in range(args.repeats):
            ceilings.append(ceiling())
            sinks.append(asyncio.run(sink_path()))
        stored = client.execute("SELECT uniqExact(event_id) FROM follows")[0][0]
    finally:
        client.execute(f"DROP DATABASE IF EXISTS {settings.clickhouse_database}")
        client.disconnect()
    return {
        "rows": args.rows,
        "batch_rows": args.batch_rows,
        "server": f"{settings.clickhouse_host}:{settings.clickhouse_port}",
        "ceiling_rows_per_s": round(max(ceilings)),
        "sink_rows_per_s": round(max(sinks)),
        "sink_share_of_ceiling": round(max(sinks) / max(ceilings), 3),
        "target_share": 0.8,
        "all_ceiling_runs": [round(x) for x in ceilings],
        "all_sink_runs": [round(x) for x in sinks],
        "distinct_events_stored": stored,
    }
