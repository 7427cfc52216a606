"""Text folding: the forms in which texts, terms and patterns are compared.

Two forms, in which every character comes from exactly one character of the
text (the offset maps for excerpts follow from that):

- the *clean* form (`clean`), which patterns and personal-data detectors read:
  each character in NFKC (fullwidth, mathematical and other compatibility
  letters become plain ones), default-ignorable code points (zero-width
  space, joiner and non-joiner, soft hyphen, word joiner, BOM, variation
  selectors...) and combining marks dropped, other scripts' decimal digits made
  ASCII, and every letter that has one replaced by its ASCII look-alike or base
  letter: the confusable skeletons of Unicode TS #39 (Cyrillic `а`, Greek `ο`,
  Latin `ı`...) from `confusable-homoglyphs`, and accents folded (`é` is `e`).
  ASCII characters are never replaced: TS #39 also maps `m` to `rn`, `1` and
  `I` to `l`, and English and French must stay as they are.
- the *matching* form (`normalise`), in which terms match: the clean form case
  folded, every run of non-alphanumerics one space (word boundaries are
  spaces), single letters s.p.a.c.e.d out joined, l33t digits inside words,
  `@` and `!` inside words and `$` before a letter read as letters (`sc@m`,
  `bull$hit`), `*` between letters dropped (`f*ck` is `fck`), repeated letters
  collapsed ("stuuuupid" is "stupid", "bullshit" is "bulshit": terms are
  normalised the same way).

`normalise` (and `Folded.normalised`), run on every text, uses only C-level
`str`/`re` calls; the way back from folded characters to the text (for offsets
and excerpts) costs more and is built only for the rare text that matched.
Each non-ASCII character is folded once and remembered (`_Tables`), so that the
cost of a text does not depend on how exotic it is. Every regular expression
here does a bounded amount of work per input character.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

Span = tuple[int, int]


@cache
def _invisible() -> re.Pattern[str]:
    """Dropped from both forms: invisible in a rendered post, so they can sit inside a word.

    Loaded on the first non-ASCII character (as the look-alikes are): the stdlib
    `re` knows no Unicode properties, and an ASCII post should not pay for them.
    """
    import regex

    return regex.compile(r"[\p{Default_Ignorable_Code_Point}\p{Mn}\p{Me}]")  # type: ignore[no-any-return]


_DIRECTION_MARKS = "\u200e\u200f"  # confusables.txt wraps right-to-left characters in them


@cache
def _lookalikes() -> dict[str, str]:
    """Unicode's confusables (TS #39) whose skeleton is ASCII once its marks are dropped.

    `confusables_data` lists each pair both ways; a character of another script
    or a decorated Latin letter has exactly one entry, its skeleton (`а` ->
    `a`, `ø` -> `o̸` -> `o`), while a skeleton lists all of its look-alikes.
    """
    from confusable_homoglyphs.confusables import confusables_data

    table = {}
    for source, entries in confusables_data.items():
        char = source.strip(_DIRECTION_MARKS)
        if len(char) != 1 or char.isascii() or len(entries) != 1:
            continue
        target = _invisible().sub("", unicodedata.normalize("NFD", entries[0]["c"]))
        target = target.strip(_DIRECTION_MARKS)
        if target and target.isascii() and target.isprintable():
            table[char] = target
    return table


def _ascii_letter(char: str) -> str:
    """One non-ASCII character as its ASCII look-alike or base letter, case kept; else itself."""
    lookalikes = _lookalikes()
    lower = char.lower()
    if lower != char and lower in lookalikes:  # `І` -> `I`: its capital's skeleton would be `l`
        return lookalikes[lower].upper()
    if char in lookalikes:
        return lookalikes[char]
    base = unicodedata.normalize("NFD", char)[0]
    if base != char:  # a letter with marks: `é` -> `e`, Cyrillic `ё` -> `е` -> `e`
        return base if base.isascii() else _ascii_letter(base)
    return char


def _clean_char(char: str) -> str:
    """The clean form of one character (see the module docstring); may be empty or longer."""
    out = []
    for part in unicodedata.normalize("NFKC", char):
        if part.isascii():
            out.append(part)
        elif _invisible().match(part):
            continue
        elif part.isdecimal():
            out.append(str(unicodedata.decimal(part)))
        elif unicodedata.category(part) == "Cs":  # a lone surrogate: no text has it
            out.append("\ufffd")
        else:
            out.append(_ascii_letter(part))
    return "".join(out)


_DECIMAL_OR_SURROGATE = re.compile(r"[\d\ud800-\udfff]")


def _all_unchanged(chars: str) -> bool:
    """Whether no character of `chars` (non-ASCII) changes in either form, in a few C calls.

    Such a character has no decomposition (NFKD), is not invisible nor a
    digit, has no other case and no look-alike: most of another script's letters.
    """
    return (
        unicodedata.is_normalized("NFKD", chars)
        and not _invisible().search(chars)
        and not _DECIMAL_OR_SURROGATE.search(chars)
        and chars.casefold() == chars == chars.lower()
        and _lookalikes().keys().isdisjoint(chars)
    )


def _codes(text: str) -> np.ndarray:
    """The code points of a text, as an array."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class _Form:
    """One form's `str.translate` table, and how long each character's fold is."""

    def __init__(self) -> None:
        # The characters that change, and ASCII (a miss keeps the character, but
        # costs `translate` an exception: ASCII is most of an English or French post).
        self.table = {codepoint: chr(codepoint) for codepoint in range(128)}
        self.lengths = np.ones(0x110000, dtype=np.uint8)

    def add(self, char: str, fold: str) -> None:
        if fold != char:
            self.table[ord(char)] = fold
            self.lengths[ord(char)] = len(fold)

    def origins(self, codes: np.ndarray) -> np.ndarray | None:
        """Cumulated fold lengths of a text's characters; None when each folds to one.

        `np.searchsorted(cumulated, index, "right")` is then the index in the
        text of the folded character at `index`.
        """
        lengths = self.lengths[codes]
        return None if (lengths == 1).all() else np.cumsum(lengths)


class _Tables:
    """The folds of both forms, learnt one character at a time on first sight.

    The tables hold only the characters that change, so they stay within the
    few thousand characters that fold however many different code points posts
    carry; `seen` remembers, one byte per code point, which were looked at.
    Unseen characters are tested 64 at a time (`_all_unchanged`), so that a post
    of thousands of letters of another script costs a few C calls per 64.
    """

    def __init__(self) -> None:
        self.seen = bytearray(0x110000)
        self.seen[:128] = b"\x01" * 128
        self.last = ""
        self.clean = _Form()
        self.match = _Form()
        for char in string.ascii_uppercase:
            self.match.add(char, char.lower())

    def learn(self, text: str) -> None:
        """Fold the characters of a text not seen before (before translating it)."""
        if text is self.last:  # both forms of a post are made one after the other
            return
        seen = self.seen
        if len(text) < 1024:
            new = [char for char in set(text) if not seen[ord(char)]]
        else:
            codes = _codes(text)
            unseen = np.unique(codes[np.frombuffer(seen, dtype=np.uint8)[codes] == 0])
            new = list(map(chr, unseen.tolist()))
        for start in range(0, len(new), 64):
            chars = "".join(new[start : start + 64])
            if not _all_unchanged(chars):
                for char in chars:
                    cleaned = _clean_char(char)
                    self.clean.add(char, cleaned)
                    self.match.add(char, cleaned.casefold())
            for char in chars:  # after `add`: another thread may translate once it is seen
                seen[ord(char)] = 1
        self.last = text


_TABLES = _Tables()


_LEET = str.maketrans("01345789", "oieastbg")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
# Three or more single letters or digits joined by one and the same separator: "s.p.a.c.e.d".
_SPACED = re.compile(
    r"(?<![a-z0-9])[a-z0-9]([ .\-_*/·])[a-z0-9](?![a-z0-9])(?:\1[a-z0-9](?![a-z0-9]))+"
)
# Symbols standing for letters inside a word (an `@` followed by a domain is an
# address); each pattern starts with its symbol, so that a text without any is
# scanned at C speed, and has a constant replacement, which `re.sub` applies in C.
_AT = re.compile(r"@(?<=[a-z0-9]@)(?=[a-z])(?![a-z0-9-]*\.[a-z])")
_BANG = re.compile(r"!(?<=[a-z0-9]!)(?=[a-z])")
_DOLLAR = re.compile(r"\$(?=[a-z$])")
_STARS = re.compile(r"\*(?<=[a-z]\*)\**+(?=[a-z])")
_LEET_WORD = re.compile(r"(?<![a-z0-9])(?:[a-z]+[0-9]|[0-9]+[a-z])[a-z0-9]*")
# A digit next to a letter: the cheap test before _LEET_WORD (starting with the digit
# lets `re` skip to digits at C speed).
_LETTER_BY_DIGIT = re.compile(r"[0-9](?:(?<=[a-z][0-9])|(?=[a-z]))")
_REPEATS = re.compile(r"(?<=([a-z]))\1++")  # the repeats after a letter


_Drops = Callable[[str, np.ndarray], np.ndarray]  # (text, its code points) -> dropped mask


def _match_offsets(pattern: re.Pattern[str], text: str) -> tuple[np.ndarray, np.ndarray]:
    """Every character inside a match of `pattern`: its index, and its offset in the match."""
    spans = [match.span() for match in pattern.finditer(text)]
    starts, ends = np.array(spans, dtype=np.int64).reshape(-1, 2).T
    lengths = ends - starts
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + offsets, offsets


def _after_same(codes: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Characters `wanted` whose previous character is the same (a run's tail)."""
    tail = np.zeros(len(codes), dtype=bool)
    tail[1:] = wanted[1:] & (codes[1:] == codes[:-1])
    return tail


def _drop_separator_tails(text: str, codes: np.ndarray) -> np.ndarray:
    """`_SEPARATORS` keeps the first character of each run of non-alphanumerics."""
    alnum = ((codes >= ord("a")) & (codes <= ord("z"))) | (
        (codes >= ord("0")) & (codes <= ord("9"))
    )
    tail = np.zeros(len(codes), dtype=bool)
    tail[1:] = ~alnum[1:] & ~alnum[:-1]
    return tail


def _drop_repeats(text: str, codes: np.ndarray) -> np.ndarray:
    """`_REPEATS` keeps the first letter of each run of one letter."""
    return _after_same(codes, (codes >= ord("a")) & (codes <= ord("z")))


def _drop_spaced_separators(text: str, codes: np.ndarray) -> np.ndarray:
    """`_SPACED` keeps the letters, at even offsets of its matches."""
    dropped = np.zeros(len(codes), dtype=bool)
    positions, offsets = _match_offsets(_SPACED, text)
    dropped[positions[offsets % 2 == 1]] = True
    return dropped


def _drop_stars(text: str, codes: np.ndarray) -> np.ndarray:
    """`_STARS` drops the `*` between letters."""
    dropped = np.zeros(len(codes), dtype=bool)
    dropped[_match_offsets(_STARS, text)[0]] = True
    return dropped


@dataclass(frozen=True)
class _Pass:
    """One rewrite of the matching form, after the per-character tables.

    Each pass keeps a subsequence of its input, some characters replaced;
    `drops` marks the characters of its input that it drops (None: it
    replaces one character for one).
    """

    pattern: re.Pattern[str]
    replace: str | Callable[[re.Match[str]], str]  # as `re.sub` takes it
    drops: _Drops | None
    needed: Callable[[str], object] = bool


_PASSES = (
    _Pass(_SPACED, lambda m: m.group()[::2], _drop_spaced_separators),
    _Pass(_AT, "a", None, lambda s: "@" in s),
    _Pass(_BANG, "i", None, lambda s: "!" in s),
    _Pass(_DOLLAR, "s", None, lambda s: "$" in s),
    _Pass(_STARS, "", _drop_stars, lambda s: "*" in s),
    _Pass(_SEPARATORS, " ", _drop_separator_tails),
    _Pass(_LEET_WORD, lambda m: m.group().translate(_LEET), None, _LETTER_BY_DIGIT.search),
    _Pass(_REPEATS, "", _drop_repeats),
)


def clean(text: str) -> str:
    """The clean form of a text (see the module docstring): what patterns and detectors read."""
    if text.isascii():
        return text
    _TABLES.learn(text)
    return text.translate(_TABLES.clean.table)


class CleanOffsets:
    """From offsets in `clean(text)` back to offsets in `text`."""

    def __init__(self, text: str) -> None:
        if text.isascii():
            self._cumulated = None
        else:
            _TABLES.learn(text)
            self._cumulated = _TABLES.clean.origins(_codes(text))

    def spans(self, spans: list[Span]) -> list[Span]:
        """The spans in the text of spans of the clean form (not empty ones)."""
        if self._cumulated is None or not spans:
            return spans
        bounds = np.array(spans, dtype=np.int64) - [0, 1]  # first and last character
        origins = np.searchsorted(self._cumulated, bounds, "right").tolist()
        return [(start, last + 1) for start, last in origins]


def _match_form(text: str) -> str:
    if text.isascii():
        return text.lower()
    _TABLES.learn(text)
    return text.translate(_TABLES.match.table)


class Folded:
    """The matching form of a text (`normalised`), and the way back to the text.

    `normalised` costs only C-level `str`/`re` calls. The way back is built on
    the first call of `spans`, for the rare text that matched: for each pass
    that drops characters, the input index of each output character (numpy
    arrays, so that nothing is done one character at a time in Python), which
    `origins` follows back to the text; `test_policy.py` checks that it agrees
    with `normalise`.
    """

    def __init__(self, text: str) -> None:
        self.length = len(text)
        self._text = text
        folded = _match_form(text)
        self._inputs: list[tuple[_Drops, str]] = []  # each pass that drops, and what it read
        for step in _PASSES:
            if step.needed(folded):
                if step.drops is not None:
                    self._inputs.append((step.drops, folded))
                folded = step.pattern.sub(step.replace, folded)
        self.normalised = " " + folded + " "
        self._kept: list[np.ndarray] | None = None
        self._cumulated: np.ndarray | None = None

    def origins(self, indices: np.ndarray) -> np.ndarray:
        """The indices in the text of characters of `normalised` (not its end spaces)."""
        if self._kept is None:
            self._kept = []
            for drops, read in self._inputs:
                dropped = drops(read, _codes(read))
                if dropped.any():
                    self._kept.append(np.flatnonzero(~dropped))
            if not self._text.isascii():
                self._cumulated = _TABLES.match.origins(_codes(self._text))
        indices = np.asarray(indices) - 1
        for kept in reversed(self._kept):
            indices = kept[indices]
        if self._cumulated is not None:
            indices = np.searchsorted(self._cumulated, indices, "right")
        return indices

    def spans(self, bounds: list[tuple[int, int]]) -> list[Span]:
        """The spans in the text of `normalised[first : last + 1]` for each (first, last)."""
        if not bounds:
            return []
        origins = self.origins(np.array(bounds, dtype=np.int64)).tolist()
        return [(start, end + 1) for start, end in origins]


def normalise(text: str) -> str:
    """The matching form of a text (and of a term): see the module docstring."""
    return Folded(text).normalised


def normalise_with_spans(text: str) -> tuple[str, list[Span]]:
    """`normalise(text)` and, for each of its characters, its span in `text`."""
    folded = Folded(text)
    origins = folded.origins(np.arange(1, len(folded.normalised) - 1)).tolist()
    spans = [(o, o + 1) for o in origins]
    return folded.normalised, [(0, 0), *spans, (folded.length, folded.length)]
