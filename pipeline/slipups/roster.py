"""The roster as the policy scan needs it: each employee's department and region, newest wins.

The scan runs on every worker, one posts partition each, and a post's
author may be on another worker's roster partition, so the roster is held by
every worker (a faust GlobalTable of these encoded entries). Roster events
can arrive out of order after a replay: an entry carries its event time and
an older event never overwrites a newer one.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from schemas.events import Employee


class RosterEntry(msgspec.Struct, frozen=True):
    department: str
    region: str
    as_of: datetime  # the roster event's time


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(RosterEntry)


def roster_update(current: bytes | None, employee: Employee) -> bytes | None:
    """The new encoded entry for `employee`, or None when `current` is newer."""
    if current is not None and _decoder.decode(current).as_of > employee.occurred_at:
        return None
    return _encoder.encode(RosterEntry(employee.department, employee.region, employee.occurred_at))


def department_and_region(entry: bytes | None) -> tuple[str, str]:
    """What the roster knows of a post's author; empty strings for someone not on it."""
    if entry is None:
        return "", ""
    known = _decoder.decode(entry)
    return known.department, known.region
