"""The dashboard page: a `Dashboard` in, one HTML document out.

Charts are plotly figures; the page is a jinja2 template (`page.html.j2`) that
places them in reading order under the headline. The plotly library is either
inlined (the `--out` file opens offline, from a mail attachment or a USB
stick) or linked (the live server sends it once and the browser caches it).
Numbers are formatted here, in one place, so the headline, the tables and the
tests agree to the character.

Names come from the data (employee ids, departments, regions, categories), and
plotly reads a subset of HTML in every label it draws (ticks, legends, hover
text), links among it: each name goes through `plain_text` before plotly sees it.
The template escapes what it prints itself (jinja2's autoescape).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from pipeline.audience import report
from pipeline.audience.report import COVERAGE_TARGETS, overlap
from pipeline.dashboard.data import SLIPUP_HISTORY, Dashboard, MediaPrices

TEMPLATES = Path(__file__).parent
PLOTLY_PATH = "/plotly.min.js"  # where the live server serves the library

# One palette for the whole page: what is counted twice is grey, the truth blue.
NAIVE = "#9aa3ad"
TRUE = "#1f5fa8"
ESTIMATE_BAND = "rgba(31, 95, 168, 0.15)"
EXCLUSIVE = "#2a9d8f"
SHARED = "#c9d6e3"
INCIDENT = "rgba(214, 40, 40, 0.14)"
INCIDENT_MARK = "#d62828"
CATEGORY_COLOURS = ("#e76f51", "#f4a261", "#8e5ea2", "#e9c46a", "#264653", "#d62828", "#6a994e")

PLOT_CONFIG = {"displayModeBar": False, "responsive": True}


# Numbers for people -------------------------------------------------------------


def count(value: float) -> str:
    """A count with thousands separators, rounded to a whole number: 1234567.4 -> '1,234,567'."""
    return f"{round(value):,}"


def percent(share: float, digits: int = 1) -> str:
    """A share as a percentage: 0.6821 -> '68.2%'."""
    return f"{share * 100:.{digits}f}%"


def moment(value: datetime) -> str:
    """A time for people, in UTC to the minute: '2026-10-07 14:05 UTC'."""
    return f"{value:%Y-%m-%d %H:%M} UTC"


def hours(seconds: float) -> str:
    """A duration in hours, one decimal, as the conversation headline says it: 5400 -> '1.5 h'."""
    return f"{seconds / 3600:.1f} h"


def money(value: float, currency: str) -> str:
    """An amount, rounded to a whole unit: (12345.6, 'EUR') -> 'EUR 12,346'."""
    return f"{currency} {count(value)}"


def ordinal(number: int) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th', 23 -> '23rd'."""
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def plain_text(name: str) -> str:
    """`name` as plotly text, never markup: `<a href=…>` is drawn as it is written."""
    return html.escape(name, quote=False)


@dataclass(frozen=True)
class Headline:
    """The four figures at the top, formatted.

    The community card says what `pipeline.audience.report.headline` says, word
    for word: `figure` ("True community 13,580 persons") is cut around its
    number so the number can be drawn large, and `basis` explains it (the
    interval, and the part counted one by one).
    """

    lead: str  # the figure's words before the number: "True community"
    true_community: str  # the estimate: persons across every network
    unit: str  # the words after it: "persons"
    figure: str  # lead, number and unit: report.headline's figure
    basis: str  # report.headline's explanation
    naive_reach: str
    overlap: str
    employees: str


def headline(dashboard: Dashboard) -> Headline | None:
    company = dashboard.company
    if company is None:
        return None
    figure, basis = report.headline(company)
    number = re.search(r"\d[\d,.]*", figure)
    lead, value, unit = (
        (figure[: number.start()], number[0], figure[number.end() :])
        if number
        else (figure, "", "")
    )
    return Headline(
        lead=lead.strip(),
        true_community=value,
        unit=unit.strip(),
        figure=figure,
        basis=basis,
        naive_reach=count(company.naive_reach),
        overlap=percent(overlap(company)),
        employees=count(company.employees),
    )


# The page -----------------------------------------------------------------------


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(count=count, percent=percent, moment=moment)
    return env


def plotly_script(inline: bool) -> Markup:
    """The <script> that loads plotly: the library itself, or a link to the live server's copy."""
    if inline:
        return Markup(f"<script>{get_plotlyjs()}</script>")
    return Markup(f'<script src="{PLOTLY_PATH}"></script>')


def render_page(
    dashboard: Dashboard, *, inline_plotly: bool = True, refresh_seconds: int | None = None
) -> str:
    """The whole page; with `refresh_seconds` the browser reloads it on its own."""
    charts = _charts(dashboard) if dashboard.latest is not None else {}
    return (
        _environment()
        .get_template("page.html.j2")
        .render(
            dashboard=dashboard,
            headline=headline(dashboard),
            coverage_marks=_coverage_marks(dashboard),
            charts=charts,
            titles=titles(dashboard),
            leaders=_leaders(dashboard),
            prices=_prices(dashboard.prices),
            plotly=plotly_script(inline_plotly) if charts else Markup(""),
            refresh_seconds=refresh_seconds,
            problem=None,
        )
    )


def render_problem(message: str, *, refresh_seconds: int | None = None) -> str:
    """A page that says why there is no dashboard (ClickHouse down, not migrated...)."""
    return (
        _environment()
        .get_template("page.html.j2")
        .render(
            dashboard=None,
            headline=None,
            coverage_marks=[],
            charts={},
            titles={},
            leaders=[],
            prices="",
            plotly=Markup(""),
            refresh_seconds=refresh_seconds,
            problem=message,
        )
    )


def _coverage_marks(dashboard: Dashboard) -> list[tuple[str, str]]:
    """('80%', '12 employees') for each coverage target the curve reaches."""
    report = dashboard.latest
    if report is None or not report.coverage:
        return []
    marks = []
    for target in COVERAGE_TARGETS:
        picked = len(report.employees_for(target))
        reached = report.coverage[picked - 1].cumulative_share >= target - 1e-12
        word = "employee" if picked == 1 else "employees"
        marks.append((percent(target, 0), f"{picked:,} {word}" if reached else "not reached"))
    return marks


# What the conversation panels found ----------------------------------------------------


def titles(dashboard: Dashboard) -> dict[str, str]:
    """Each new panel's title: its finding, in words an executive reads in five seconds.

    A panel without data has no title here (the page says "no data yet" instead).
    """
    found = {
        "campaigns": _campaigns_title(dashboard),
        "engaged": _engaged_title(dashboard),
        "ambassadors": _ambassadors_title(dashboard),
        "conversation": _conversation_title(dashboard),
        "leaderboard": _leaderboard_title(dashboard),
        "emv": _emv_title(dashboard),
    }
    return {name: title for name, title in found.items() if title}


def _campaigns_title(dashboard: Dashboard) -> str | None:
    campaigns = dashboard.campaigns()
    if not campaigns:
        return None
    top = campaigns[0]
    title = f"Campaign '{top.campaign_id}' reached {count(top.distinct_persons)} people"
    if top.naive_reach > top.distinct_persons:
        title += f", not the {count(top.naive_reach)} the naive sum says"
    return title


def _engaged_title(dashboard: Dashboard) -> str | None:
    company, community = dashboard.company_conversation, dashboard.company
    if company is None or community is None:
        return None
    share = (
        company.engaged_persons / community.estimated_persons if community.estimated_persons else 0
    )
    people = "person" if company.engaged_persons == 1 else "people"
    title = (
        f"{count(company.engaged_persons)} {people} engaged in {dashboard.conversation_days} days "
        f"({percent(share)} of the true community)"
    )
    if company.engagements > company.engaged_persons:
        title += f", not the {count(company.engagements)} engagements a naive sum counts"
    return title


def _active_series(dashboard: Dashboard) -> list[tuple[date, int, int]]:
    """The active ambassadors per day from the first day anyone was active (before it, no post
    to count: the data had not begun); empty without ambassadors."""
    series = dashboard.active_ambassadors
    if not series or series[-1][2] == 0:
        return []
    first = next((n for n, (_, active, _) in enumerate(series) if active), len(series) - 1)
    return series[first:]


def _ambassadors_title(dashboard: Dashboard) -> str | None:
    series = _active_series(dashboard)
    if not series:
        return None
    first_day, first, _ = series[0]
    _, active, ambassadors = series[-1]
    title = (
        f"{count(active)} of {count(ambassadors)} ambassadors "
        f"({percent(active / ambassadors, 0)}) posted in the last 7 days"
    )
    if active != first:
        direction = "up" if active > first else "down"
        title += f", {direction} from {count(first)} on {first_day.day} {first_day:%b}"
    return title


def _conversation_title(dashboard: Dashboard) -> str | None:
    departments = dashboard.department_conversation()
    if not departments:
        return None
    days = dashboard.conversation_days
    top = departments[0]
    if top.conversation_share > 0:
        title = (
            f"{top.name} converses most: {percent(top.conversation_share, 0)} of its posts "
            "answer someone outside"
        )
    else:
        posts = sum(d.posts for d in departments)
        title = f"Broadcast, not conversation: none of {count(posts)} posts in {days} days answers someone outside"
    answered = [d for d in departments if d.median_response_seconds is not None]
    if answered:
        fastest = min(answered, key=lambda d: (d.median_response_seconds or 0, d.name))
        median = hours(fastest.median_response_seconds or 0)
        if fastest is top and top.conversation_share > 0:
            title += f" and it answers comments fastest (median {median})"
        else:
            title += f"; {fastest.name} answers comments fastest (median {median})"
    elif any(d.comments for d in departments):
        title += "; no comment from outside was answered within 24 h"
    return title


def _leaderboard_title(dashboard: Dashboard) -> str | None:
    everyone = dashboard.leaderboard(top=None)
    if not everyone:
        return None
    leader = everyone[0]
    if leader.exclusive_followers == 0:
        return "No employee reaches anyone a colleague does not: ranked by conversation"
    title = (
        f"{leader.employee_id} brings the most people no colleague reaches "
        f"({count(leader.exclusive_followers)})"
    )
    most_followed = min(
        range(len(everyone)), key=lambda i: (-everyone[i].followers, everyone[i].employee_id)
    )
    if most_followed == 0:
        return title + " and is also the most followed"
    followed = everyone[most_followed]
    return (
        title + f"; the most followed, {followed.employee_id}, ranks {ordinal(most_followed + 1)}"
    )


def _emv_title(dashboard: Dashboard) -> str | None:
    value = dashboard.earned_media_value()
    if value is None:
        return None
    title = f"Earned media value, an estimate: {money(value.deduplicated, value.currency)} counting each person once"
    if value.naive > value.deduplicated:
        title += f", not the {money(value.naive, value.currency)} of the naive sum"
    return title


@dataclass(frozen=True)
class LeaderRow:
    """One row of the leaderboard table, formatted."""

    rank: int
    employee: str
    department: str
    exclusive_followers: str
    followers: str
    conversation_share: str
    response_rate: str
    posts: str


def _leaders(dashboard: Dashboard) -> list[LeaderRow]:
    """The leaderboard's rows; a share with nothing to divide ("no post", "no comment") is '–'."""
    rows = []
    for rank, leader in enumerate(dashboard.leaderboard(), start=1):
        mine = dashboard.conversation.get(f"employee:{leader.employee_id}")
        commented = mine is not None and mine.comments > 0
        rows.append(
            LeaderRow(
                rank,
                leader.employee_id,
                leader.department,
                count(leader.exclusive_followers),
                count(leader.followers),
                percent(leader.conversation_share, 0) if leader.posts else "–",
                percent(leader.response_rate, 0) if commented else "–",
                count(leader.posts),
            )
        )
    return rows


def _prices(prices: MediaPrices | None) -> str:
    """The prices of an EMV, for its note: 'per 1,000 impressions EUR 30 on linkedin, ...'."""
    if prices is None:
        return ""

    def listed(table: Mapping[str, float]) -> str:
        named = [
            f"{prices.currency} {price:g} on {network}"
            for network, price in sorted(table.items())
            if network != "*"
        ]
        if "*" in table:
            named.append(f"{prices.currency} {table['*']:g} elsewhere")
        return ", ".join(named) or "none"

    return f"per 1,000 impressions {listed(prices.cpm)}; per click {listed(prices.cpc)}"


# The charts -----------------------------------------------------------------------


def _charts(dashboard: Dashboard) -> dict[str, Markup]:
    """Each chart's HTML (a div and the script that draws it), by name; empty ones left out."""
    figures = {
        "trend": _trend(dashboard),
        "coverage": _coverage(dashboard),
        "engaged": _engaged(dashboard),
        "ambassadors": _ambassadors(dashboard),
        "conversation": _conversation(dashboard),
        "campaigns": _campaigns(dashboard),
        "emv": _emv(dashboard),
        "departments": _scopes(dashboard, "department"),
        "regions": _scopes(dashboard, "region"),
        "employees": _top_employees(dashboard),
        "clusters": _clusters(dashboard),
        "slipups": _slipups(dashboard),
    }
    return {
        name: Markup(
            figure.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=f"chart-{name}",
                config=PLOT_CONFIG,
            )
        )
        for name, figure in figures.items()
        if figure is not None
    }


def _layout(figure: go.Figure, height: int, **extra: Any) -> go.Figure:
    figure.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13},
        separators=".,",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "traceorder": "normal"},
        hoverlabel={"namelength": -1},
        **extra,
    )
    figure.update_yaxes(automargin=True)
    figure.update_xaxes(automargin=True)
    return figure


def _trend(dashboard: Dashboard) -> go.Figure:
    trend = dashboard.trend
    when = [s.taken_at for s in trend]
    mode = "lines+markers" if len(trend) < 40 else "lines"
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=when + when[::-1],
            y=[s.ci_high for s in trend] + [s.ci_low for s in trend][::-1],
            fill="toself",
            fillcolor=ESTIMATE_BAND,
            line={"width": 0},
            hoverinfo="skip",
            name="95% interval",
            legendrank=4,
        )
    )
    figure.add_trace(
        go.Scatter(
            x=when,
            y=[s.distinct_persons for s in trend],
            mode="lines",
            line={"color": TRUE, "dash": "dot", "width": 1.5},
            name="Counted one by one",
            legendrank=3,
            hovertemplate="%{y:,}",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=when,
            y=[s.estimated_persons for s in trend],
            mode=mode,
            line={"color": TRUE, "width": 3},
            name="True community",
            legendrank=2,
            hovertemplate="%{y:,.0f}",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=when,
            y=[s.naive_reach for s in trend],
            mode=mode,
            line={"color": NAIVE, "width": 3},
            name="Naive reach",
            legendrank=1,
            hovertemplate="%{y:,}",
        )
    )
    _layout(figure, 330, hovermode="x unified")
    figure.update_yaxes(tickformat=",d", rangemode="tozero")
    return figure


def _coverage(dashboard: Dashboard) -> go.Figure | None:
    report = dashboard.latest
    if report is None or not report.coverage:
        return None
    curve = report.coverage
    figure = go.Figure(
        go.Scatter(
            x=[0] + [p.rank for p in curve],
            y=[0.0] + [p.cumulative_share for p in curve],
            mode="lines",
            line={"color": TRUE, "width": 3, "shape": "hv"},
            name="Share of the true community",
            customdata=[["", 0]]
            + [[plain_text(p.employee_id), p.cumulative_persons] for p in curve],
            hovertemplate=(
                "%{x} employees reach %{y:.1%} (%{customdata[1]:,} persons)"
                "<br>last added: %{customdata[0]}<extra></extra>"
            ),
        )
    )
    for target in COVERAGE_TARGETS:
        picked = len(report.employees_for(target))
        figure.add_hline(y=target, line={"color": NAIVE, "dash": "dash", "width": 1})
        if curve[picked - 1].cumulative_share >= target - 1e-12:
            figure.add_trace(
                go.Scatter(
                    x=[picked],
                    y=[target],
                    mode="markers+text",
                    marker={"color": EXCLUSIVE, "size": 10},
                    text=[f"{percent(target, 0)}: {picked:,}"],
                    textposition="bottom right",
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
    _layout(figure, 330, showlegend=False)
    figure.update_yaxes(tickformat=".0%", range=[0, 1.04], title="share of distinct persons")
    figure.update_xaxes(title="employees, the one who adds most first", rangemode="tozero")
    return figure


def _bar_height(rows: int, per_row: int) -> int:
    return max(220, 70 + rows * per_row)


def _scopes(dashboard: Dashboard, kind: str) -> go.Figure | None:
    scopes = dashboard.scopes(kind)
    if not scopes:
        return None
    names = [plain_text(s.name) for s in scopes]
    figure = go.Figure()
    for label, values, colour in (
        ("Naive", [s.naive_reach for s in scopes], NAIVE),
        ("True (distinct persons)", [s.true_reach for s in scopes], TRUE),
        ("Exclusive", [s.exclusive_reach for s in scopes], EXCLUSIVE),
    ):
        figure.add_trace(
            _horizontal_bar(
                names, values, label, colour, "%{y}: %{x:,}<extra>" + label + "</extra>"
            )
        )
    _layout(figure, _bar_height(len(scopes), 48), barmode="group", bargap=0.25)
    figure.update_yaxes(autorange="reversed")
    figure.update_xaxes(tickformat=",d")
    return figure


def _horizontal_bar(
    names: list[str], values: list[int], label: str, colour: str, hover: str
) -> go.Bar:
    return go.Bar(
        y=names, x=values, orientation="h", name=label, marker_color=colour, hovertemplate=hover
    )


def _top_employees(dashboard: Dashboard) -> go.Figure | None:
    top = dashboard.top_employees()
    if not top:
        return None
    return _exclusive_and_shared(
        [plain_text(f"{e.employee_id} · {e.department}") for e in top],
        [e.exclusive_followers for e in top],
        [e.followers - e.exclusive_followers for e in top],
        ("Exclusive followers (no colleague reaches them)", "Shared with colleagues"),
        "followers (persons)",
    )


def _clusters(dashboard: Dashboard) -> go.Figure | None:
    clusters = dashboard.clusters()[:15]
    if not clusters:
        return None
    return _exclusive_and_shared(
        [
            f"Cluster {c.number} · {c.employees:,} employee{'s' if c.employees != 1 else ''}"
            for c in clusters
        ],
        [c.exclusive_followers for c in clusters],
        [c.followers - c.exclusive_followers for c in clusters],
        ("Exclusive followers", "Followers shared with colleagues"),
        "followers of its employees, summed",
    )


def _exclusive_and_shared(
    names: list[str], exclusive: list[int], shared: list[int], labels: tuple[str, str], axis: str
) -> go.Figure:
    """Horizontal bars, largest first: the exclusive part, then the shared part, stacked."""
    figure = go.Figure()
    for values, label, color, word in (
        (exclusive, labels[0], EXCLUSIVE, "exclusive"),
        (shared, labels[1], SHARED, "shared"),
    ):
        figure.add_trace(
            _horizontal_bar(names, values, label, color, f"%{{y}}: %{{x:,}} {word}<extra></extra>")
        )
    _layout(figure, _bar_height(len(names), 24), barmode="stack", bargap=0.3)
    figure.update_yaxes(autorange="reversed")
    figure.update_xaxes(tickformat=",d", title=axis)
    return figure


def _slipups(dashboard: Dashboard) -> go.Figure | None:
    counts = dashboard.slipups
    if not counts:
        return None
    width = timedelta(hours=1) if dashboard.slipup_bucket == "hour" else timedelta(days=1)
    categories = sorted({c.category for c in counts})
    figure = go.Figure()
    for number, category in enumerate(categories):
        mine = [c for c in counts if c.category == category]
        figure.add_trace(
            go.Bar(
                x=[c.bucket + width / 2 for c in mine],
                y=[c.slipups for c in mine],
                width=width.total_seconds() * 1000 * 0.85,
                name=plain_text(category.replace("_", " ")),
                marker_color=CATEGORY_COLOURS[number % len(CATEGORY_COLOURS)],
                customdata=[moment(c.bucket) for c in mine],
                hovertemplate="%{customdata}: %{y:,}<extra>" + plain_text(category) + "</extra>",
            )
        )
    # The span of the trend where the slip-up history covers it, so the time axes line up.
    since = max(dashboard.trend[0].taken_at - width, counts[-1].bucket - SLIPUP_HISTORY)
    start = min(counts[0].bucket, since)
    end = max(counts[-1].bucket, dashboard.trend[-1].taken_at) + width
    _incident_marks(figure, dashboard, start, end)
    _layout(figure, 340, barmode="stack", bargap=0.1)
    figure.update_yaxes(tickformat=",d", title=f"slip-ups per {dashboard.slipup_bucket}")
    figure.update_xaxes(range=[start, end])
    return figure


def _incident_marks(
    figure: go.Figure, dashboard: Dashboard, start: datetime, end: datetime
) -> None:
    """Each incident's firing window as a band, and a marker where it opened."""
    shown = [i for i in dashboard.incidents if start <= i.opened_at <= end]
    for incident in shown:
        figure.add_vrect(
            x0=incident.opened_at,
            x1=incident.resolved_at or end,
            fillcolor=INCIDENT,
            line_width=0,
            layer="below",
        )
    if shown:
        figure.add_trace(
            go.Scatter(
                x=[i.opened_at for i in shown],
                y=[1.0] * len(shown),
                yaxis="y2",
                mode="markers",
                marker={"symbol": "triangle-down", "size": 12, "color": INCIDENT_MARK},
                name="Alert incident (band: while firing)",
                customdata=[
                    [plain_text(i.scope_kind), plain_text(i.scope), i.status, moment(i.opened_at)]
                    for i in shown
                ],
                hovertemplate=(
                    "%{customdata[0]} %{customdata[1]}: %{customdata[2]}"
                    "<br>opened %{customdata[3]}<extra></extra>"
                ),
            )
        )
        figure.update_layout(
            yaxis2={"overlaying": "y", "range": [0, 1.05], "visible": False, "fixedrange": True}
        )


# The conversation charts ------------------------------------------------------------------


def _engaged(dashboard: Dashboard) -> go.Figure | None:
    """The engaged community beside the true community, and the summed engagements beside both."""
    company, community = dashboard.company_conversation, dashboard.company
    if company is None or community is None:
        return None
    days = dashboard.conversation_days
    rows = [
        ("True community (persons)", community.estimated_persons, TRUE, "persons"),
        (f"Engaged in {days} days (persons)", company.engaged_persons, EXCLUSIVE, "persons"),
        (f"Engagements in {days} days, summed", company.engagements, NAIVE, "engagements"),
    ]
    figure = go.Figure(
        go.Bar(
            y=[label for label, *_ in rows],
            x=[value for _, value, *_ in rows],
            orientation="h",
            marker_color=[colour for *_, colour, _ in rows],
            text=[count(value) for _, value, *_ in rows],
            textposition="auto",
            customdata=[word for *_, word in rows],
            hovertemplate="%{y}: %{x:,.0f} %{customdata}<extra></extra>",
        )
    )
    _layout(figure, 230, showlegend=False, bargap=0.3)
    figure.update_yaxes(autorange="reversed")
    figure.update_xaxes(tickformat=",d", rangemode="tozero")
    return figure


def _ambassadors(dashboard: Dashboard) -> go.Figure | None:
    series = _active_series(dashboard)
    if not series:
        return None
    days = [day for day, _, _ in series]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=days,
            y=[total for _, _, total in series],
            mode="lines",
            line={"color": NAIVE, "dash": "dash", "width": 2},
            name="Ambassadors (employees with an account)",
            hovertemplate="%{y:,} ambassadors<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=days,
            y=[active for _, active, _ in series],
            mode="lines+markers",
            line={"color": EXCLUSIVE, "width": 3},
            fill="tozeroy",
            fillcolor="rgba(42, 157, 143, 0.12)",
            name="Posted in the 7 days to the day",
            customdata=[percent(a / t, 0) if t else "" for _, a, t in series],
            hovertemplate="%{x|%d %b}: %{y:,} active (%{customdata})<extra></extra>",
        )
    )
    _layout(figure, 300, hovermode="x unified")
    figure.update_yaxes(tickformat=",d", rangemode="tozero", title="ambassadors")
    return figure


def _conversation(dashboard: Dashboard) -> go.Figure | None:
    """Per department: the share of posts answering someone outside, and the median response."""
    departments = dashboard.department_conversation()
    if not departments:
        return None
    names = [plain_text(d.name) for d in departments]
    figure = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.06,
        subplot_titles=("Posts answering someone outside", "Median response to a comment"),
    )
    figure.add_trace(
        go.Bar(
            y=names,
            x=[d.conversation_share for d in departments],
            orientation="h",
            marker_color=TRUE,
            name="Conversation share",
            customdata=[[d.posts] for d in departments],
            hovertemplate="%{y}: %{x:.0%} of %{customdata[0]:,} posts<extra></extra>",
        ),
        row=1,
        col=1,
    )
    figure.add_trace(
        go.Bar(
            y=names,
            x=[
                None if d.median_response_seconds is None else d.median_response_seconds / 3600
                for d in departments
            ],
            orientation="h",
            marker_color=EXCLUSIVE,
            name="Median response (hours)",
            customdata=[[d.comments, percent(d.response_rate, 0)] for d in departments],
            hovertemplate=(
                "%{y}: median %{x:.1f} h; %{customdata[1]} of %{customdata[0]:,} comments "
                "answered within 24 h<extra></extra>"
            ),
        ),
        row=1,
        col=2,
    )
    _layout(figure, _bar_height(len(departments), 34) + 30, showlegend=False, bargap=0.3)
    figure.update_layout(margin={"t": 30})
    figure.update_annotations(font_size=13)
    figure.update_yaxes(autorange="reversed")
    figure.update_xaxes(tickformat=".0%", rangemode="tozero", row=1, col=1)
    figure.update_xaxes(ticksuffix=" h", rangemode="tozero", row=1, col=2)
    return figure


def _campaigns(dashboard: Dashboard) -> go.Figure | None:
    campaigns = dashboard.campaigns()[:15]
    if not campaigns:
        return None
    names = [plain_text(c.campaign_id) for c in campaigns]
    figure = go.Figure()
    for label, values, colour in (
        ("Naive (follower counts summed)", [c.naive_reach for c in campaigns], NAIVE),
        ("Reached (distinct persons)", [c.distinct_persons for c in campaigns], TRUE),
    ):
        figure.add_trace(
            _horizontal_bar(
                names, values, label, colour, "%{y}: %{x:,}<extra>" + label + "</extra>"
            )
        )
    figure.data[-1].update(
        customdata=[[c.relaying_employees, c.posts] for c in campaigns],
        hovertemplate=(
            "%{y}: %{x:,} persons<br>relayed by %{customdata[0]:,} employees "
            "in %{customdata[1]:,} posts<extra></extra>"
        ),
    )
    _layout(figure, _bar_height(len(campaigns), 44), barmode="group", bargap=0.25)
    figure.update_yaxes(autorange="reversed")
    figure.update_xaxes(tickformat=",d")
    return figure


def _emv(dashboard: Dashboard) -> go.Figure | None:
    value = dashboard.earned_media_value()
    if value is None:
        return None
    rows = [
        ("Naive (follower counts summed)", value.naive, NAIVE),
        ("Deduplicated (each person once)", value.deduplicated, TRUE),
    ]
    figure = go.Figure(
        go.Bar(
            x=[label for label, _, _ in rows],
            y=[amount for _, amount, _ in rows],
            marker_color=[colour for _, _, colour in rows],
            text=[plain_text(money(amount, value.currency)) for _, amount, _ in rows],
            textposition="auto",
            hovertemplate="%{x}: %{text} (estimate)<extra></extra>",
        )
    )
    _layout(figure, 300, showlegend=False, bargap=0.45)
    figure.update_yaxes(
        tickformat=",.0f", rangemode="tozero", title=plain_text(f"{value.currency}, estimate")
    )
    return figure
