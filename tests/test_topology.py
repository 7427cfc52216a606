"""The topic registry is the one declaration of every topic, and the layout keeps its promises."""

from __future__ import annotations

import ast
from pathlib import Path

from pipeline.settings import PROJECT_ROOT
from pipeline.topology import TOPICS, Partitioning, Topic, read_by, route_of
from schemas.events import EVENT_TYPES

# Sub-packages of `pipeline/` on the operator side: they may drive Kafka (CLI, demo, services).
OPERATOR_SIDE = ("cli", "services", "demo", "dashboard", "workspace")
KAFKA_CLIENTS = ("faust", "aiokafka", "kafka", "mode", "agents")


def topic_table() -> str:
    """The topic table of docs/events.md, as the registry says it."""
    lines = [
        "| topic | records -> ClickHouse table | partitions | key | kept | read by | holds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for topic in TOPICS:
        records = ", ".join(
            f"`{kind.__name__}` -> `{table}`" for kind, table in topic.records.items()
        )
        partitions = "1" if topic.partitioning is Partitioning.ONE else "`CHORUS_PARTITIONS`"
        lines.append(
            f"| `chorus.{topic.name}` | {records or topic.carries} | {partitions} | {topic.key} "
            f"| {_kept(topic)} | {', '.join(topic.readers)} "
            f"| {topic.about} |"
        )
    return "\n".join(lines)


def _kept(topic: Topic) -> str:
    if topic.compacted:
        return "compacted"
    if topic.kept_for_ever:
        return "for ever"
    return f"{topic.retention_days} days" if topic.retention_days else "default"


def test_the_docs_topic_table_is_the_registry() -> None:
    text = (PROJECT_ROOT / "docs" / "events.md").read_text()
    documented = text.split("<!-- topics:begin -->\n")[1].split("\n<!-- topics:end -->")[0]
    assert documented == topic_table(), (
        f"docs/events.md's topic table should read:\n{topic_table()}"
    )


def test_every_event_type_has_one_typed_topic_and_the_graph_reads_the_roster_first() -> None:
    assert {route_of(kind) for kind in EVENT_TYPES.values()} == {
        "employees", "posts", "follows", "identity", "engagement", "account_stats",
    }  # fmt: skip
    assert read_by("audience")[0].name == "employees"
    assert {topic.name for topic in read_by("sink")} == {t.name for t in TOPICS if t.records}


def test_every_record_type_has_a_table_layout() -> None:
    from pipeline.warehouse import TABLES

    assert set(TABLES) == {kind for topic in TOPICS for kind in topic.records}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_engine_module_imports_a_kafka_client_or_the_agents() -> None:
    engine = [
        path
        for path in (PROJECT_ROOT / "pipeline").rglob("*.py")
        if path.relative_to(PROJECT_ROOT / "pipeline").parts[0] not in OPERATOR_SIDE
    ]
    offenders = {
        str(path.relative_to(PROJECT_ROOT)): sorted(_imports(path) & set(KAFKA_CLIENTS))
        for path in engine
    }
    assert {path: found for path, found in offenders.items() if found} == {}


def test_agents_outside_the_kafka_wing_fit_on_a_screen_or_two() -> None:
    for path in (PROJECT_ROOT / "agents").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 160, f"{path.name} is no longer a thin agent"
