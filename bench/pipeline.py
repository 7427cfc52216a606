"""End-to-end throughput: the real broker, worker(s) and ClickHouse, against the machine's ceiling.

`chorus bench pipeline --json [--employees 2500] [--workers 2] [--skip-ceiling]`

1. Pipeline: N `chorus worker` processes run every agent on fresh topics.
   Once both of their consumer groups are stable (N members each: the
   start-up rebalances are over, as in a running deployment), a simulated
   company (2,500 employees: about 1.52 M events) is sent to `chorus.raw`,
   its record batches built beforehand so that the harness takes little of
   the machine while the clock runs. The clock runs from the first committed
   raw offset until every event is sent and no topic has lag left (every
   record ingested, routed, scanned, graphed and in ClickHouse). The
   workers' logs (at their default level, INFO: they say which raw partitions
   each worker ingests) go to a temporary directory (printed); a run that lost
   events fails and keeps its topics and database, a good one deletes them.
2. Ceiling, same machine, same events: a bare consumer that reads chorus.raw
   in big batches, decodes and validates them with the same ingest code and
   inserts the rows into the same ClickHouse tables in batches — the path
   without stream processing (no faust, no typed topics, no audience graph),
   with the workers' garbage-collection setting (`pipeline.runtime.tune_gc`).

The report splits the ceiling's time into consume / decode / insert, so the
difference to the pipeline is the work the ceiling skips: the second Kafka hop
through the typed topics, the audience graph, the policy scan, faust.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaAdminClient

from agents.kafka.admin import consumed_topics, declare_topics, delete_topics
from agents.kafka.lag import LagProbe
from agents.kafka.producer import open_producer, record_batches
from pipeline import warehouse
from pipeline.ingest import Accepted, Ingestor, pseudonymiser_from_env, raw_key
from pipeline.runtime import tune_gc
from pipeline.settings import Settings
from pipeline.simulator.company import simulate
from pipeline.simulator.config import SimulationConfig


def run(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="chorus bench pipeline")
    parser.add_argument("--employees", type=int, default=2500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-ceiling", action="store_true")
    args = parser.parse_args(argv)

    namespace = f"benchp{uuid.uuid4().hex[:8]}"
    env = {
        "CHORUS_TOPIC_PREFIX": namespace,
        "CHORUS_APP_ID": namespace,
        "CHORUS_CLICKHOUSE_DATABASE": namespace,
        "CHORUS_SNAPSHOT_SECONDS": "30",
    }
    settings = Settings.from_env({**os.environ, **env})
    ceiling_settings = dataclasses.replace(settings, clickhouse_database=f"{namespace}_ceiling")
    lines = list(simulate(SimulationConfig(seed=5, employees=args.employees)).lines())
    warehouse.migrator(settings).migrate()
    declare_topics(settings)
    figures: dict[str, Any] = {"events": len(lines), "workers": args.workers}
    figures.update(_pipeline(settings, env, args.workers, lines))
    print(f"pipeline: {figures}", file=sys.stderr)
    if figures["pipeline_event_rows_in_clickhouse"] < len(lines):
        raise RuntimeError(f"events were lost: {figures}; topics and database {namespace} kept")
    if not args.skip_ceiling:
        warehouse.migrator(ceiling_settings).migrate()
        tune_gc()  # as the workers do
        figures.update(asyncio.run(_ceiling(ceiling_settings, settings.topic("raw"), len(lines))))
        figures["pipeline_share_of_ceiling"] = round(
            figures["pipeline_events_per_s"] / figures["ceiling_events_per_s"], 3
        )
    # About 1 GB of topics and 3 M rows a run; a failed run keeps them for a look.
    delete_topics(settings)
    for scratch in (settings, ceiling_settings):
        warehouse.drop_database(scratch)
    return figures


def _pipeline(
    settings: Settings, env: dict[str, str], workers: int, lines: list[bytes]
) -> dict[str, Any]:
    events = len(lines)
    probe = LagProbe(settings, consumed_topics(settings))
    logs = Path(tempfile.gettempdir()) / f"chorus-{settings.app_id}"
    logs.mkdir(exist_ok=True)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pipeline", "worker", "--loglevel", "info"],
            env={**os.environ, **env, "CHORUS_WORKER_PORT": str(16300 + i)},
            stdout=subprocess.DEVNULL,
            stderr=(logs / f"worker-{i}.log").open("wb"),
            start_new_session=True,
        )
        for i in range(workers)
    ]
    print(f"worker logs: {logs}", file=sys.stderr)
    raw = settings.topic("raw")
    raw_partitions = [(raw, partition) for partition in range(settings.partitions)]
    producing = concurrent.futures.ThreadPoolExecutor(1)
    built, go = threading.Event(), threading.Event()
    try:
        sending = producing.submit(_send, settings, lines, built, go)
        while not built.wait(0.5):
            if sending.done():
                sending.result()  # raises what stopped it
        _wait_until_stable(settings, workers, processes, logs)
        go.set()
        while sum(probe.resume_offsets(raw_partitions).values()) == 0:
            _check_alive(processes, logs)  # the clock starts with the first commit
            time.sleep(0.1)
        started = time.perf_counter()
        while not sending.done() or sum(probe.lag().values()) > 0:
            _check_alive(processes, logs)
            if time.perf_counter() - started > 3600:
                raise RuntimeError(f"not done in an hour; see {logs}")
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        produce_seconds = sending.result()
    finally:
        go.set()
        producing.shutdown(wait=True)
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=120)
        probe.close()
    client = warehouse.client(settings)
    rows = sum(
        client.execute(f"SELECT count() FROM {table}")[0][0]
        for table in (
            "employees",
            "posts",
            "follows",
            "identity_links",
            "engagements",
            "account_stats",
        )
    )
    client.disconnect()
    return {
        "produce_seconds": round(produce_seconds, 1),
        "pipeline_seconds": round(seconds, 1),
        "pipeline_events_per_s": round(events / seconds),
        "pipeline_event_rows_in_clickhouse": rows,
    }


def _send(
    settings: Settings, lines: list[bytes], built: threading.Event, go: threading.Event
) -> float:
    """Send `lines` to chorus.raw once `go` is set; returns the seconds that took.

    The record batches are built before `built` is set, so that the harness
    spends as little of the machine as it can while the clock runs: sending
    them is little more than writing to a socket.
    """

    async def send() -> float:
        producer = open_producer(settings, max_batch_size=512 << 10)
        await producer.start()
        try:
            topic = settings.topic("raw")
            partitions = len(await producer.partitions_for(topic))
            batches = list(record_batches(producer, partitions, lines, raw_key))
            built.set()
            await asyncio.to_thread(go.wait)
            started = time.perf_counter()
            deliveries = [
                await producer.send_batch(batch, topic, partition=partition)
                for partition, batch in batches
            ]
            await asyncio.gather(*deliveries)
            return time.perf_counter() - started
        finally:
            await producer.stop()

    return asyncio.run(send())


def _check_alive(processes: list[subprocess.Popen[bytes]], logs: Path) -> None:
    if any(process.poll() is not None for process in processes):
        raise RuntimeError(f"a worker exited; see {logs}")


def _wait_until_stable(
    settings: Settings, workers: int, processes: list[subprocess.Popen[bytes]], logs: Path
) -> None:
    """Until the app's and the ingest feed's groups have every worker and are not rebalancing."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **settings.kafka_options("kafka-python")
    )
    groups = [settings.app_id, settings.ingest_group]
    stable_since: float | None = None
    try:
        while stable_since is None or time.perf_counter() - stable_since < 3:
            _check_alive(processes, logs)
            described = admin.describe_groups(groups)
            stable = all(
                described[group]["group_state"] == "Stable"
                and len(described[group]["members"]) == workers
                for group in groups
            )
            stable_since = (stable_since or time.perf_counter()) if stable else None
            time.sleep(0.5)
    finally:
        admin.close()


async def _ceiling(settings: Settings, raw: str, events: int) -> dict[str, Any]:
    ingestor = Ingestor(pseudonymiser_from_env(settings.environment))
    client = warehouse.client(settings)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        **settings.kafka_options(),
        enable_auto_commit=False,
        max_partition_fetch_bytes=16 << 20,
        fetch_max_bytes=64 << 20,
    )
    await consumer.start()
    spent = {"consume": 0.0, "decode": 0.0, "insert": 0.0}
    read = 0
    try:
        # A fresh namespace: declare_topics made chorus.raw with CHORUS_PARTITIONS partitions.
        partitions = [TopicPartition(raw, p) for p in range(settings.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        started = time.perf_counter()
        while read < events:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=50_000)
            values = [m.value or b"" for messages in fetched.values() for m in messages]
            read += len(values)
            mark = time.perf_counter()
            by_table: dict[type, list[Any]] = defaultdict(list)
            for outcome in ingestor.process_batch(values):
                if isinstance(outcome, Accepted):
                    by_table[type(outcome.event)].append(outcome.event)
            spent["decode"] += time.perf_counter() - mark
            mark = time.perf_counter()
            for kind, records in by_table.items():
                table = warehouse.TABLES[kind]
                columns = table.to_columns(records)
                await asyncio.to_thread(warehouse.insert_columns, client, table, columns)
            spent["insert"] += time.perf_counter() - mark
        seconds = time.perf_counter() - started
    finally:
        await consumer.stop()
        client.disconnect()
    spent["consume"] = seconds - spent["decode"] - spent["insert"]  # the rest: fetching
    return {
        "ceiling_seconds": round(seconds, 1),
        "ceiling_events_per_s": round(read / seconds),
        **{f"ceiling_{part}_share": round(value / seconds, 3) for part, value in spent.items()},
    }
