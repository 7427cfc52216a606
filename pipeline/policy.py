"""The slip-up policy: a TOML file the communications team edits, compiled for fast checks.

A policy has categories (severity + coaching hint) holding rules: plain terms and
phrases, regular expressions, "near" rules (a competitor within a few words of a
disparaging word) and personal-data detectors (e-mail, phone, payment card with
Luhn, IBAN with mod-97). `docs/slipups.md` documents the file format.

Terms are matched with one Aho-Corasick automaton over a *normalised* text, so
thousands of terms cost about as much as one: lower case, accents folded, every
run of non-alphanumerics one space (word boundaries are spaces), single letters
s.p.a.c.e.d out joined, l33t digits inside words read as letters, repeated
letters collapsed ("stuuuupid" is "stupid", "bullshit" is "bulshit": terms are
normalised the same way). The fast path builds only the normalised string with
C-level `str`/`re` calls; the map from normalised characters back to the
original text (for excerpts) is built only for the rare text that matched.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import blake2b
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import ahocorasick

from schemas.events import Post
from schemas.slipups import Severity, SlipUp

SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
DEFAULT_POLICY = Path(__file__).with_name("default_policy.toml")
DEFAULT_INCLUDE = "chorus:default"  # the name under which a file includes the shipped policy
CODE_NAMES_CATEGORY = "confidential_leak"  # where `[company] code_names` become terms
EXCERPT_CONTEXT = 40  # characters of context on each side of a match


# --- normalisation -----------------------------------------------------------------------


def _fold_table() -> dict[int, str]:
    """Latin letters with diacritics -> their base letter, one character for one."""
    table = {}
    for codepoint in range(0xC0, 0x250):
        char = chr(codepoint)
        base = unicodedata.normalize("NFD", char)[0].lower()
        if base != char and base.isascii() and base.isalpha():
            table[codepoint] = base
    table.update({ord(c): b for c, b in zip("ßæœøđłı", "saoodli", strict=True)})
    return table


_FOLD = _fold_table()
_LEET = str.maketrans("01345789", "oieastbg")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
# Three or more single letters or digits joined by one and the same separator: "s.p.a.c.e.d".
_SPACED = re.compile(
    r"(?<![a-z0-9])[a-z0-9]([ .\-_*/·])[a-z0-9](?![a-z0-9])(?:\1[a-z0-9](?![a-z0-9]))+"
)
_LEET_WORD = re.compile(r"(?<![a-z0-9])(?:[a-z]+[0-9]|[0-9]+[a-z])[a-z0-9]*")
_LETTER_BY_DIGIT = re.compile(r"[a-z][0-9]|[0-9][a-z]")  # cheap test before _LEET_WORD
_REPEATS = re.compile(r"([a-z])\1+")

Span = tuple[int, int]


def _lower_folded(text: str) -> str:
    """Lower case with accents folded; always one character per input character."""
    lowered = text.lower()
    if len(lowered) != len(text):  # "İ" lowers to two characters
        lowered = "".join(char.lower()[0] for char in text)
    return lowered if lowered.isascii() else lowered.translate(_FOLD)


def normalise(text: str) -> str:
    """The matching form of a text (and of a term): see the module docstring."""
    folded = _SPACED.sub(lambda m: m.group()[::2], _lower_folded(text))
    folded = _SEPARATORS.sub(" ", folded)
    if _LETTER_BY_DIGIT.search(folded):
        folded = _LEET_WORD.sub(lambda m: m.group().translate(_LEET), folded)
    return " " + _REPEATS.sub(r"\1", folded) + " "


def _tracked_sub(
    pattern: re.Pattern[str],
    text: str,
    spans: list[Span],
    replace: Callable[[str], tuple[str, list[int]]],
) -> tuple[str, list[Span]]:
    """`pattern.sub` that also carries each character's span in the original text.

    `replace` returns the new text and, for each new character, the index in the
    matched text it comes from; a kept character also covers what was dropped
    after it, so a match's span always covers the original characters it read.
    """
    out: list[str] = []
    out_spans: list[Span] = []
    position = 0
    for match in pattern.finditer(text):
        out.append(text[position : match.start()])
        out_spans.extend(spans[position : match.start()])
        new, kept = replace(match.group())
        out.append(new)
        bounds = [match.start() + k for k in kept] + [match.end()]
        out_spans.extend((spans[a][0], spans[b - 1][1]) for a, b in pairwise(bounds))
        position = match.end()
    out.append(text[position:])
    out_spans.extend(spans[position:])
    return "".join(out), out_spans


def normalise_with_spans(text: str) -> tuple[str, list[Span]]:
    """`normalise(text)` and, for each of its characters, its span in `text`."""
    folded = _lower_folded(text)
    spans = [(i, i + 1) for i in range(len(text))]
    folded, spans = _tracked_sub(
        _SPACED, folded, spans, lambda s: (s[::2], list(range(0, len(s), 2)))
    )
    folded, spans = _tracked_sub(_SEPARATORS, folded, spans, lambda s: (" ", [0]))
    folded, spans = _tracked_sub(
        _LEET_WORD, folded, spans, lambda s: (s.translate(_LEET), list(range(len(s))))
    )
    folded, spans = _tracked_sub(_REPEATS, folded, spans, lambda s: (s[0], [0]))
    end = len(text)
    return " " + folded + " ", [(0, 0), *spans, (end, end)]


# --- personal data -----------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}")
_PHONE = re.compile(
    r"""(?<![\w+])(?:
        \+\d{1,3}[\s.-]?(?:\(0\)[\s.-]?)?\d(?:[\s.-]?\d){6,13}   # international: +33 6 12 34 56 78
      | 0[1-9](?:[\s.-]?\d{2}){4}                               # French: 06 12 34 56 78
      | \(\d{3}\)[\s.-]?\d{3}[\s.-]?\d{4}                       # US: (555) 123-4567
      | \d{3}[.-]\d{3}[.-]\d{4}                                 # US: 555-123-4567
    )(?![\w])""",
    re.VERBOSE,
)
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", re.IGNORECASE)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number carries."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN (spaces allowed)."""
    compact = iban.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _emails(text: str) -> Iterator[Span]:
    if "@" in text:
        yield from (m.span() for m in _EMAIL.finditer(text))


def _phones(text: str) -> Iterator[Span]:
    yield from (m.span() for m in _PHONE.finditer(text))


def _cards(text: str) -> Iterator[Span]:
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits):
            yield match.span()


def _ibans(text: str) -> Iterator[Span]:
    yield from (m.span() for m in _IBAN.finditer(text) if iban_valid(m.group()))


DETECTORS: dict[str, Callable[[str], Iterator[Span]]] = {
    "email": _emails,
    "phone": _phones,
    "payment_card": _cards,
    "iban": _ibans,
}
_MASKS = {"email": "[email]", "phone": "[phone]", "payment_card": "[card]", "iban": "[iban]"}
# Seven digits or more with separators between: what every phone, card and IBAN has.
_NUMBERISH = re.compile(r"\d(?:[\s.\-()/]{0,2}\d){6,}")


def _personal_data(text: str) -> list[tuple[str, Span]]:
    """Every personal-data span in the text (valid checksums only), by detector."""
    found = [("email", span) for span in _emails(text)]
    if _NUMBERISH.search(text):
        found += [
            (name, span)
            for name in ("phone", "payment_card", "iban")
            for span in DETECTORS[name](text)
        ]
    return found


# --- the compiled policy -----------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    name: str
    severity: Severity
    hint: str


@dataclass(frozen=True)
class Match:
    """One rule that fired: what, why, and where (offsets in the NFC text)."""

    rule: str
    category: str
    severity: Severity
    excerpt: str  # the match in context, personal data masked
    hint: str
    start: int
    end: int


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a policy file, with where to look."""

    path: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class PolicyError(ValueError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(map(str, self.problems)))


@dataclass(frozen=True)
class _NearRule:
    rule: str
    category: str
    within: int  # most words between the two sides


@dataclass(frozen=True)
class _Pattern:
    rule: str
    category: str
    regex: re.Pattern[str]


# Automaton payloads: ("term", rule, category) | ("near", rule index, side) | ("allow", "", "")
_Entry = tuple[str, Any, Any]


class Policy:
    """A compiled policy: `check(text)` lists the rules that fire."""

    def __init__(self, spec: dict[str, Any]) -> None:
        """Compile a validated, merged policy (`_load_merged`); use `Policy.load`."""
        self.spec = spec
        self.categories = {
            name: Category(name, cast(Severity, raw["severity"]), raw["hint"].strip())
            for name, raw in spec["categories"].items()
        }
        self._patterns = [
            _Pattern(f"{name}/{p['name']}", name, re.compile(p["regex"], re.IGNORECASE))
            for name, raw in spec["categories"].items()
            for p in raw.get("patterns", [])
        ]
        self._detectors = {
            detector: name
            for name, raw in spec["categories"].items()
            for detector in raw.get("detectors", [])
        }
        entries: dict[str, list[_Entry]] = {}

        def add(term: str, entry: _Entry) -> None:
            key = _term_key(term)
            if key.strip() and entry not in entries.setdefault(key, []):
                entries[key].append(entry)

        for name, raw in spec["categories"].items():
            for term in raw.get("terms", []):
                add(term, ("term", f"{name}/{term}", name))
        for term in spec["company"].get("code_names", []):
            add(term, ("term", f"{CODE_NAMES_CATEGORY}/code_name:{term}", CODE_NAMES_CATEGORY))
        named_lists = {ref: spec["company"].get(key, []) for ref, key in _NAMED_LISTS.items()}
        self._near: list[_NearRule] = []
        for name, raw in spec["categories"].items():
            for rule in raw.get("near", []):
                for side in (0, 1):
                    for word in rule["terms" if side == 0 else "near"]:
                        for term in named_lists.get(word, [word]):
                            add(term, ("near", len(self._near), side))
                self._near.append(_NearRule(f"{name}/{rule['name']}", name, rule["within"]))
        for term in spec["allow"].get("terms", []):
            add(term, ("allow", "", ""))
        self._automaton: Any = ahocorasick.Automaton()
        for key, payload in entries.items():
            self._automaton.add_word(key, (len(key), key.endswith(" "), payload))
        if entries:
            self._automaton.make_automaton()
        self.term_count = len(entries)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Policy:
        """The policy in `path` (with its includes); None: the shipped default policy."""
        merged, problems = _load_merged(Path(path) if path else DEFAULT_POLICY)
        if problems:
            raise PolicyError(problems)
        return cls(merged)

    def with_terms(self, category: str, terms: Iterable[str]) -> Policy:
        """This policy plus extra terms in one existing category (e.g. for benchmarks)."""
        categories = {name: dict(raw) for name, raw in self.spec["categories"].items()}
        categories[category]["terms"] = [*categories[category].get("terms", []), *terms]
        return Policy({**self.spec, "categories": categories})

    def check(self, text: str) -> list[Match]:
        """Every rule that fires on `text`, once per rule, in text order."""
        text = unicodedata.normalize("NFC", text)
        normalised = normalise(text)
        hits = list(self._automaton.iter(normalised)) if self.term_count else []
        regex_hits = [
            (pattern.rule, pattern.category, match.span())
            for pattern in self._patterns
            for match in pattern.regex.finditer(text)
        ]
        personal = _personal_data(text) if self._detectors or hits or regex_hits else []
        if not (hits or regex_hits or any(n in self._detectors for n, _ in personal)):
            return []
        found: list[tuple[str, str, Span]] = regex_hits
        found += [
            (f"{self._detectors[name]}/{name}", self._detectors[name], span)
            for name, span in personal
            if name in self._detectors
        ]
        allowed: list[Span] = []
        if hits:
            _, spans = normalise_with_spans(text)
            found += self._term_hits(normalised, spans, hits, allowed)
        fired: dict[str, Match] = {}
        for rule, category, (start, end) in sorted(found, key=lambda hit: hit[2]):
            if rule in fired or any(a <= start and end <= b for a, b in allowed):
                continue
            info = self.categories[category]
            excerpt = _excerpt(text, start, end, personal)
            fired[rule] = Match(rule, category, info.severity, excerpt, info.hint, start, end)
        return sorted(fired.values(), key=lambda m: (m.start, m.rule))

    def _term_hits(
        self,
        normalised: str,
        spans: list[Span],
        hits: list[tuple[int, tuple[int, bool, list[_Entry]]]],
        allowed: list[Span],
    ) -> list[tuple[str, str, Span]]:
        """Terms and near rules in original offsets; fills `allowed` with allow-list spans."""
        found: list[tuple[str, str, Span]] = []
        sides: dict[int, tuple[list[Span], list[Span]]] = {}
        for end_index, (length, closed, entries) in hits:
            first = end_index - length + 2  # skip the leading space of the key
            last = end_index - 1 if closed else end_index
            span = (spans[first][0], spans[last][1])
            for kind, a, b in entries:
                if kind == "term":
                    found.append((a, b, span))
                elif kind == "allow":
                    allowed.append(span)
                else:
                    sides.setdefault(a, ([], []))[b].append((first, last + 1))
        for rule_index, (left, right) in sides.items():
            rule = self._near[rule_index]
            for (ls, le), (rs, re_) in ((x, y) for x in left for y in right):
                gap = normalised[min(le, re_) : max(ls, rs)]
                if gap.count(" ") - 1 <= rule.within:
                    span = (spans[min(ls, rs)][0], spans[max(le, re_) - 1][1])
                    found.append((rule.rule, rule.category, span))
        return found


def _term_key(term: str) -> str:
    """A term as an automaton key: normalised, open on the right if it ends with `*`."""
    key = normalise(term.rstrip("*"))
    return key[:-1] if term.endswith("*") else key


def _excerpt(text: str, start: int, end: int, personal: list[tuple[str, Span]]) -> str:
    """The match with some context, personal data masked, on one line."""
    left, right = max(0, start - EXCERPT_CONTEXT), min(len(text), end + EXCERPT_CONTEXT)
    for _, (a, b) in personal:  # never cut personal data in half: widen to it, then mask it
        if a < right and b > left:
            left, right = min(left, a), max(right, b)
    pieces, position = [], left
    for (a, b), kind in sorted((span, kind) for kind, span in personal):
        if left <= a and b <= right and a >= position:
            pieces += [text[position:a], _MASKS[kind]]
            position = b
    pieces.append(text[position:right])
    excerpt = " ".join("".join(pieces).split())
    return ("…" if left > 0 else "") + excerpt + ("…" if right < len(text) else "")


def slipup_id(post_id: str, rule: str) -> str:
    """The idempotency key of a slip-up: the same post and rule always give the same id."""
    return "s" + blake2b(f"{post_id}\x00{rule}".encode(), digest_size=16).hexdigest()


def flag_post(
    policy: Policy, post: Post, department: str, region: str, flagged_at: datetime
) -> list[SlipUp]:
    """The slip-ups of one post: one per rule that fires on its text."""
    return [
        SlipUp(
            slipup_id=slipup_id(post.post_id, match.rule),
            post_id=post.post_id,
            event_id=post.event_id,
            occurred_at=post.occurred_at,
            flagged_at=flagged_at,
            employee_id=post.employee_id,
            department=department,
            region=region,
            network=post.network,
            rule=match.rule,
            category=match.category,
            severity=match.severity,
            excerpt=match.excerpt,
            hint=match.hint,
        )
        for match in policy.check(post.text)
    ]


# --- loading, validation and linting -----------------------------------------------------

_TOP_KEYS = {"version", "include", "categories", "allow", "company"}
_CATEGORY_KEYS = {"severity", "hint", "terms", "patterns", "detectors", "near"}
_NEAR_KEYS = {"name", "terms", "near", "within"}
_COMPANY_LISTS = {"code_names", "competitors"}
_ALLOW_KEYS = {"terms"}
_NAMED_LISTS = {"$competitors": "competitors"}  # references a near rule may use


@dataclass
class _Source:
    """One file being validated: where problems point to."""

    path: Path
    lines: list[str]
    problems: list[Problem] = field(default_factory=list)

    def problem(self, key: str, message: str, table: str = "", needle: str | None = None) -> None:
        self.problems.append(
            Problem(str(self.path), self.line_of(table, key, needle), key, message)
        )

    def line_of(self, table: str, key: str, needle: str | None) -> int | None:
        """Best-effort line of a key (tomllib keeps no positions): after its table header."""
        start = 0
        if table:
            header = re.compile(r"^\s*\[\[?\s*" + re.escape(table) + r"\s*\]\]?\s*(#.*)?$")
            start = next((i for i, line in enumerate(self.lines) if header.match(line)), 0)
        short = key.rsplit(".", 1)[-1].split("[")[0]
        wanted = re.compile(r"^\s*" + re.escape(short) + r"\s*=") if short else None
        for index in range(start, len(self.lines)):
            line = self.lines[index]
            if (needle is not None and needle in line) or (
                needle is None and wanted is not None and wanted.match(line)
            ):
                return index + 1
        return start + 1 if table else None


def _string_list(source: _Source, value: Any, key: str, table: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        source.problem(key, "must be a list of strings", table)
        return []
    for item in value:
        if not normalise(item.rstrip("*")).strip():
            source.problem(key, f"term {item!r} has no letters or digits", table, repr(item)[1:-1])
        elif "*" in item.rstrip("*"):
            source.problem(key, f"term {item!r}: `*` may only end a term", table, item)
    return value


def _check_category(source: _Source, name: str, raw: Any, merged: dict[str, Any]) -> None:
    table, prefix = f"categories.{name}", f"categories.{name}"
    if not isinstance(raw, dict):
        source.problem(prefix, "must be a table")
        return
    for key in sorted(set(raw) - _CATEGORY_KEYS):
        source.problem(
            f"{prefix}.{key}", f"unknown key (known: {', '.join(sorted(_CATEGORY_KEYS))})", table
        )
    target = merged.setdefault(name, {"where": (str(source.path), source.line_of(table, "", None))})
    # Invalid values are kept too: a policy with problems is never compiled, and
    # keeping them avoids a second "is required" problem for the same key.
    if "severity" in raw:
        target["severity"] = raw["severity"]
        if raw["severity"] not in SEVERITIES:
            source.problem(
                f"{prefix}.severity",
                f"{raw['severity']!r} is not one of {', '.join(SEVERITIES)}",
                table,
            )
    if "hint" in raw:
        target["hint"] = raw["hint"]
        if not isinstance(raw["hint"], str) or not raw["hint"].strip():
            source.problem(f"{prefix}.hint", "must be a non-empty string", table)
    if "terms" in raw:
        target.setdefault("terms", []).extend(
            _string_list(source, raw["terms"], f"{prefix}.terms", table)
        )
    for index, pattern in enumerate(raw.get("patterns", [])):
        key = f"{prefix}.patterns[{index}]"
        named = pattern if isinstance(pattern, dict) else {"name": pattern, "regex": pattern}
        regex = named.get("regex")
        if not isinstance(regex, str) or not isinstance(named.get("name"), str):
            source.problem(key, "must be a string or a table with `name` and `regex`", table)
            continue
        try:
            re.compile(regex, re.IGNORECASE)
        except re.error as exc:
            source.problem(key, f"bad regular expression {regex!r}: {exc}", table, regex[:20])
            continue
        target.setdefault("patterns", []).append(named)
    if "detectors" in raw:
        for detector in _string_list(source, raw["detectors"], f"{prefix}.detectors", table):
            if detector not in DETECTORS:
                source.problem(
                    f"{prefix}.detectors",
                    f"unknown detector {detector!r} (known: {', '.join(DETECTORS)})",
                    table,
                    detector,
                )
            else:
                target.setdefault("detectors", []).append(detector)
    for index, rule in enumerate(raw.get("near", [])):
        _check_near(source, f"{prefix}.near[{index}]", f"categories.{name}.near", rule, target)


def _check_near(source: _Source, key: str, table: str, rule: Any, target: dict[str, Any]) -> None:
    if not isinstance(rule, dict):
        source.problem(key, "must be a table ([[categories.NAME.near]])", table)
        return
    for unknown in sorted(set(rule) - _NEAR_KEYS):
        source.problem(
            f"{key}.{unknown}", f"unknown key (known: {', '.join(sorted(_NEAR_KEYS))})", table
        )
    ok = isinstance(rule.get("name"), str) and bool(rule["name"].strip())
    if not ok:
        source.problem(f"{key}.name", "a near rule needs a name", table)
    for side in ("terms", "near"):
        words = rule.get(side)
        if not words:
            source.problem(f"{key}.{side}", "must list at least one term", table)
            ok = False
            continue
        for word in _string_list(source, words, f"{key}.{side}", table):
            if word.startswith("$") and word not in _NAMED_LISTS:
                source.problem(f"{key}.{side}", f"unknown list {word!r}", table, word)
                ok = False
    within = rule.get("within", 5)
    if not isinstance(within, int) or not 0 <= within <= 50:
        source.problem(f"{key}.within", "must be a whole number of words from 0 to 50", table)
        ok = False
    if ok:
        target.setdefault("near", []).append({**rule, "within": within})


def _check_file(
    path: Path, merged: dict[str, Any], problems: list[Problem], seen: set[Path]
) -> None:
    """Validate one file and merge it (after its includes) into `merged`."""
    if path.resolve() in seen:
        problems.append(Problem(str(path), None, "include", "includes itself"))
        return
    seen.add(path.resolve())
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), None, "", f"cannot read: {exc}"))
        return
    source = _Source(path, text.splitlines())
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        problems.append(
            Problem(str(path), int(found.group(1)) if found else None, "", f"TOML syntax: {exc}")
        )
        return
    for key in sorted(set(raw) - _TOP_KEYS):
        source.problem(key, f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    if "version" in raw and raw["version"] != 1:
        source.problem("version", "only version 1 exists")
    for include in _string_list(source, raw.get("include", []), "include", ""):
        target = DEFAULT_POLICY if include == DEFAULT_INCLUDE else path.parent / include
        problems.extend(source.problems)
        source.problems = []
        _check_file(target, merged, problems, seen)
    for section, known in (("company", _COMPANY_LISTS), ("allow", _ALLOW_KEYS)):
        raw_section = raw.get(section, {})
        if not isinstance(raw_section, dict):
            source.problem(section, "must be a table")
            continue
        for key, value in raw_section.items():
            if key not in known:
                source.problem(
                    f"{section}.{key}", f"unknown key (known: {', '.join(sorted(known))})", section
                )
            else:
                merged[section].setdefault(key, []).extend(
                    _string_list(source, value, f"{section}.{key}", section)
                )
    categories = raw.get("categories", {})
    if not isinstance(categories, dict):
        source.problem("categories", "must be a table")
        categories = {}
    for name, category in categories.items():
        _check_category(source, name, category, merged["categories"])
    problems.extend(source.problems)


def _load_merged(path: Path) -> tuple[dict[str, Any], list[Problem]]:
    merged: dict[str, Any] = {"categories": {}, "company": {}, "allow": {}}
    problems: list[Problem] = []
    _check_file(path, merged, problems, set())
    if any(p.key == "" and p.message.startswith("TOML") for p in problems):
        return merged, problems
    code_names = merged["company"].get("code_names", [])
    for name, category in merged["categories"].items():
        rules = [category.get(k) for k in ("terms", "patterns", "detectors", "near")]
        if name == CODE_NAMES_CATEGORY:
            rules.append(code_names)
        where, line = category["where"]
        for missing in ("severity", "hint"):
            if missing not in category:
                problems.append(Problem(where, line, f"categories.{name}.{missing}", "is required"))
        if not any(rules):
            problems.append(
                Problem(where, line, f"categories.{name}", "empty category: it has no rules")
            )
    if code_names and CODE_NAMES_CATEGORY not in merged["categories"]:
        problems.append(
            Problem(
                str(path),
                None,
                "company.code_names",
                f"code names need a {CODE_NAMES_CATEGORY!r} category",
            )
        )
    return merged, problems


def lint(path: str | Path | None = None) -> list[Problem]:
    """Everything wrong with a policy file (and its includes); empty when it loads."""
    return _load_merged(Path(path) if path else DEFAULT_POLICY)[1]
