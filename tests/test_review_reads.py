"""The workspace's reads on current ClickHouse (chdb) and the 18.16 server: the spot-check sample."""

from __future__ import annotations

from pipeline.warehouse.review import spot_sample
from tests.test_warehouse import Engine, chdb_engine, engine  # noqa: F401 - the fixtures


def test_spot_checks_are_a_stable_uniform_share(engine: Engine) -> None:  # noqa: F811
    ids = "arrayMap(i -> concat('sim1-post', toString(i)), range(100000))"
    sample = f"SELECT post_id FROM (SELECT arrayJoin({ids}) AS post_id) WHERE "

    def picked(share: float) -> set[str]:
        return {row[0] for row in engine.run(sample + spot_sample(share))}

    one = picked(0.01)
    assert 850 < len(one) < 1150
    assert one == picked(0.01)  # the same posts every time, on either engine
    assert one <= picked(0.05)
    assert not picked(0.0) and len(picked(1.0)) == 100_000
