"""The compiled policy: which rules fire on a text, and the slip-ups of a post.

Terms, the words of near rules and allow-list terms all go into one
Aho-Corasick automaton over the matching form of the text (`folding`), so
thousands of terms cost about as much as one; terms and near rules are decided
there, and only a near rule all of whose lists matched is measured. Patterns
(RE2) and detectors read the clean form. A text on which nothing fired
returns before any excerpt or offset map is built.

A scan takes time linear in the length of the text, whatever the text (the
longest post, 40,000 characters, takes milliseconds): the automaton, the
folding and RE2 are linear, the detectors' regexes do bounded work per
character (`detectors`), and every step after them looks at each match a
bounded number of times. A rule fires once per post, so each rule keeps its
first match that no allow-list term covers; a near rule is one sweep over its
matches in text order, where the latest match of each list before a match is
the only candidate to pair it with (any earlier one is farther away), instead
of pairing every match with every other; the allow-list is searched by
bisection.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from hashlib import blake2b
from pathlib import Path
from typing import Any, cast

import ahocorasick
import numpy as np

from pipeline.policy.detectors import MASKS, find_personal_data
from pipeline.policy.folding import CleanOffsets, Folded, Span, clean, normalise
from pipeline.policy.policy_file import (
    CODE_NAMES_CATEGORY,
    DEFAULT_POLICY,
    NAMED_LISTS,
    NEAR_SIDES,
    PolicyError,
    compile_pattern,
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
    within: int  # most words between the first and the last of its lists' matches
    sides: int  # how many lists, each of which must match


@dataclass(frozen=True)
class _Pattern:
    rule: str
    category: str
    regex: Any  # compiled by `compile_pattern` (RE2)


# What a key of the automaton stands for: ("term", rule, category) | ("near", rule index, list
# index) | ("allow", "", "")
_Entry = tuple[str, Any, Any]
_Hit = tuple[str, str, Span]  # rule, category, span in the NFC text


@dataclass(frozen=True)
class _Key:
    """The payload of an automaton key: its length and what it stands for, by kind."""

    length: int
    closed: bool  # ends with a space: whole words only
    terms: tuple[tuple[str, str], ...]  # rule, category
    near: tuple[tuple[int, int], ...]  # near rule index, list index
    allow: bool


_AutomatonHit = tuple[int, _Key]  # end index in the matching form


class _Allowed:
    """The spans of allow-list terms in a text; a match inside one does not count."""

    def __init__(self, spans: Iterable[Span]) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        for start, end in sorted(spans):
            if self.ends and start <= self.ends[-1]:
                self.ends[-1] = max(self.ends[-1], end)
            else:
                self.starts.append(start)
                self.ends.append(end)

    def covers(self, span: Span) -> bool:
        if not self.starts:
            return False
        index = bisect_right(self.starts, span[0]) - 1
        return index >= 0 and span[1] <= self.ends[index]


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
            _Pattern(f"{name}/{p['name']}", name, compile_pattern(p["regex"]))
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
                lists = [rule[side] for side in NEAR_SIDES if side in rule]
                for side, words in enumerate(lists):
                    for word in words:
                        for term in named_lists.get(word, [word]):
                            add(term, ("near", len(self._near), side))
                self._near.append(
                    _NearRule(f"{name}/{rule['name']}", name, rule["within"], len(lists))
                )
        for term in spec["allow"].get("terms", []):
            add(term, ("allow", "", ""))
        self._automaton: Any = ahocorasick.Automaton()
        for key, payload in entries.items():
            self._automaton.add_word(
                key,
                _Key(
                    len(key),
                    key.endswith(" "),
                    tuple((a, b) for kind, a, b in payload if kind == "term"),
                    tuple((a, b) for kind, a, b in payload if kind == "near"),
                    any(kind == "allow" for kind, _, _ in payload),
                ),
            )
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
        """Every rule that fires on `text`, once per rule, in text order.

        Terms and near rules are decided in the matching form; offsets in the
        text are computed only for what fires (and for allow-list entries, if
        a pattern or detector fired).
        """
        text = unicodedata.normalize("NFC", text)
        folded = Folded(text)
        hits = list(self._automaton.iter(folded.normalised)) if self.term_count else []
        allow_bounds = [_hit_bounds(hit) for hit in hits if hit[1].allow]
        allowed_words = _Allowed([(first, last + 1) for first, last in allow_bounds])
        words = self._word_hits(folded.normalised, hits, allowed_words) if hits else []
        cleaned = clean(text)
        data = cleaned.encode()  # RE2 reads UTF-8: encoded once, not once per pattern
        patterns = [p for p in self._patterns if p.regex.search(data)]
        personal = find_personal_data(cleaned) if self._detectors or words or patterns else []
        if not (words or patterns or any(n in self._detectors for n, _ in personal)):
            return []
        to_text = CleanOffsets(text)
        spans = to_text.spans([span for _, span in personal])
        personal = sorted(zip([n for n, _ in personal], spans, strict=True), key=lambda p: p[1])
        spans = folded.spans([bounds for _, _, bounds in words])
        found: list[_Hit] = [(r, c, span) for (r, c, _), span in zip(words, spans, strict=True)]
        allowed = _Allowed(folded.spans(allow_bounds) if allow_bounds else [])
        for pattern in patterns:
            for match in pattern.regex.finditer(data):
                start, end = match.span()
                clean_span = (len(data[:start].decode()), len(data[:end].decode()))
                [span] = to_text.spans([clean_span])
                if not allowed.covers(_inner(text, span)):
                    found.append((pattern.rule, pattern.category, span))
                    break
        detected: set[str] = set()  # personal data is sorted: the first uncovered one of each
        for name, span in personal:
            category = self._detectors.get(name)
            if category and name not in detected and not allowed.covers(_inner(text, span)):
                detected.add(name)
                found.append((f"{category}/{name}", category, span))
        fired: dict[str, Match] = {}
        longest = max((b - a for _, (a, b) in personal), default=0)
        for rule, category, (start, end) in sorted(found, key=lambda hit: hit[2]):
            if rule not in fired:
                info = self.categories[category]
                excerpt = _excerpt(text, start, end, personal, longest)
                fired[rule] = Match(rule, category, info.severity, excerpt, info.hint, start, end)
        return sorted(fired.values(), key=lambda m: (m.start, m.rule))

    def _word_hits(
        self, normalised: str, hits: list[_AutomatonHit], allowed: _Allowed
    ) -> list[tuple[str, str, tuple[int, int]]]:
        """The first uncovered match of each term and near rule: (rule, category, bounds).

        Bounds are the first and last character in the matching form. An
        allow-list entry covers the words inside it for near rules too: with
        "worst case" allowed, "Contoso's worst-case analysis" is no attack.
        """
        lists: dict[int, set[int]] = {}  # which lists of each near rule matched
        for _, key in hits:
            for rule_index, side in key.near:
                lists.setdefault(rule_index, set()).add(side)
        complete = {i for i, seen in lists.items() if len(seen) == self._near[i].sides}
        if not complete and not any(key.terms for _, key in hits):
            return []  # most posts: a few common words of near rules, no rule whole
        found: dict[str, tuple[str, str, tuple[int, int]]] = {}
        sides: dict[int, list[tuple[int, int, int]]] = {}
        for hit in hits:
            key = hit[1]
            if not (key.terms or any(index in complete for index, _ in key.near)):
                continue
            first, last = _hit_bounds(hit)
            if allowed.covers((first, last + 1)):
                continue
            for rule, category in key.terms:
                found.setdefault(rule, (rule, category, (first, last)))
            for rule_index, side in key.near:
                if rule_index in complete:
                    sides.setdefault(rule_index, []).append((first, last + 1, side))
        if sides:
            words = _WordIndex(normalised)
            for index, matches in sides.items():
                near = self._near[index]
                bounds = _near_bounds(near, sorted(matches), words)
                if bounds:
                    found[near.rule] = (near.rule, near.category, bounds)
        return list(found.values())


def _inner(text: str, span: Span) -> Span:
    """`span` without the punctuation at its ends, which allow-list terms do not hold (`+33…`)."""
    start, end = span
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return start, end


def _hit_bounds(hit: _AutomatonHit) -> tuple[int, int]:
    """First and last character of an automaton hit in the matching form."""
    end_index, key = hit
    return end_index - key.length + 2, end_index - 1 if key.closed else end_index  # keys start " "


class _WordIndex:
    """How many word boundaries (spaces of the matching form) come before a position."""

    def __init__(self, normalised: str) -> None:
        codes = np.frombuffer(normalised.encode("ascii"), dtype=np.uint8)  # [a-z0-9 ] only
        self.spaces = np.flatnonzero(codes == ord(" "))

    def before(self, positions: list[int]) -> list[int]:
        return np.searchsorted(self.spaces, positions).tolist()


def _near_bounds(
    rule: _NearRule, matches: list[tuple[int, int, int]], words: _WordIndex
) -> tuple[int, int] | None:
    """The first stretch, in text order, where every list of the rule matches within its words.

    `matches` are (start, end, list) in the matching form, sorted by start. For
    each match, taken as the last of a stretch, the nearest stretch uses the
    latest match of every other list so far. Returns the stretch's first and
    last character.
    """
    starts, ends = words.before([m[0] for m in matches]), words.before([m[1] for m in matches])
    latest: list[int | None] = [None] * rule.sides  # index in `matches`
    for index, (_, _, side) in enumerate(matches):
        latest[side] = index
        if None in latest:
            continue
        chosen = cast(list[int], latest)
        first = min(chosen)  # sorted by start: the earliest index starts first
        if starts[index] - ends[first] - 1 <= rule.within:  # words strictly between
            return matches[first][0], max(matches[i][1] for i in chosen) - 1
    return None


def _term_key(term: str) -> str:
    """A term as an automaton key: normalised, open on the right if it ends with `*`.

    One space on each side, as between words of a text (a term starting with
    punctuation, `+33…`, would otherwise start with two).
    """
    key = " " + normalise(term.rstrip("*")).strip(" ") + " "
    return key[:-1] if term.endswith("*") else key


def _excerpt(
    text: str, start: int, end: int, personal: list[tuple[str, Span]], longest: int
) -> str:
    """The match with some context, personal data masked, on one line.

    `personal` is sorted by span, `longest` its longest span: only the spans
    that can reach the match's context are looked at.
    """
    left, right = max(0, start - EXCERPT_CONTEXT), min(len(text), end + EXCERPT_CONTEXT)
    nearby = personal[
        bisect_right(personal, left - longest, key=lambda p: p[1][0]) : bisect_right(
            personal, right, key=lambda p: p[1][0]
        )
    ]
    for _, (a, b) in nearby:  # never cut personal data in half: widen to it, then mask it
        if a < right and b > left:
            left, right = min(left, a), max(right, b)
    pieces, position = [], left
    for kind, (a, b) in nearby:
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
