"""Reading a policy file: includes merged, every value validated, problems located.

`docs/slipups.md` documents the format. Patterns are RE2 regular expressions
(`google-re2`), which match in time linear in the text whatever the pattern,
so that no policy a company writes can stall a worker on a hostile post; they
read the clean form of the text (`folding.clean`), and their own letters are
folded the same way. Validation collects every problem
instead of stopping at the first, so that `chorus policy lint` lists them all at
once; a policy with any problem is never compiled (`Policy.load` raises
`PolicyError`). tomllib keeps no positions, so a problem's line is a
best-effort search of the file's text.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import re2

from pipeline.policy.detectors import DETECTORS
from pipeline.policy.folding import clean, normalise
from schemas.slipups import Severity

SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
DEFAULT_POLICY = Path(__file__).with_name("default_policy.toml")
DEFAULT_INCLUDE = "chorus:default"  # the name under which a file includes the shipped policy
CODE_NAMES_CATEGORY = "confidential_leak"  # where `[company] code_names` become terms
NAMED_LISTS = {"$competitors": "competitors"}  # references a near rule may use

_TOP_KEYS = {"version", "include", "categories", "allow", "company"}
_CATEGORY_KEYS = {"severity", "hint", "terms", "patterns", "detectors", "near"}
_NEAR_KEYS = {"name", "terms", "near", "also", "within"}
NEAR_SIDES = ("terms", "near", "also")  # the lists of a near rule; `also` is optional
_COMPANY_LISTS = {"code_names", "competitors"}
_ALLOW_KEYS = {"terms"}


def compile_pattern(pattern: str) -> Any:
    """A policy pattern compiled for the clean form of texts; raises `re2.error` if invalid."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    return re2.compile(clean(pattern), options)


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
            compile_pattern(regex)
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            source.problem(
                key, f"bad RE2 regular expression {regex!r}: {reason}", table, regex[:20]
            )
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
    for side in NEAR_SIDES:
        words = rule.get(side)
        if side == "also" and words is None:
            continue
        if not words:
            source.problem(f"{key}.{side}", "must list at least one term", table)
            ok = False
            continue
        for word in _string_list(source, words, f"{key}.{side}", table):
            if word.startswith("$") and word not in NAMED_LISTS:
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


def load_merged(path: Path) -> tuple[dict[str, Any], list[Problem]]:
    """A file merged with its includes, and every problem in them: compile it only if none."""
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
    return load_merged(Path(path) if path else DEFAULT_POLICY)[1]
