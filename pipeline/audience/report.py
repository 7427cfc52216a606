"""The community report, rendered from snapshot rows whatever their source.

`chorus audience report` gets rows from a JSONL file (`rows_from_jsonl`) or
from ClickHouse's latest snapshot (`pipeline.warehouse`); both render through
`Report`, and so do the dashboard and the demo.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import msgspec

from pipeline.audience.graph import AudienceGraph
from pipeline.ingest import Accepted, Ingestor
from schemas.metrics import CampaignReach, CoveragePoint, EmployeeReach, MetricRow, ScopeMetrics

COVERAGE_TARGETS = (0.5, 0.8, 0.95)
TOP_EMPLOYEES = 10


@dataclass(frozen=True, slots=True)
class Report:
    """One snapshot's rows, sorted by kind."""

    scopes: list[ScopeMetrics]
    employees: list[EmployeeReach]
    coverage: list[CoveragePoint]
    campaigns: list[CampaignReach]

    @classmethod
    def from_rows(cls, rows: Iterable[MetricRow]) -> Report:
        rows = list(rows)
        return cls(
            [r for r in rows if isinstance(r, ScopeMetrics)],
            [r for r in rows if isinstance(r, EmployeeReach)],
            sorted((r for r in rows if isinstance(r, CoveragePoint)), key=lambda r: r.rank),
            [r for r in rows if isinstance(r, CampaignReach)],
        )

    @property
    def company(self) -> ScopeMetrics | None:
        return next((s for s in self.scopes if s.scope_kind == "company"), None)

    def employees_for(self, share: float) -> list[str]:
        """The greedy pick of employees who together reach `share` of the company's persons."""
        picked = []
        for point in self.coverage:
            picked.append(point.employee_id)
            if point.cumulative_share >= share - 1e-12:
                return picked
        return picked

    def as_json(self) -> dict[str, object]:
        company = self.company
        headline: dict[str, object] = {}
        if company is not None:
            headline = {
                "naive_reach": company.naive_reach,
                "distinct_persons": company.distinct_persons,
                "estimated_persons": company.estimated_persons,
                "ci_low": company.ci_low,
                "ci_high": company.ci_high,
                "overlap": overlap(company),
                "coverage": {f"{t:.0%}": len(self.employees_for(t)) for t in COVERAGE_TARGETS},
            }
        return {
            "headline": headline,
            "scopes": msgspec.to_builtins(self.scopes),
            "employees": msgspec.to_builtins(self.employees),
            "coverage": msgspec.to_builtins(self.coverage),
            "campaigns": msgspec.to_builtins(self.campaigns),
        }

    def lines(self, under_headline: Iterable[str] = ()) -> Iterable[str]:
        """The human report: the headline first (then `under_headline`), then the detail."""
        company = self.company
        if company is None:
            yield "No active employees yet."
            return
        yield f"Naive reach        {company.naive_reach:>12,}   (sum of follower counts)"
        figure, basis = headline(company)
        yield f"{figure}: {basis}"
        yield from under_headline
        yield f"Overlap            {overlap(company):>12.1%}   (1 - persons / naive reach)"
        for target in COVERAGE_TARGETS:
            picked = self.employees_for(target)
            names = ", ".join(picked[:5]) + (", ..." if len(picked) > 5 else "")
            yield f"{target:>4.0%} coverage      {len(picked):>12,}   employees ({names})"
        yield ""
        yield f"{'scope':28} {'employees':>9} {'naive':>10} {'accounts':>10} {'persons':>10} {'estimated':>22}"
        for s in self.scopes:
            name = s.scope_kind if s.scope_kind == "company" else f"{s.scope_kind}:{s.scope}"
            yield (
                f"{name[:28]:28} {s.employees:>9,} {s.naive_reach:>10,} {s.distinct_accounts:>10,} "
                f"{s.distinct_persons:>10,} {s.estimated_persons:>10,.0f} ±{(s.ci_high - s.ci_low) / 2:>9,.0f}"
            )
        yield ""
        yield "Who brings audience no one else reaches"
        ranked = sorted(self.employees, key=lambda e: (-e.exclusive_followers, e.employee_id))
        for e in ranked[:TOP_EMPLOYEES]:
            yield f"  {e.employee_id:24} {e.exclusive_followers:>8,} exclusive of {e.followers:>8,} ({e.department}, {e.region})"
        clusters = sorted(
            (
                (number, [e.employee_id for e in members])
                for number, members in itertools.groupby(
                    sorted((e for e in self.employees if e.cluster >= 0), key=lambda e: e.cluster),
                    key=lambda e: e.cluster,
                )
            ),
        )
        yield ""
        yield f"Audience clusters: {len(clusters)}"
        for number, members in clusters[:TOP_EMPLOYEES]:
            more = ", ..." if len(members) > 6 else ""
            yield f"  #{number:<3} {len(members):>5} employees: {', '.join(members[:6])}{more}"
        if self.campaigns:
            yield ""
            yield "Campaigns"
            for c in self.campaigns:
                yield (
                    f"  {c.campaign_id:24} {c.distinct_persons:>10,} persons, naive {c.naive_reach:>10,}"
                    f" ({c.relaying_employees} employees, {c.posts} posts)"
                )


def headline(company: ScopeMetrics) -> tuple[str, str]:
    """The one community figure the CLI, the dashboard, Grafana and the analysts' view lead with,
    and what it is made of.

    The figure is the estimate: it counts every network, the ones whose
    follower lists Chorus cannot read included; the exact count is the part
    of it from complete lists, never a second headline.
    """
    return (
        f"True community {company.estimated_persons:,.0f} persons",
        f"95 % interval {company.ci_low:,.0f} - {company.ci_high:,.0f}; "
        f"{company.distinct_persons:,} of them counted one by one in complete follower lists, "
        "the rest estimated from follower counts and samples",
    )


def overlap(company: ScopeMetrics) -> float:
    """The share of the naive reach that is double counting."""
    if company.naive_reach == 0:
        return 0.0
    return 1.0 - company.estimated_persons / company.naive_reach


def rows_from_jsonl(
    lines: Iterable[bytes],
    ingestor: Ingestor,
    taken_at: datetime,
    *,
    link_threshold: float = 0.5,
    on_rejected: Callable[[int, str], None] = lambda number, message: None,
) -> list[MetricRow]:
    """Ingest each raw line as the pipeline would, fold the accepted ones, take a snapshot."""
    graph = AudienceGraph(link_threshold)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        outcome = ingestor.process(line)
        if isinstance(outcome, Accepted):
            graph.apply(outcome.event)
        else:
            on_rejected(number, f"{outcome.reason}: {outcome.message}")
    return graph.snapshot(f"file-{taken_at:%Y%m%dT%H%M%S}", taken_at)
