"""Ingest: raw bytes in, one typed event or one dead-letter reason out.

Pure and Kafka-free: the ingest agent, `chorus audience report --from FILE`
and the benchmarks all call `Ingestor.process`. It never raises on input: every
input ends in exactly one place, and an unexpected failure on one input is
that input's dead letter (`internal_error`), never its batch's. Lengths are
checked again after normalisation (lower-casing and NFC can lengthen text),
so an accepted event always decodes from the typed topic downstream.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from pipeline.topology import route_of
from schemas.events import (
    EVENT_TYPES,
    MAX_EVENT_BYTES,
    MAX_ID_LENGTH,
    MAX_LANG_LENGTH,
    MAX_NETWORK_LENGTH,
    MAX_TEXT_LENGTH,
    AccountStats,
    AnyEvent,
    Employee,
    EmployeeAccount,
    Engagement,
    Follow,
    IdentityLink,
    Post,
    raw_decoder,
)

OLDEST_ACCEPTED = datetime(2000, 1, 1, tzinfo=UTC)
DEVELOPMENT_KEY = b"chorus-development-key-not-secret"
MIN_PRODUCTION_KEY_BYTES = 32


class Reason(enum.StrEnum):
    """Why an input is a dead letter: stable codes that analysts group by."""

    TOO_LARGE = "too_large"
    INVALID_UTF8 = "invalid_utf8"
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_TYPE = "unknown_type"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    DUPLICATE_KEY = "duplicate_key"
    FUTURE_TIMESTAMP = "future_timestamp"
    INTERNAL_ERROR = "internal_error"  # a bug of Chorus met on this input; the input is kept


class Accepted(msgspec.Struct, frozen=True, gc=False):
    route: str  # the typed topic's short name (`pipeline.topology`), e.g. "posts"
    key: bytes  # decides the partition: what must be processed in order lands together
    event: AnyEvent


class Rejected(msgspec.Struct, frozen=True, gc=False):
    reason: Reason
    message: str


class Pseudonymiser:
    """Keyed BLAKE2b of (network, account id): stable, not reversible without the key.

    The network is part of the input, so the same handle on two networks gives
    two pseudonyms; identity links are what merge accounts into persons.
    """

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the pseudonymisation key is empty")
        # Keyed once; each pseudonym hashes on a copy (cheaper than keying again).
        self._keyed = hashlib.blake2b(
            key=hashlib.blake2b(key, digest_size=32).digest(), digest_size=16
        )

    def __call__(self, network: str, account_id: str) -> str:
        hasher = self._keyed.copy()
        hasher.update(f"{network}\x00{account_id}".encode())
        return f"p{hasher.hexdigest()}"

    def __repr__(self) -> str:
        return "Pseudonymiser(key=***)"


def pseudonymiser_from_env(
    environment: str, environ: dict[str, str] | None = None
) -> Pseudonymiser:
    """The key comes from CHORUS_PSEUDONYM_KEY; production refuses a missing or short one.

    A short key can be guessed, and then every pseudonym reversed by trying
    handles: production asks for `MIN_PRODUCTION_KEY_BYTES`.
    """
    key = (os.environ if environ is None else environ).get("CHORUS_PSEUDONYM_KEY", "").encode()
    if environment == "production" and len(key) < MIN_PRODUCTION_KEY_BYTES:
        raise RuntimeError(
            f"CHORUS_PSEUDONYM_KEY is {'not set' if not key else f'{len(key)} bytes'}: "
            "production mode refuses to store follower ids under a missing, short or public "
            f"key. Set a secret of {MIN_PRODUCTION_KEY_BYTES}+ random bytes."
        )
    return Pseudonymiser(key or DEVELOPMENT_KEY)


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _any_int(digits: str) -> int:
    """Integers by their sign only: checks here need their kind, and huge ones cost nothing."""
    return -1 if digits.startswith("-") else 1


def _diagnose(raw: bytes) -> Reason:
    """Why `raw_decoder` refused `raw`, decided by Chorus's own checks.

    Only the reason codes are a contract, so they never depend on a decoder's
    error class or wording (both changed between msgspec releases). This runs
    only on refused input: a plain parse, then each field's JSON kind against
    the event type's declaration.
    """
    try:
        text = raw.decode()
        bad_utf8 = False
    except UnicodeDecodeError:
        # Invalid bytes that parse as JSON once replaced sat inside strings:
        # the document is JSON with broken text, not something else.
        text = raw.decode(errors="replace")
        bad_utf8 = True
    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_int=_any_int)
    except ValueError:
        return Reason.NOT_JSON
    except RecursionError:
        return Reason.INVALID_VALUE  # JSON, nested deeper than any event is
    if bad_utf8:
        return Reason.INVALID_UTF8
    if not isinstance(document, dict):
        return Reason.NOT_AN_OBJECT
    kind = document.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        return Reason.UNKNOWN_TYPE
    return _value_problem(document, msgspec.inspect.type_info(EVENT_TYPES[kind])) or (
        Reason.INVALID_VALUE
    )


def _struct_problem(document: dict[str, Any], info: msgspec.inspect.StructType) -> Reason | None:
    """MISSING_FIELD or WRONG_TYPE (in that order of precedence), else None."""
    if any(field.required and field.encode_name not in document for field in info.fields):
        return Reason.MISSING_FIELD
    for field in info.fields:
        if field.encode_name in document:
            problem = _value_problem(document[field.encode_name], field.type)
            if problem is not None:
                return problem
    return None


def _value_problem(value: object, info: msgspec.inspect.Type) -> Reason | None:
    """Does `value`'s JSON kind fit the declared type? Constraints are not checked here."""
    match info:
        case msgspec.inspect.Metadata():
            return _value_problem(value, info.type)
        case msgspec.inspect.UnionType():
            problems = [_value_problem(value, member) for member in info.types]
            return None if None in problems else problems[0]
        case msgspec.inspect.StructType():
            return _struct_problem(value, info) if isinstance(value, dict) else Reason.WRONG_TYPE
        case msgspec.inspect.ListType():
            if not isinstance(value, list):
                return Reason.WRONG_TYPE
            for item in value:
                problem = _value_problem(item, info.item_type)
                if problem is not None:
                    return problem
            return None
    return (
        None
        if isinstance(value, _JSON_KINDS[type(info)]) and not _bool_for_number(value, info)
        else Reason.WRONG_TYPE
    )


def _bool_for_number(value: object, info: msgspec.inspect.Type) -> bool:
    return isinstance(value, bool) and not isinstance(info, msgspec.inspect.BoolType)


# The JSON kind each declared type decodes from (the types the events use).
_JSON_KINDS: dict[type, type | tuple[type, ...]] = {
    msgspec.inspect.AnyType: object,
    msgspec.inspect.NoneType: type(None),
    msgspec.inspect.BoolType: bool,
    msgspec.inspect.IntType: int,
    msgspec.inspect.FloatType: (int, float),
    msgspec.inspect.StrType: str,
    msgspec.inspect.DateTimeType: str,
    msgspec.inspect.LiteralType: (str, int),
}


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise KeyError(key)
        seen[key] = value
    return seen


_KEY_COLON = re.compile(rb'"\s*:')
_QUOTE_SPACE = re.compile(rb'"\s')
_JSON_SPACE = b" \t\n\r"
# Per type: how many keys every event has ("type" and the required fields),
# and the optional fields with their defaults.
_KEYS: dict[type, tuple[int, tuple[tuple[str, object], ...]]] = {
    kind: (
        1 + sum(field.required for field in msgspec.structs.fields(kind)),
        tuple(
            (
                field.name,
                field.default_factory() if field.default is msgspec.NODEFAULT else field.default,
            )
            for field in msgspec.structs.fields(kind)
            if not field.required
        ),
    )
    for kind in EVENT_TYPES.values()
}


def _key_colons(raw: bytes) -> int:
    """How many `"` + colon sequences (any white space between) the bytes hold."""
    # Most events hold no white space at all: a C-speed test spares them the regex.
    if len(raw.translate(None, _JSON_SPACE)) != len(raw) and _QUOTE_SPACE.search(raw):
        return len(_KEY_COLON.findall(raw))
    return raw.count(b'":')  # compact JSON, and `json.dumps`'s default `": "`


def _has_duplicate_keys(raw: bytes, event: AnyEvent) -> bool:
    """JSON allows duplicate keys and decoders keep the last: refuse them instead.

    Every key is a string followed by a colon, so the bytes hold at least as
    many `"` + colon sequences as the object has keys; and every field that
    decoded to other than its default came from a key. When the two counts
    are equal, each key is a different field: no duplicate. Otherwise (text
    that contains such a sequence, unknown or explicit default fields, nested
    objects) the exact, slower check decides.
    """
    required, optional = _KEYS[type(event)]
    expected = required
    for name, default in optional:
        if getattr(event, name) != default:
            expected += 1
    if _key_colons(raw) == expected:
        return False
    try:
        json.loads(raw, object_pairs_hook=_reject_duplicates, parse_int=_any_int)
    except KeyError:
        return True
    return False


def _nfc(text: str, field: str, limit: int) -> str:
    """NFC, which can lengthen text: the typed topic must still accept it."""
    if text.isascii():
        return text
    normal = unicodedata.normalize("NFC", text)
    if len(normal) > limit:
        raise ValueError(
            f"{field} is {len(normal):,} characters once normalised; the limit is {limit:,}"
        )
    return normal


class Ingestor:
    """Validates, normalises and pseudonymises one raw event."""

    def __init__(
        self,
        pseudonymise: Pseudonymiser,
        *,
        max_future: timedelta = timedelta(days=1),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pseudonymise = pseudonymise
        self.max_future = max_future
        self.clock = clock

    def process_batch(self, raws: list[bytes]) -> list[Accepted | Rejected]:
        """Like `process` for each, reading the clock once."""
        latest = self.clock() + self.max_future
        return [self.process(raw, latest) for raw in raws]

    def process(self, raw: bytes, latest: datetime | None = None) -> Accepted | Rejected:
        """`latest` is the latest acceptable occurred_at (default: now + max_future)."""
        try:
            return self._process(raw, latest)
        except Exception as exc:  # one input's bug stays that input's: see the module docstring
            # The exception's text may quote the input: analysts read messages, so only its type.
            return Rejected(
                Reason.INTERNAL_ERROR, f"{type(exc).__name__} while ingesting (a bug of Chorus)"
            )

    def _process(self, raw: bytes, latest: datetime | None) -> Accepted | Rejected:
        if len(raw) > MAX_EVENT_BYTES:
            return Rejected(
                Reason.TOO_LARGE, f"event of {len(raw):,} bytes; the limit is {MAX_EVENT_BYTES:,}"
            )
        try:
            event = raw_decoder.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            return Rejected(_diagnose(raw), str(exc) or type(exc).__name__)
        if not raw.isascii() and not _is_utf8(raw):
            # A decoder may skip an unknown field's string without checking its bytes.
            return Rejected(Reason.INVALID_UTF8, "the event is not valid UTF-8")
        if _has_duplicate_keys(raw, event):
            return Rejected(Reason.DUPLICATE_KEY, "an object has the same key twice")
        when = event.occurred_at
        if when.tzinfo is not UTC:
            try:
                when = when.astimezone(UTC)
            except OverflowError:
                return Rejected(Reason.INVALID_VALUE, "occurred_at is outside the calendar in UTC")
        if when > (latest or self.clock() + self.max_future):
            return Rejected(
                Reason.FUTURE_TIMESTAMP, f"occurred_at {when.isoformat()} is in the future"
            )
        if when < OLDEST_ACCEPTED:
            return Rejected(Reason.INVALID_VALUE, f"occurred_at {when.isoformat()} is before 2000")
        try:
            return self._normalise(event, when)
        except ValueError as exc:
            return Rejected(Reason.INVALID_VALUE, str(exc))

    def _normalise(self, event: AnyEvent, when: datetime) -> Accepted:
        # The event was decoded here a moment ago and nothing else holds it: normalise it in
        # place (several times cheaper than `structs.replace`, which copies every field).
        put = msgspec.structs.force_setattr
        p = self.pseudonymise
        put(event, "occurred_at", when)
        match event:
            case Follow():
                network = _network(event.network)
                follower = p(network, event.follower_id)
                put(event, "network", network)
                put(event, "follower_id", follower)
                key = f"{network}/{event.account_id}/{follower}"
            case Post():
                network = _network(event.network)
                put(event, "network", network)
                if event.in_reply_to_author is not None:
                    put(event, "in_reply_to_author", p(network, event.in_reply_to_author))
                put(event, "text", _nfc(event.text, "text", MAX_TEXT_LENGTH))
                if event.lang is not None:
                    put(
                        event, "lang", _bounded(event.lang.lower(), "lang", MAX_LANG_LENGTH) or None
                    )
                key = event.employee_id
            case Engagement():
                network = _network(event.network)
                put(event, "network", network)
                put(event, "actor_id", p(network, event.actor_id))
                key = event.post_id
            case IdentityLink():
                network_a, network_b = _network(event.network_a), _network(event.network_b)
                account_a, account_b = p(network_a, event.account_a), p(network_b, event.account_b)
                put(event, "network_a", network_a)
                put(event, "account_a", account_a)
                put(event, "network_b", network_b)
                put(event, "account_b", account_b)
                key = f"{min(account_a, account_b)}/{max(account_a, account_b)}"
            case AccountStats():
                network = _network(event.network)
                put(event, "network", network)
                if event.follower_sample is not None:
                    sample = [p(network, follower) for follower in event.follower_sample]
                    put(event, "follower_sample", sample)
                key = f"{network}/{event.account_id}"
            case Employee():
                accounts = [
                    EmployeeAccount(
                        network=(network := _network(account.network)),
                        account_id=account.account_id,
                        pseudonym=p(network, account.account_id),
                    )
                    for account in event.accounts
                ]
                put(
                    event, "department", _nfc(event.department.strip(), "department", MAX_ID_LENGTH)
                )
                put(event, "region", _nfc(event.region.strip(), "region", MAX_ID_LENGTH))
                put(event, "accounts", accounts)
                key = event.employee_id
        return Accepted(route_of(type(event)), key.encode(), event)


class _Keyed(msgspec.Struct):
    """Just enough of a raw event to key it: unknown fields are skipped."""

    type: str = ""
    employee_id: str = ""
    post_id: str = ""
    network: str = ""
    account_id: str = ""
    follower_id: str = ""
    network_a: str = ""
    account_a: str = ""
    network_b: str = ""
    account_b: str = ""


_keyed_decoder = msgspec.json.Decoder(_Keyed)


def raw_key(raw: bytes) -> bytes | None:
    """The Kafka key a producer should give a raw event on chorus.raw.

    Events that must be processed in order share a key, so they share a raw
    partition and one ingest instance handles them in order: one follow edge's
    follows and unfollows, one employee's roster changes, one identity link.
    Every post shares one key: the slip-up spike detector counts in event
    time, and one ordered stream of posts needs no cross-partition watermark
    (posts are few; follows and engagement, the bulk, spread out). None for
    input that does not parse: it goes to any partition, then to dead letters.
    """
    try:
        event = _keyed_decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    match event.type:
        case "post":
            return b"posts"
        case "follow":
            return f"{event.network.lower()}/{event.account_id}/{event.follower_id}".encode()
        case "identity_link":
            a = f"{event.network_a.lower()}/{event.account_a}"
            b = f"{event.network_b.lower()}/{event.account_b}"
            return f"{min(a, b)}|{max(a, b)}".encode()
        case "employee":
            return event.employee_id.encode()
        case "engagement":
            return event.post_id.encode()
        case "account_stats":
            return f"{event.network.lower()}/{event.account_id}".encode()
    return None


def _network(name: str) -> str:
    network = _bounded(name.strip().lower(), "network", MAX_NETWORK_LENGTH)
    if not network:
        raise ValueError("network is blank")
    return network


def _bounded(text: str, field: str, limit: int) -> str:
    """Lower-casing can lengthen text (`İ` is two characters lower-cased)."""
    if len(text) > limit:
        raise ValueError(
            f"{field} is {len(text):,} characters once normalised; the limit is {limit:,}"
        )
    return text
