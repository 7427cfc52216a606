"""Personal-data detectors: e-mail, phone, payment card (Luhn) and IBAN (mod-97).

A category names the detectors it uses (`DETECTORS`); the matcher also runs
them on every text a rule fired on, so that an excerpt never shows personal
data (`MASKS`). Card numbers and IBANs count only with a valid checksum, so
that order numbers and other long runs of digits do not fire.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator

from pipeline.policy.folding import Span

# Each pattern does a bounded amount of work per character, whatever the text: a
# run (of address characters, digits...) is entered only at its start (the
# lookbehinds) and never re-scanned (possessive `++`), and the other
# repetitions are bounded. `tests/test_policy.py` sends the long runs that
# would otherwise backtrack (`"x" * 39999 + "@"`).
_LOCAL = r"(?<![\w.%+-])[\w.%+-]++"
_EMAIL = re.compile(_LOCAL + r"@(?:[\w-]++\.)+[a-z]{2,}", re.IGNORECASE)
# "jane.doe [at] example [dot] com", "jane (at) example.com", "jane at example dot com".
_EMAIL_SPELLED = re.compile(
    _LOCAL
    + r"""(?:\s{0,3}[\[({<]\s{0,3}(?:at|arobase)\s{0,3}[\])}>]\s{0,3}|\s{1,3}(?:at|arobase)\s{1,3})
        [\w-]++
        (?:(?:\s{0,3}[\[({<]\s{0,3}(?:dot|point)\s{0,3}[\])}>]\s{0,3}|\s{1,3}(?:dot|point)\s{1,3}|\.)[\w-]++){1,6}
        (?![\w-])""",
    re.IGNORECASE | re.VERBOSE,
)
# What a spelled-out address has and ordinary prose rarely does ("meet us at example.com").
_SPELLED_MARKERS = re.compile(
    r"[\[({<]\s{0,3}(?:at|arobase|dot|point)\s{0,3}[\])}>]|\s(?:dot|point)\s", re.IGNORECASE
)
_PHONE = re.compile(
    r"""(?<![\w+])(?:
        (?:\+|00)\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d(?:[\s.-]?\d){5,13}  # +33 6 12 34 56 78, +1 (555) 123-4567
      | 0[1-9](?:\d{8}|[\s.-]?\d{2}([\s.-])\d{2}(?:\1\d{2}){2})             # French: 06 12 34 56 78
      | 0[1-9]\d{1,3}[\s.-]?\d{3,4}[\s.-]?\d{3,4}                           # UK: 07700 900123, 020 7946 0958
      | \(\d{3}\)[\s.-]?\d{3}[\s.-]?\d{4}                                  # US: (555) 123-4567
      | \d{3}[\s.-]\d{3}[\s.-]\d{4}                                         # US: 555-123-4567
    )(?![\w])""",
    re.VERBOSE,
)
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", re.IGNORECASE)


# Whole strings at a time (`translate`, `map`): a post can hold thousands of candidates.
_LUHN_DOUBLED = str.maketrans("0123456789", "0246813579")  # the digit sum of 2 x d
_IBAN_DIGITS = str.maketrans({letter: str(ord(letter) - 55) for letter in string.ascii_uppercase})
_NOT_DIGITS = re.compile(r"\D+")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number carries."""
    doubled = digits[-2::-2].translate(_LUHN_DOUBLED)
    return (sum(map(int, digits[-1::-2])) + sum(map(int, doubled))) % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN (spaces allowed)."""
    compact = iban.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isascii() or not compact.isalnum():
        return False
    return int((compact[4:] + compact[:4]).translate(_IBAN_DIGITS)) % 97 == 1


def _emails(text: str) -> Iterator[Span]:
    if "@" in text:
        yield from (m.span() for m in _EMAIL.finditer(text))
    if _SPELLED_MARKERS.search(text):
        for match in _EMAIL_SPELLED.finditer(text):
            if _SPELLED_MARKERS.search(match.group()):
                yield match.span()


def _phones(text: str) -> Iterator[Span]:
    for match in _PHONE.finditer(text):
        if 9 <= len(_NOT_DIGITS.sub("", match.group())) <= 15:
            yield match.span()


def _cards(text: str) -> Iterator[Span]:
    for match in _CARD.finditer(text):
        digits = match.group().replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits):
            yield match.span()


def _ibans(text: str) -> Iterator[Span]:
    for match in _IBAN.finditer(text):
        # The last groups may be the next words ("... 7034 please"): shorten until valid.
        candidate = match.group()
        while len(candidate) >= 15:
            if iban_valid(candidate):
                yield match.start(), match.start() + len(candidate)
                break
            candidate = candidate[:-1].rstrip()


DETECTORS: dict[str, Callable[[str], Iterator[Span]]] = {
    "email": _emails,
    "phone": _phones,
    "payment_card": _cards,
    "iban": _ibans,
}
MASKS = {"email": "[email]", "phone": "[phone]", "payment_card": "[card]", "iban": "[iban]"}
# Seven digits with separators between: what every phone, card and IBAN has.
_NUMBERISH = re.compile(r"\d(?:[\s.\-()/]{0,2}\d){6}")


def find_personal_data(text: str) -> list[tuple[str, Span]]:
    """Every personal-data span in the text (valid checksums only), by detector."""
    found = [("email", span) for span in _emails(text)]
    if _NUMBERISH.search(text):
        found += [
            (name, span)
            for name in ("phone", "payment_card", "iban")
            for span in DETECTORS[name](text)
        ]
    return found
