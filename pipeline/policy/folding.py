"""Text folding: the one form in which texts and terms are compared.

Lower case, accents folded, every run of non-alphanumerics one space (word
boundaries are spaces), single letters s.p.a.c.e.d out joined, l33t digits
inside words read as letters, repeated letters collapsed ("stuuuupid" is
"stupid", "bullshit" is "bulshit": terms are normalised the same way), so that
the usual evasions still match. `normalise`, run on every text, builds only the
folded string with C-level `str`/`re` calls; `normalise_with_spans` also maps
each folded character back to the original text (for excerpts) and costs more,
so it runs only for the rare text that matched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from itertools import pairwise


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
