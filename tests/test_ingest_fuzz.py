"""Property-based: no input makes ingest raise, and whatever it accepts decodes downstream.

Raw events are generated from the valid ones of `tests/test_ingest.py`, then
mutated where hostile input hurts: values that grow when normalised, huge
integers, deep nesting, calendar edges, invalid UTF-8, unknown fields,
truncation, duplicated keys. Every outcome must be a value (`Accepted` or
`Rejected`), `raw_key` must answer, an accepted event must round-trip through
its typed topic's columnar format (what the downstream agents and sinks
decode), and a rejection must make a dead letter that chorus.dlq decodes.

`make test` runs a bounded number of examples; `CHORUS_FUZZ_EXAMPLES=20000
.venv/bin/pytest tests/test_ingest_fuzz.py` runs a longer search.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest import Accepted, Ingestor, Pseudonymiser, Rejected, raw_key
from pipeline.topology import BY_NAME
from schemas import columnar
from schemas.dead_letter import dead_letter
from tests.test_ingest import NOW, VALID, event

EXAMPLES = int(os.environ.get("CHORUS_FUZZ_EXAMPLES", "400"))
ingestor = Ingestor(Pseudonymiser(b"fuzz-key"), clock=lambda: NOW)

HOSTILE_VALUES: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(
        [
            "İ" * 64,  # 128 characters lower-cased
            "שּׁ" * 20_000,  # three times longer after NFC
            "\u200b" * 10 + "x",
            "",
            " ",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2026-11-27T12:00:00",
            None,
            True,
            1e308,
            -1,
            10**30,
            [],
            {},
            [[[[["deep"]]]]],
        ]
    ),
    st.text(max_size=80),
    st.integers(),
    st.floats(allow_nan=False),
)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def raw_events(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(sorted(VALID)))
    document: dict[str, Any] = event(kind)
    for field in draw(st.lists(st.sampled_from(sorted(document)), max_size=3)):
        document[field] = draw(HOSTILE_VALUES)
    if draw(st.booleans()):
        document[draw(st.text(min_size=1, max_size=8))] = draw(HOSTILE_VALUES)
    raw = json.dumps(document, ensure_ascii=draw(st.booleans())).encode()
    match draw(st.integers(0, 7)):
        case 0:  # a number no decoder should convert
            raw = raw[:-1] + b', "big": ' + b"9" * 5000 + b"}"
        case 1:  # nesting far deeper than any event
            raw = raw[:-1] + b', "nest": ' + _deep(draw(st.integers(500, 3000))).encode() + b"}"
        case 2:  # invalid UTF-8 somewhere
            at = draw(st.integers(0, len(raw)))
            raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + raw[at:]
        case 3:  # truncated
            raw = raw[: draw(st.integers(0, len(raw)))]
        case 4:  # a key twice
            raw = b'{"event_id": "twice", ' + raw[1:]
        case 5:  # invalid UTF-8 inside an unknown field's string
            raw = raw[:-1] + b', "note": "\xff\xfe"}'
        case _:
            pass
    return raw


def _downstream_decodes(outcome: Accepted | Rejected, raw: bytes) -> None:
    if isinstance(outcome, Accepted):
        topic = BY_NAME[outcome.route]
        assert topic.decoder.records(columnar.encode([outcome.event])) == [outcome.event]
    else:
        letter = dead_letter("t", 0, 0, raw, outcome.reason.value, outcome.message)
        assert BY_NAME["dlq"].decoder.records(columnar.encode([letter])) == [letter]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(raw_events())
def test_nothing_escapes_and_accepted_decodes_downstream(raw: bytes) -> None:
    raw_key(raw)
    outcome = ingestor.process(raw)
    assert isinstance(outcome, Accepted | Rejected)
    _downstream_decodes(outcome, raw)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_rejected_with_a_reason(raw: bytes) -> None:
    raw_key(raw)
    outcome = ingestor.process(raw)
    assert isinstance(outcome, Rejected) and outcome.message
    _downstream_decodes(outcome, raw)


def test_the_measured_escapes_are_dead_letters_with_a_reason() -> None:
    follow = json.dumps(event("follow")).encode()
    cases = {
        b'{"note": "\xff", ' + follow[1:]: "invalid_utf8",
        follow[:-1] + b', "big": ' + b"9" * 5000 + b"}": None,  # accepted: unknown fields
        follow[:-1] + b', "nest": ' + _deep(1000).encode() + b"}": None,
        json.dumps(
            event("follow", occurred_at="0001-01-01T00:00:00+01:00")
        ).encode(): "invalid_value",
        json.dumps(event("follow", network="İ" * 64)).encode(): "invalid_value",
        json.dumps(event("post", text="שּׁ" * 40_000)).encode(): "invalid_value",
        json.dumps(event("employee", department="שּׁ" * 200)).encode(): "invalid_value",
    }
    for raw, reason in cases.items():
        raw_key(raw)
        outcome = ingestor.process(raw)
        if reason is None:
            assert isinstance(outcome, Accepted | Rejected)
        else:
            assert isinstance(outcome, Rejected) and outcome.reason == reason, outcome
        _downstream_decodes(outcome, raw)
