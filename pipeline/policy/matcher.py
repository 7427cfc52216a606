"""The compiled policy: which rules fire on a text, and the slip-ups of a post.

Terms, the words of near rules and allow-list terms all go into one
Aho-Corasick automaton over the normalised text (`folding`), so thousands of
terms cost about as much as one; a near rule then only measures the gap between
its two sides. Regular expressions and detectors run on the original text. A
text on which nothing fired returns before any excerpt or offset map is built.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from hashlib import blake2b
from pathlib import Path
from typing import Any, cast

import ahocorasick

from pipeline.policy.detectors import MASKS, find_personal_data
from pipeline.policy.folding import Span, normalise, normalise_with_spans
from pipeline.policy.policy_file import (
    CODE_NAMES_CATEGORY,
    DEFAULT_POLICY,
    NAMED_LISTS,
    PolicyError,
    load_merged,
)
from schemas.events import Post
from schemas.slipups import Severity, SlipUp

EXCERPT_CONTEXT = 40  # characters of context on each side of a match


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
        """Compile a validated, merged policy (`load_merged`); use `Policy.load`."""
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
        named_lists = {ref: spec["company"].get(key, []) for ref, key in NAMED_LISTS.items()}
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
        merged, problems = load_merged(Path(path) if path else DEFAULT_POLICY)
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
        personal = find_personal_data(text) if self._detectors or hits or regex_hits else []
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
            pieces += [text[position:a], MASKS[kind]]
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
