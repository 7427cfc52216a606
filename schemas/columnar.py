"""The format of the topics Chorus writes: a message holds a run of records of one type, as columns.

`chorus.raw` carries the outside world's events, one JSON object per message.
Every topic after it is written by Chorus alone (`agents.kafka.output.KafkaOutput`), and
one message there holds up to 1,000 records of one type, field by field:

    {"type": "follow", "event_id": ["ev-1", "ev-2"], "occurred_at": [...], ...}

Each field is a list with one element per record, each element encoded as
in the record itself; `type` is the record's tag, for topics that carry
several types (`chorus.metrics`). Why columns: the sink inserts columns, and
decoding them directly costs well under half of decoding the same records one
JSON object at a time and then turning them into columns (`chorus bench
sink`); a message is also about half the bytes, its field names written once.
Agents that work on records get them back from `BatchDecoder.records`.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, get_type_hints

import msgspec

T = TypeVar("T", bound=msgspec.Struct)

_encoder = msgspec.json.Encoder()


@functools.cache
def columns_type(kind: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """The Struct of a message of `kind` records: each field a list of the record's field type.

    The element types keep their constraints (`Annotated`), so decoding a
    message validates every record as decoding the record would. A field
    with a default may be missing from a message (one written before the
    field existed): its column is then the default, once per record.
    """
    hints = get_type_hints(kind, include_extras=True)
    config = kind.__struct_config__
    defaults = {
        field.name: field
        for field in msgspec.structs.fields(kind)
        if field.default is not msgspec.NODEFAULT or field.default_factory is not msgspec.NODEFAULT
    }
    return msgspec.defstruct(
        f"{kind.__name__}Columns",
        [
            (name, list[hints[name]], msgspec.field(default_factory=list))  # type: ignore[valid-type]
            if name in defaults
            else (name, list[hints[name]])  # type: ignore[valid-type]
            for name in kind.__struct_fields__
        ],
        namespace={"__post_init__": functools.partialmethod(_complete, defaults)},
        tag=config.tag,
        tag_field=config.tag_field,
        frozen=True,
        kw_only=True,
        gc=False,
    )


def _complete(columns: msgspec.Struct, defaults: dict[str, msgspec.structs.FieldInfo]) -> None:
    """Fill the missing columns of defaulted fields, then check every column has every record."""
    lengths = {len(getattr(columns, name)) for name in columns.__struct_fields__}
    records = max(lengths, default=0)
    for name, field in defaults.items():
        if records and not getattr(columns, name):
            if field.default_factory is not msgspec.NODEFAULT:
                values = [field.default_factory() for _ in range(records)]
            else:
                values = [field.default] * records
            msgspec.structs.force_setattr(columns, name, values)
    lengths = {len(getattr(columns, name)) for name in columns.__struct_fields__}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths {sorted(lengths)}")


def encode(records: Sequence[msgspec.Struct]) -> bytes:
    """One message holding `records`, all of one type."""
    kind = type(records[0])
    return _encoder.encode(
        columns_type(kind)(
            **{
                name: list(map(operator.attrgetter(name), records))
                for name in kind.__struct_fields__
            }
        )
    )


@functools.cache
def _rebuilder(kind: type[T]) -> Callable[[type[T], list[list[Any]]], list[T]]:
    """A function that turns the columns of `kind` records back into records.

    Written out per type, as `dataclasses` writes `__init__`, because `kind`
    takes keywords only: naming the fields in code costs a fifth of what
    building a dict of them per record does.
    """
    names = kind.__struct_fields__
    values = [f"_{i}" for i in range(len(names))]
    arguments = ", ".join(f"{name}={value}" for name, value in zip(names, values, strict=True))
    source = (
        f"lambda kind, columns: [kind({arguments}) for ({', '.join(values)},) in zip(*columns)]"
    )
    return eval(source, {"zip": zip})  # type: ignore[no-any-return]


class BatchDecoder(Generic[T]):
    """Decodes the messages of one topic, whose records are of `kinds`."""

    def __init__(self, *kinds: type[T]) -> None:
        self.kinds = {columns_type(kind): kind for kind in kinds}  # message type -> record type
        self._decoder = msgspec.json.Decoder(functools.reduce(operator.or_, self.kinds))

    def kind_of(self, columns: msgspec.Struct) -> type[T]:
        """The type of the records in `columns`."""
        return self.kinds[type(columns)]

    def columns(self, payload: bytes) -> msgspec.Struct:
        """The message's columns.

        Raises msgspec.DecodeError or msgspec.ValidationError for a message
        that is not one of this topic's.
        """
        return self._decoder.decode(payload)  # type: ignore[no-any-return]

    def salvage(self, payload: bytes) -> tuple[list[T], bytes, str]:
        """For a message that does not decode as a whole: its records that decode alone.

        Returns those records in order, a message of the others (empty if
        none; the whole payload if it is not a message of columns at all) and
        why. One bad record never takes its message's other records with it.
        """
        try:
            document = msgspec.json.decode(payload)
        except (msgspec.DecodeError, RecursionError):
            return [], payload, "not JSON"
        columns = document if isinstance(document, dict) else {}
        tag = columns.pop("type", None)
        kinds = [kind for kind in self.kinds.values() if kind.__struct_config__.tag == tag]
        lengths = {len(values) if isinstance(values, list) else -1 for values in columns.values()}
        if len(kinds) != 1 or len(lengths) != 1 or -1 in lengths:
            return [], payload, "not a message of columns of this topic's records"
        kind, tagged = kinds[0], {} if tag is None else {"type": tag}
        good: list[T] = []
        bad: list[dict[str, Any]] = []
        why = ""
        for row in (
            dict(zip(columns, values, strict=True))
            for values in zip(*columns.values(), strict=True)
        ):
            try:
                good.append(msgspec.json.decode(_encoder.encode({**tagged, **row}), type=kind))
            except (msgspec.DecodeError, RecursionError) as exc:
                bad.append(row)
                why = why or str(exc)
        rest = {**tagged, **{name: [row[name] for row in bad] for name in columns}}
        message = f"{len(bad)} of {len(good) + len(bad)} records do not decode: {why}"
        return good, (_encoder.encode(rest) if bad else b""), message

    def records(self, payload: bytes) -> list[T]:
        """The message's records, in order."""
        columns = self.columns(payload)
        kind = self.kind_of(columns)
        return _rebuilder(kind)(kind, [getattr(columns, name) for name in kind.__struct_fields__])
