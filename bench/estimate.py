"""`chorus bench estimate`: does the partial-list estimator find the true community?

Simulates many small companies (the simulator's default sampling: one network
gives counts and a 10 % sample, at most 200 ids), runs each through ingest and
the audience graph as the batch report does, and compares `estimated_persons`
with the ground truth `persons_all_followers`: the median relative error and
how often the 95 % interval holds the truth, for the company and every scope.
"""

from __future__ import annotations

import argparse
import statistics
from datetime import UTC, datetime
from typing import Any

from pipeline.audience.report import rows_from_jsonl
from pipeline.ingest import DEVELOPMENT_KEY, Ingestor, Pseudonymiser
from pipeline.simulator.company import simulate
from pipeline.simulator.config import SimulationConfig
from schemas.metrics import ScopeMetrics


def run(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="chorus bench estimate")
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--employees", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)
    taken_at = datetime(2030, 1, 1, tzinfo=UTC)
    ingestor = Ingestor(Pseudonymiser(DEVELOPMENT_KEY), clock=lambda: taken_at)
    company_errors: list[float] = []
    company_covered = 0
    scope_errors: list[float] = []
    scope_covered = scopes = 0
    for seed in range(1, args.seeds + 1):
        simulation = simulate(SimulationConfig(seed=seed, employees=args.employees, days=args.days))
        for row in rows_from_jsonl(simulation.lines(), ingestor, taken_at):
            if not isinstance(row, ScopeMetrics):
                continue
            name = "company" if row.scope_kind == "company" else f"{row.scope_kind}:{row.scope}"
            truth = simulation.truth["scopes"][name]["persons_all_followers"]
            error = abs(row.estimated_persons - truth) / truth if truth else 0.0
            covered = row.ci_low <= truth <= row.ci_high
            if row.scope_kind == "company":
                company_errors.append(error)
                company_covered += covered
            scope_errors.append(error)
            scope_covered += covered
            scopes += 1
    return {
        "seeds": args.seeds,
        "employees": args.employees,
        "company_median_relative_error_pct": round(100 * statistics.median(company_errors), 3),
        "company_max_relative_error_pct": round(100 * max(company_errors), 3),
        "company_interval_coverage_pct": round(100 * company_covered / args.seeds, 1),
        "scopes": scopes,
        "all_scopes_median_relative_error_pct": round(100 * statistics.median(scope_errors), 3),
        "all_scopes_interval_coverage_pct": round(100 * scope_covered / scopes, 1),
    }
