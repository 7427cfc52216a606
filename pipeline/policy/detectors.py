"""Personal-data detectors: e-mail, phone, payment card (Luhn) and IBAN (mod-97).

A category names the detectors it uses (`DETECTORS`); the matcher also runs
them on every text a rule fired on, so that an excerpt never shows personal
data (`MASKS`). Card numbers and IBANs count only with a valid checksum, so
that order numbers and other long runs of digits do not fire.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from pipeline.policy.folding import Span

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
MASKS = {"email": "[email]", "phone": "[phone]", "payment_card": "[card]", "iban": "[iban]"}
# Seven digits or more with separators between: what every phone, card and IBAN has.
_NUMBERISH = re.compile(r"\d(?:[\s.\-()/]{0,2}\d){6,}")


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
