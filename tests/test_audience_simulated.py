"""The engine on simulated companies (exact counts = ground truth), the estimator, the report."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.audience.estimate import OverlapFactor, SampledAccount, estimate_persons
from pipeline.audience.report import Report, rows_from_jsonl
from pipeline.cli.main import cli
from pipeline.ingest import DEVELOPMENT_KEY, Ingestor, Pseudonymiser
from pipeline.simulator.company import simulate
from pipeline.simulator.config import SimulationConfig
from schemas.metrics import CampaignReach, CoveragePoint, ScopeMetrics

TAKEN_AT = datetime(2030, 1, 1, tzinfo=UTC)
EXACT = ("employees", "naive_reach", "distinct_accounts", "distinct_persons")


def ingestor() -> Ingestor:
    return Ingestor(Pseudonymiser(DEVELOPMENT_KEY), clock=lambda: TAKEN_AT)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_distinct_counts_equal_the_simulators_truth_in_every_scope(seed: int) -> None:
    simulation = simulate(SimulationConfig(seed=seed, employees=40, days=14))
    rows = rows_from_jsonl(simulation.lines(), ingestor(), TAKEN_AT)
    scopes = {
        "company" if r.scope_kind == "company" else f"{r.scope_kind}:{r.scope}": r
        for r in rows
        if isinstance(r, ScopeMetrics)
    }
    truth = simulation.truth["scopes"]
    assert scopes.keys() == truth.keys()
    for name, row in scopes.items():
        assert {k: getattr(row, k) for k in EXACT} == {k: truth[name][k] for k in EXACT}, name
    campaigns = {r.campaign_id: r for r in rows if isinstance(r, CampaignReach)}
    for campaign, expected in simulation.truth["campaigns"].items():
        if expected["posts"]:
            got = campaigns[campaign]
            assert (got.relaying_employees, got.posts, got.naive_reach, got.distinct_persons) == (
                expected["relaying_employees"],
                expected["posts"],
                expected["naive_reach"],
                expected["distinct_persons"],
            )
    company = scopes["company"]
    target = truth["company"]["persons_all_followers"]
    assert abs(company.estimated_persons - target) / target < 0.05
    curve = [r for r in rows if isinstance(r, CoveragePoint)]
    assert curve[-1].cumulative_persons == company.distinct_persons


def test_estimator_scales_new_sample_shares_and_widens_with_doubt() -> None:
    known = np.zeros(10, dtype=bool)
    known[[1, 2]] = True
    half_new = SampledAccount(followers_count=100, sample=np.array([1, 2, 3, 4]), colleagues=0)
    estimate = estimate_persons(50, known, [half_new], OverlapFactor(0.8, 0.0))
    assert estimate.persons == pytest.approx(50 + 0.8 * 100 * 0.5)
    assert estimate.low < estimate.persons < estimate.high
    doubtful = estimate_persons(50, known, [half_new], OverlapFactor(0.8, 0.01))
    assert doubtful.high - doubtful.low > estimate.high - estimate.low
    # Colleagues in the sample are followers but not audience.
    with_staff = SampledAccount(followers_count=100, sample=np.array([3, 4]), colleagues=2)
    assert estimate_persons(0, known, [with_staff], OverlapFactor(1.0, 0.0)).persons == 50
    assert estimate_persons(7, known, [], OverlapFactor(1.0, 0.0)).persons == 7
    assert OverlapFactor.from_networks([8, 30], [10, 30]).value == pytest.approx(38 / 40)


def test_report_leads_with_the_headline_and_json_has_every_metric(tmp_path) -> None:
    simulation = simulate(SimulationConfig(seed=4, employees=25, days=7))
    source = tmp_path / "company.jsonl"
    source.write_bytes(b"\n".join(simulation.lines()) + b"\n")
    runner = CliRunner()
    human = runner.invoke(cli, ["audience", "report", "--from", str(source)])
    assert human.exit_code == 0, human.output
    assert human.output.splitlines()[0].startswith("Naive reach")
    assert "True community" in human.output and "95% coverage" in human.output
    as_json = runner.invoke(cli, ["audience", "report", "--from", str(source), "--json"])
    report = json.loads(as_json.output)
    company = simulation.truth["scopes"]["company"]
    assert report["headline"]["naive_reach"] == company["naive_reach"]
    assert report["headline"]["distinct_persons"] == company["distinct_persons"]
    assert {"scopes", "employees", "coverage", "campaigns"} <= report.keys()
    rows = rows_from_jsonl(simulation.lines(), ingestor(), TAKEN_AT)
    assert len(Report.from_rows(rows).employees_for(1.0)) == len(report["coverage"])
