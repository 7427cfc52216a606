"""The weekly coaching digests: one per flagged employee, one per department, and an index.

Built from what the reads of one ISO week return (`CoachingWeek`, filled by
pipeline/warehouse/coaching.py) and nothing else, so the builder is tested on
hand-made rows. Weeks run Monday to Sunday in UTC, by the post's time.

Fair and private: an employee's digest holds only their own posts; a
department's digest (for its manager) holds counts, categories and who needs
a conversation, never an excerpt or a reviewer's note: each employee gets
those in their own digest. Employees count in the department the roster gives
them now (the flag's department when the roster does not know them), so the
manager sees the people they have today, with their last weeks.

Markdown and HTML come from the templates beside this module. Both escape
every value they print: HTML with jinja2's autoescape, Markdown through
`markdown_text` (backslash escapes), since department names, employee ids and
excerpts come from the data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from pipeline.slipups.alerts import chat_text

TEMPLATES = Path(__file__).parent / "templates"
HISTORY_WEEKS = 4  # the department digests compare the week with the 4 before it
CONVERSATION_CONFIRMED = 2  # confirmed flags in a week that call for a conversation

Outcome = Literal["coached", "escalated", "false_alarm", "fine_as_posted", "not_reviewed"]
CONFIRMED: frozenset[Outcome] = frozenset({"coached", "escalated"})
Trend = Literal["up", "down", "steady", "no_history", "no_posts"]

# The rows of a department's table, in reading order: Counts field -> what it means.
COUNT_ROWS = (
    ("flags", "Flags"),
    ("confirmed", "Confirmed (coached or escalated)"),
    ("false_alarms", "False alarms"),
    ("fine_as_posted", "Fine as posted"),
    ("not_reviewed", "Not reviewed yet"),
    ("posts", "Posts"),
)
DEPARTMENT_FOOTNOTE = (
    "Counts only: post texts and the reviewers' notes go to each employee in their own digest. "
    f"A conversation is suggested after {CONVERSATION_CONFIRMED} confirmed flags in a week, "
    "or any escalation. Employees count in their department of today."
)


@dataclass(frozen=True, order=True)
class IsoWeek:
    """An ISO week, Monday to Sunday."""

    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """`2026-W49` -> IsoWeek(2026, 49); ValueError that says the expected form otherwise."""
        match = re.fullmatch(r"(\d{4})-[Ww](\d{2})", text.strip())
        if match:
            year, week = int(match.group(1)), int(match.group(2))
            try:
                date.fromisocalendar(year, week, 1)
            except ValueError:
                raise ValueError(f"{year} has no ISO week {week}") from None
            return cls(year, week)
        raise ValueError(f"{text!r} is not an ISO week: write YYYY-Www, e.g. 2026-W49")

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        year, week, _ = day.isocalendar()
        return cls(year, week)

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def start(self) -> datetime:
        """Monday 00:00 UTC."""
        return datetime.combine(self.monday, time(), UTC)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 UTC: the week is [start, end)."""
        return self.start + timedelta(weeks=1)

    @property
    def span(self) -> str:
        """The days it covers, for people: `30 Nov – 6 Dec 2026`."""
        first, last = self.monday, self.monday + timedelta(days=6)
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"

    def before(self, weeks: int) -> IsoWeek:
        return IsoWeek.of(self.monday - timedelta(weeks=weeks))


# What the reads return ----------------------------------------------------------


@dataclass(frozen=True)
class ReviewedFlag:
    """One slip-up flag (a row of `slipups`) and where its review stands now."""

    slipup_id: str
    post_id: str
    occurred_at: datetime  # the post's time, UTC
    employee_id: str
    department: str  # the roster's when the post was flagged; "" if it did not know
    network: str
    rule: str
    category: str
    severity: str
    excerpt: str  # the matched text in context, personal data masked
    hint: str
    status: str  # review_status: "" or open | claimed | coached | dismissed | escalated
    reason: str  # dismissed: false_positive | not_an_issue; escalated: legal | security
    note: str  # the note of the action that set the status (to the employee when coached)

    @property
    def outcome(self) -> Outcome:
        if self.status == "coached":
            return "coached"
        if self.status == "escalated":
            return "escalated"
        if self.status == "dismissed":
            return "false_alarm" if self.reason == "false_positive" else "fine_as_posted"
        return "not_reviewed"


@dataclass(frozen=True)
class PostCount:
    """How many posts an employee published in one week (each post once)."""

    employee_id: str
    week: IsoWeek
    posts: int


@dataclass(frozen=True)
class CoachingWeek:
    """Everything the digests of `week` are made of: the week and the `HISTORY_WEEKS` before it."""

    week: IsoWeek
    flags: tuple[ReviewedFlag, ...]
    posts: tuple[PostCount, ...]
    departments: Mapping[str, str]  # employee_id -> department, the roster now


# The digests --------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """One scope's week. flags = confirmed + false_alarms + fine_as_posted + not_reviewed."""

    flags: int = 0
    confirmed: int = 0  # coached or escalated
    false_alarms: int = 0  # dismissed as a false positive
    fine_as_posted: int = 0  # dismissed as not an issue: the rule matched a harmless post
    not_reviewed: int = 0
    posts: int = 0

    @classmethod
    def of(cls, flags: Iterable[ReviewedFlag], posts: int) -> Counts:
        outcomes = Counter(flag.outcome for flag in flags)
        return cls(
            flags=sum(outcomes.values()),
            confirmed=outcomes["coached"] + outcomes["escalated"],
            false_alarms=outcomes["false_alarm"],
            fine_as_posted=outcomes["fine_as_posted"],
            not_reviewed=outcomes["not_reviewed"],
            posts=posts,
        )


@dataclass(frozen=True)
class EmployeeDigest:
    """What one employee reads about their own week: their flags, or a clean week."""

    week: IsoWeek
    employee_id: str
    department: str
    posts: int
    flags: tuple[ReviewedFlag, ...]  # oldest first; empty: a clean week

    @property
    def file_stem(self) -> str:
        return file_stem(self.employee_id, "employee")

    @property
    def kind_word(self) -> str:
        if not self.flags:
            return (
                f"A clean week: {plural(self.posts, 'post')}. "
                "Thank you for sharing what we do, and keep it coming!"
            )
        if not any(flag.outcome in CONFIRMED for flag in self.flags):
            return (
                "Nothing for you to change this week. Thank you for posting, "
                "and for your patience with our checks."
            )
        return (
            "Thank you for speaking up for us online. Slip-ups happen to everyone; "
            "the hints are here to help, not to judge."
        )


@dataclass(frozen=True)
class ConversationNeeded:
    """An employee their manager should talk with: their confirmed flags and escalations this week."""

    employee_id: str
    confirmed: int
    categories: tuple[str, ...]  # of the confirmed flags
    escalated_to: tuple[str, ...]  # legal, security


@dataclass(frozen=True)
class CategoryCount:
    category: str
    flags: int
    confirmed: int


@dataclass(frozen=True)
class DepartmentDigest:
    """What a department's manager reads: counts, trend, categories, who needs a conversation."""

    week: IsoWeek
    department: str
    weeks: tuple[tuple[IsoWeek, Counts], ...]  # this week first, then the HISTORY_WEEKS before
    categories: tuple[CategoryCount, ...]  # this week, most flagged first
    conversations: tuple[ConversationNeeded, ...]

    @property
    def file_stem(self) -> str:
        return file_stem(self.department, "no-department")

    @property
    def name(self) -> str:
        return self.department or "No department"

    @property
    def this_week(self) -> Counts:
        return self.weeks[0][1]

    @property
    def history(self) -> Counts:
        """The weeks before, summed."""
        earlier = [dataclasses.astuple(counts) for _, counts in self.weeks[1:]]
        return Counts(*(sum(column) for column in zip(*earlier, strict=True)))

    @property
    def expected_confirmed(self) -> float:
        """Confirmed flags this week's posts would bring at the rate of the weeks before."""
        history = self.history
        return history.confirmed * self.this_week.posts / history.posts if history.posts else 0.0

    @property
    def trend(self) -> Trend:
        """Confirmed flags per post against the weeks before, so posting more is not slipping more.

        Up (down) when this week has at least half again as many (half as many)
        confirmed flags as the earlier rate predicts, and at least one more (fewer).
        """
        if not self.this_week.posts:
            return "no_posts"
        if not self.history.posts:
            return "no_history"
        expected, confirmed = self.expected_confirmed, self.this_week.confirmed
        margin = max(1.0, expected / 2)
        if confirmed >= expected + margin:
            return "up"
        if confirmed <= expected - margin:
            return "down"
        return "steady"

    @property
    def trend_sentence(self) -> str:
        now = self.this_week
        weeks = len(self.weeks) - 1
        if self.trend == "no_posts":
            return "No posts this week, so no trend."
        if self.trend == "no_history":
            return f"No posts in the {weeks} weeks before: nothing to compare with yet."
        found = (
            f"{plural(now.confirmed, 'confirmed flag')} for {plural(now.posts, 'post')}, where "
            f"the rate of the {weeks} weeks before would give {self.expected_confirmed:.1f}"
        )
        return {
            "up": f"More slip-ups than usual: {found}.",
            "down": f"Fewer slip-ups than usual: {found}.",
            "steady": f"About as usual: {found}.",
        }[self.trend]


@dataclass(frozen=True)
class WeekDigests:
    """Every digest of one week."""

    week: IsoWeek
    employees: tuple[EmployeeDigest, ...]  # flagged employees, by id
    clean: tuple[EmployeeDigest, ...]  # employees who posted with no flag (when asked for)
    departments: tuple[DepartmentDigest, ...]  # by name
    totals: Counts  # this week, every department

    @property
    def empty(self) -> bool:
        return not self.totals.flags and not self.totals.posts


def build(data: CoachingWeek, *, clean_weeks: bool = False) -> WeekDigests:
    """The digests of `data.week`; with `clean_weeks`, one for each employee who posted unflagged."""
    this_week = data.week
    flags_of: dict[tuple[IsoWeek, str], list[ReviewedFlag]] = {}  # (week, employee) -> flags
    for flag in sorted(data.flags, key=lambda f: (f.occurred_at, f.slipup_id)):
        week = IsoWeek.of(flag.occurred_at.date())
        flags_of.setdefault((week, flag.employee_id), []).append(flag)
    posts_of = {(count.week, count.employee_id): count.posts for count in data.posts}
    flagged_in = {flag.employee_id: flag.department for flag in data.flags}
    department_of = {
        employee: data.departments.get(employee) or flagged_in.get(employee, "")
        for _, employee in [*flags_of, *posts_of]
    }
    flagged = sorted({employee for week, employee in flags_of if week == this_week})
    posted = sorted({employee for week, employee in posts_of if week == this_week})

    def employee_digest(employee: str) -> EmployeeDigest:
        return EmployeeDigest(
            week=this_week,
            employee_id=employee,
            department=department_of[employee],
            posts=posts_of.get((this_week, employee), 0),
            flags=tuple(flags_of.get((this_week, employee), ())),
        )

    def counts(week: IsoWeek, employees: list[str]) -> Counts:
        return Counts.of(
            (flag for e in employees for flag in flags_of.get((week, e), ())),
            sum(posts_of.get((week, e), 0) for e in employees),
        )

    def department_digest(name: str) -> DepartmentDigest:
        members = [e for e, department in department_of.items() if department == name]
        this_weeks_flags = {e: flags_of[(this_week, e)] for e in flagged if e in members}
        return DepartmentDigest(
            week=this_week,
            department=name,
            weeks=tuple(
                (week, counts(week, members))
                for week in (this_week.before(n) for n in range(HISTORY_WEEKS + 1))
            ),
            categories=_categories(f for flags in this_weeks_flags.values() for f in flags),
            conversations=tuple(
                needed
                for e, flags in this_weeks_flags.items()
                if (needed := _conversation_needed(e, flags))
            ),
        )

    return WeekDigests(
        week=this_week,
        employees=tuple(employee_digest(e) for e in flagged),
        clean=tuple(employee_digest(e) for e in posted if e not in flagged) if clean_weeks else (),
        departments=tuple(
            department_digest(name) for name in sorted({department_of[e] for e in flagged + posted})
        ),
        totals=counts(this_week, sorted({*flagged, *posted})),
    )


def _categories(flags: Iterable[ReviewedFlag]) -> tuple[CategoryCount, ...]:
    flagged: Counter[str] = Counter()
    confirmed: Counter[str] = Counter()
    for flag in flags:
        flagged[flag.category] += 1
        confirmed[flag.category] += flag.outcome in CONFIRMED
    return tuple(
        CategoryCount(category, count, confirmed[category])
        for category, count in sorted(flagged.items(), key=lambda item: (-item[1], item[0]))
    )


def _conversation_needed(employee: str, flags: list[ReviewedFlag]) -> ConversationNeeded | None:
    """Two confirmed flags in the week, or any escalation, call for a conversation."""
    confirmed = [flag for flag in flags if flag.outcome in CONFIRMED]
    escalated = sorted({flag.reason for flag in flags if flag.outcome == "escalated"})
    if len(confirmed) < CONVERSATION_CONFIRMED and not escalated:
        return None
    return ConversationNeeded(
        employee_id=employee,
        confirmed=len(confirmed),
        categories=tuple(sorted({flag.category for flag in confirmed})),
        escalated_to=tuple(escalated),
    )


# Words for people -----------------------------------------------------------------


def plural(count: int, noun: str) -> str:
    """`1 post`, `3 posts`."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def people(count: int) -> str:
    """`1 person`, `3 people`."""
    return f"{count:,} {'person' if count == 1 else 'people'}"


def label(name: str) -> str:
    """A category or rule as words: `financial_disclosure` -> `financial disclosure`."""
    return name.replace("_", " ")


def day(moment: datetime) -> str:
    """`Tue 1 Dec 2026`."""
    return f"{moment:%a} {moment.day} {moment:%b %Y}"


def verdict(flag: ReviewedFlag) -> str:
    """What the review found, said plainly to the employee who posted."""
    match flag.outcome:
        case "coached":
            return (
                "Reviewed: worth doing differently next time. A note from the communications team:"
            )
        case "false_alarm":
            return (
                "Reviewed: a false alarm. Our check got this one wrong: there is nothing to change."
            )
        case "fine_as_posted":
            return "Reviewed: fine as posted. The check matched, but the post is all right: nothing to change."
        case "escalated":
            return (
                f"Reviewed: passed on to the {label(flag.reason) or 'specialist'} team, "
                "who will get in touch if they need anything from you."
            )
        case _:
            return (
                "Not reviewed yet: the communications team will look at it; nothing to do for now."
            )


def file_stem(name: str, empty: str) -> str:
    """A file name for `name` that is safe anywhere: ASCII letters, digits, `-` and `_`.

    A name that had to change gets a short digest of the original, so two
    names that read alike (`R&D`, `R/D`) keep two files.
    """
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")[:64]
    if stem and stem == name:
        return stem
    return f"{stem or empty}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")


def markdown_text(value: Any) -> str:
    """`value` as Markdown text on one line: nothing in it can make a link, HTML, emphasis or a cell."""
    if isinstance(value, Markup):
        return str(value)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", str(value)).strip())


# Rendering --------------------------------------------------------------------------


@cache
def _environment(kind: Literal["md", "html"]) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=kind == "html",
        finalize=markdown_text if kind == "md" else None,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(plural=plural, people=people, label=label, day=day, verdict=verdict)
    environment.globals.update(rows=COUNT_ROWS, footnote=DEPARTMENT_FOOTNOTE)
    return environment


def render(digests: WeekDigests) -> dict[str, str]:
    """Every file of the week, Markdown and HTML: path under the week's directory -> text."""
    files: dict[str, str] = {}
    for kind in ("md", "html"):
        environment = _environment(kind)
        for employee in (*digests.employees, *digests.clean):
            files[f"employees/{employee.file_stem}.{kind}"] = environment.get_template(
                f"employee.{kind}.j2"
            ).render(digest=employee)
        for department in digests.departments:
            files[f"departments/{department.file_stem}.{kind}"] = environment.get_template(
                f"department.{kind}.j2"
            ).render(digest=department)
        files[f"index.{kind}"] = environment.get_template(f"index.{kind}.j2").render(
            digests=digests, extension=kind
        )
    return files


def webhook_messages(digests: WeekDigests) -> list[dict[str, Any]]:
    """The week's summary, then one message per department: `text` for chats, figures for programs.

    Chats reach more people than a manager's inbox: the messages carry counts
    and how many people need a conversation, never who.
    """
    totals = digests.totals
    messages: list[dict[str, Any]] = [
        {
            "text": chat_text(
                f"Coaching digests {digests.week.label}: {_counted(totals)}; "
                f"{plural(len(digests.employees), 'employee digest')}, "
                f"{plural(len(digests.departments), 'department digest')}."
            ),
            "kind": "coaching_week",
            "week": digests.week.label,
            "counts": _counts_json(totals),
            "employee_digests": len(digests.employees),
            "clean_weeks": len(digests.clean),
            "department_digests": len(digests.departments),
        }
    ]
    for department in digests.departments:
        conversations = len(department.conversations)
        messages.append(
            {
                "text": chat_text(
                    f"{department.name}, {digests.week.label}: {_counted(department.this_week)}. "
                    f"{department.trend_sentence} {people(conversations)} to talk with."
                ),
                "kind": "coaching_department",
                "week": digests.week.label,
                "department": department.department,
                "counts": _counts_json(department.this_week),
                "previous_weeks": {
                    week.label: _counts_json(counts) for week, counts in department.weeks[1:]
                },
                "trend": department.trend,
                "categories": {c.category: c.flags for c in department.categories},
                "conversations_needed": conversations,
            }
        )
    return messages


def _counted(counts: Counts) -> str:
    return (
        f"{plural(counts.flags, 'flag')} ({counts.confirmed:,} confirmed, "
        f"{plural(counts.false_alarms, 'false alarm')}, {counts.not_reviewed:,} not reviewed yet) "
        f"for {plural(counts.posts, 'post')}"
    )


def _counts_json(counts: Counts) -> dict[str, int]:
    return dataclasses.asdict(counts)


def write(digests: WeekDigests, out: Path) -> list[Path]:
    """Render the week into `out/<week>/`; the files written.

    Digests a previous run wrote there and this one did not (an employee whose
    flags were since removed, a run without `--all-employees`) are deleted, so
    the directory holds exactly what the index lists.
    """
    directory = out / digests.week.label
    files = render(digests)
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for folder in ("employees", "departments"):
        for path in (directory / folder).glob("*.*"):
            if path.suffix in (".md", ".html") and f"{folder}/{path.name}" not in files:
                path.unlink()
    return [directory / relative for relative in files]
