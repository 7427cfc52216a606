"""Ingest throughput: the pure part on one core, then through the real broker and worker.

`chorus bench ingest --json [--events N] [--skip-broker]`. The pure figure is
decode + validate + normalise + pseudonymise + route, in one process, for a
mix of event types like a real stream's (mostly follows and engagement), by
the wall clock and by the process's CPU time (the per-core figure; steadier
when other work shares the machine). The
broker figure is events/s from `chorus.raw` to the typed topics, counted by
the offsets the worker committed (committed only once the typed records are
in Kafka), with one worker running only the ingest agent and the events
produced beforehand.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import msgspec

from agents.kafka.producer import produce
from pipeline.ingest import Ingestor, Pseudonymiser
from pipeline.settings import Settings

MIX = ["follow"] * 5 + ["engagement"] * 3 + ["post", "identity_link"]


def sample_events(count: int) -> list[bytes]:
    """Realistic raw events (about 250-300 bytes each), distinct ids."""
    encode = msgspec.json.encode
    lines = []
    for i in range(count):
        kind = MIX[i % len(MIX)]
        base = {"type": kind, "event_id": f"bench-{i}", "occurred_at": "2026-11-01T10:00:00+01:00"}
        if kind == "follow":
            body: dict[str, Any] = {
                "network": "LinkedIn",
                "account_id": f"emp-{i % 2500}",
                "follower_id": f"follower-{i * 7919 % 1_000_003}",
                "action": "follow",
            }
        elif kind == "engagement":
            body = {
                "post_id": f"post-{i % 50_000}",
                "network": "x",
                "actor_id": f"actor-{i}",
                "kind": "like",
            }
        elif kind == "post":
            body = {
                "post_id": f"post-{i}",
                "employee_id": f"E{i % 2500}",
                "network": "linkedin",
                "account_id": f"emp-{i % 2500}",
                "text": "Proud of the team shipping our new analytics release today! Join us at the launch event.",
                "lang": "en",
                "campaign_id": "launch",
            }
        else:
            body = {
                "network_a": "x",
                "account_a": f"follower-{i}",
                "network_b": "mastodon",
                "account_b": f"follower-{i}@social",
                "evidence": "same e-mail",
                "confidence": 0.9,
            }
        lines.append(encode({**base, **body}))
    return lines


def pure(events: list[bytes], batch: int = 5000) -> dict[str, Any]:
    ingestor = Ingestor(Pseudonymiser(b"bench"))
    ingestor.process_batch(events[:batch])  # warm up
    started, cpu = time.perf_counter(), time.process_time()
    accepted = 0
    for start in range(0, len(events), batch):
        accepted += sum(
            1 for o in ingestor.process_batch(events[start : start + batch]) if hasattr(o, "route")
        )
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    assert accepted == len(events), f"only {accepted} of {len(events)} accepted"
    return {
        "pure_events": len(events),
        "pure_seconds": round(seconds, 3),
        "pure_events_per_s": round(len(events) / seconds),
        "pure_us_per_event": round(seconds / len(events) * 1e6, 2),
        # Per core: the CPU time, steadier than the wall clock on a shared machine.
        "pure_cpu_events_per_s": round(len(events) / cpu_seconds),
        "pure_cpu_us_per_event": round(cpu_seconds / len(events) * 1e6, 2),
        "mean_event_bytes": round(sum(map(len, events)) / len(events)),
    }


def through_broker(events: list[bytes]) -> dict[str, Any]:
    """Events/s from chorus.raw, processed and committed, by one ingest-only worker."""
    from agents.kafka.admin import declare_topics, delete_topics
    from agents.kafka.lag import LagProbe

    namespace = f"bench{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "CHORUS_TOPIC_PREFIX": namespace,
        "CHORUS_APP_ID": namespace,
        "CHORUS_AGENTS": "ingest",
        "CHORUS_WORKER_PORT": "16199",
    }
    settings = Settings.from_env(env)
    declare_topics(settings)
    produce(settings, events)
    probe = LagProbe(settings, [settings.topic("raw")])

    def committed() -> int:
        return len(events) - probe.lag()[settings.topic("raw")]

    worker = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "worker", "--loglevel", "warn"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while (first := committed()) == 0:  # the clock starts with the first commit
            if worker.poll() is not None:
                raise RuntimeError("the worker exited")
            time.sleep(0.05)
        started = time.perf_counter()
        deadline = started + 600
        while (count := committed()) < len(events) and time.perf_counter() < deadline:
            time.sleep(0.1)
        seconds = time.perf_counter() - started
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        probe.close()
        delete_topics(settings)
    return {
        "broker_events": count,
        "broker_seconds": round(seconds, 2),
        "broker_events_per_s": round((count - first) / seconds),
    }


def run(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="chorus bench ingest")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--skip-broker", action="store_true")
    args = parser.parse_args(argv)
    events = sample_events(args.events)
    figures = pure(events)
    if not args.skip_broker:
        figures.update(through_broker(events))
    return figures
