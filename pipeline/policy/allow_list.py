"""Adding a phrase to a policy file's allow-list, once a person has confirmed it.

tomllib reads TOML but does not write it, and a policy file rebuilt from its
parsed values would lose the comments and layout the communications team
keeps for the next reader. So the phrase is inserted into the text of the
file's `[allow] terms` (created when missing), and nothing is written unless
the new text parses to the old values plus that one term, lints clean, and
the rule that flagged the phrase fires on it before and not after. The file is
replaced atomically (a new file renamed over it), so a reader sees the old
policy or the new one.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from pipeline.policy.folding import normalise
from pipeline.policy.matcher import Policy
from pipeline.policy.policy_file import PolicyError, load_merged

_ALLOW_HEADER = re.compile(r"^[ \t]*\[[ \t]*allow[ \t]*\][ \t]*(?:#.*)?$", re.MULTILINE)
_ANY_HEADER = re.compile(r"^[ \t]*\[", re.MULTILINE)
_TERMS_KEY = re.compile(r"^[ \t]*terms[ \t]*=[ \t]*\[", re.MULTILINE)


def add_to_allow_list(policy_path: str | Path, rule: str, phrase: str) -> bool:
    """Allow `phrase`, which `rule` flags, in the policy file: True if added, False if allowed already.

    Raises `PolicyError` if the file has problems already, and `ValueError` if
    the phrase cannot be a term, if `rule` does not flag it, or if the file's
    allow-list is written in a form this does not edit (an inline table).
    """
    path = Path(policy_path)
    merged, problems = load_merged(path)
    if problems:
        raise PolicyError(problems)
    phrase = " ".join(phrase.split())
    if "*" in phrase or not normalise(phrase).strip():
        raise ValueError(f"{phrase!r} cannot be allowed: it needs letters or digits and no `*`")
    if _key(phrase) in {_key(term.rstrip("*")) for term in merged["allow"].get("terms", [])}:
        return False
    if not any(match.rule == rule for match in Policy(merged).check(phrase)):
        raise ValueError(f"{rule} does not flag {phrase!r}: allowing it would change nothing")
    text = path.read_text(encoding="utf-8")
    values = tomllib.loads(text)
    updated = _with_term(text, values, phrase, f"{rule}: allowed after review")
    allow = values.get("allow", {})
    if tomllib.loads(updated) != {
        **values,
        "allow": {**allow, "terms": [*allow.get("terms", []), phrase]},
    }:
        raise ValueError(f"{path}: cannot add to its allow-list safely; add {phrase!r} by hand")
    _replace_if_valid(path, updated, rule, phrase)
    return True


def _key(term: str) -> str:
    return " ".join(normalise(term).split())


def _with_term(text: str, values: dict[str, Any], phrase: str, comment: str) -> str:
    """`text` with `phrase` appended to `[allow] terms`, on its own line with `comment`."""
    entry = f"  {_toml_string(phrase)},  # {''.join(c for c in comment if c.isprintable())}\n"
    if "allow" not in values:
        return (
            text
            + ("\n" if text and not text.endswith("\n") else "")
            + (f"\n[allow]\nterms = [\n{entry}]\n")
        )
    header = _ALLOW_HEADER.search(text)
    if header is None:
        raise ValueError("the allow-list is not an [allow] table: add the term by hand")
    following = _ANY_HEADER.search(text, header.end())
    section_end = following.start() if following else len(text)
    key = _TERMS_KEY.search(text, header.end(), section_end)
    if key is None:
        at = header.end() + 1 if header.end() < len(text) else len(text)
        prefix = "" if header.end() < len(text) else "\n"
        return text[:at] + prefix + f"terms = [\n{entry}]\n" + text[at:]
    close, last = _array_end(text, key.end() - 1)
    line_start = text.rfind("\n", 0, close) + 1
    if text[line_start:close].strip():
        text, close = text[:close] + "\n" + text[close:], close + 1
        line_start = close
    text = text[:line_start] + entry + text[line_start:]
    if text[last] not in "[,":
        text = text[: last + 1] + "," + text[last + 1 :]
    return text


def _array_end(text: str, start: int) -> tuple[int, int]:
    """The closing bracket of the TOML array opening at `start`, and its last value character.

    Reads strings (with their escapes) and comments, so that a bracket or a
    `#` inside them is not taken for one.
    """
    depth, index, last = 0, start, start
    while index < len(text):
        char = text[index]
        if char == "#":
            index = text.find("\n", index)
            if index < 0:
                break
            continue
        if char in "\"'":
            quote = text[index : index + 3] if text[index : index + 3] in ('"""', "'''") else char
            index += len(quote)
            while not text.startswith(quote, index):
                if index >= len(text):
                    raise ValueError("a string in the allow-list never ends")
                index += 2 if quote[0] == '"' and text[index] == "\\" else 1
            index += len(quote)
            last = index - 1
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return index, last
        if not char.isspace():
            last = index
        index += 1
    raise ValueError("the allow-list's terms never end")


def _toml_string(text: str) -> str:
    """`text` as a TOML basic string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


def _replace_if_valid(path: Path, text: str, rule: str, phrase: str) -> None:
    """Write `text` next to `path` (its includes are relative), check it, and rename it over."""
    with tempfile.NamedTemporaryFile(
        "w",
        encoding="utf-8",
        dir=path.parent,
        prefix=f".{path.stem}.",
        suffix=".toml",
        delete=False,
    ) as out:
        out.write(text)
    written = Path(out.name)
    try:
        merged, problems = load_merged(written)
        if problems:
            raise PolicyError(problems)
        if any(match.rule == rule for match in Policy(merged).check(phrase)):
            raise ValueError(f"{rule} still flags {phrase!r} once it is allowed")
        shutil.copymode(path, written)
        os.replace(written, path)
    finally:
        written.unlink(missing_ok=True)
