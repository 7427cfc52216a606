"""Partitions shared in proportion to weights: the ingest group's assignment."""

from __future__ import annotations

from agents.kafka.raw_feed import apportion


def test_the_worker_holding_the_graph_takes_a_quarter_of_four_partitions() -> None:
    assert apportion([0, 1, 2, 3], {"graph": 1.0, "peer": 3.0}) == {"graph": [0], "peer": [1, 2, 3]}


def test_every_item_goes_to_exactly_one_member() -> None:
    for n in range(0, 13):
        for weights in ({"a": 1.0}, {"a": 1.0, "b": 3.0, "c": 3.0}, {"a": 2.0, "b": 2.0}):
            runs = apportion(list(range(n)), weights)
            assert set(runs) == set(weights)
            assert sorted(i for run in runs.values() for i in run) == list(range(n))


def test_equal_weights_split_evenly_and_remainders_go_in_member_order() -> None:
    assert apportion([0, 1, 2], {"b": 1.0, "a": 1.0}) == {"a": [0, 1], "b": [2]}
    assert apportion(list(range(4)), {"a": 1.0, "b": 3.0, "c": 3.0}) == {
        "a": [],
        "b": [0, 1],
        "c": [2, 3],
    }
