"""The simulator: deterministic, valid events, and a ground truth that the lines bear out.

The truth is recomputed here by brute force (plain sets and networkx) from the
emitted lines, plus what the lines deliberately do not carry: the full
follower lists of the sampled network and the true person of each account.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from click.testing import CliRunner

from pipeline.cli.main import cli
from pipeline.ingest import Accepted, Ingestor, Pseudonymiser, Rejected
from pipeline.simulator.company import Simulation, simulate
from pipeline.simulator.config import SimulationConfig
from pipeline.simulator.texts import CLEAN_TEMPLATES, INVALID_KINDS, SLIPUP_TEMPLATES
from schemas.events import raw_decoder

SMALL = SimulationConfig(employees=60, days=7)


@cache
def small(config: SimulationConfig = SMALL) -> tuple[Simulation, tuple[bytes, ...]]:
    simulation = simulate(config)
    return simulation, tuple(simulation.lines())


def digest(lines: tuple[bytes, ...]) -> str:
    return hashlib.sha256(b"\n".join(lines)).hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    _, lines = small()
    assert digest(tuple(simulate(SMALL).lines())) == digest(lines)
    other = SimulationConfig(employees=60, days=7, seed=2)
    assert digest(tuple(simulate(other).lines())) != digest(lines)


def test_every_line_is_a_valid_event_in_time_order() -> None:
    simulation, lines = small()
    events = [raw_decoder.decode(line) for line in lines]
    roster = simulation.config.employees
    assert all(event.__class__.__name__ == "Employee" for event in events[:roster])
    times = [event.occurred_at for event in events[roster:]]
    assert times == sorted(times)
    assert all(times[0] >= event.occurred_at for event in events[:roster])
    assert len({event.event_id for event in events}) == len(events)
    assert Counter(type(event).__name__ for event in events) == Counter(
        {
            "Employee": simulation.truth["events"]["by_type"]["employee"],
            "Post": simulation.truth["events"]["by_type"]["post"],
            "Follow": simulation.truth["events"]["by_type"]["follow"],
            "IdentityLink": simulation.truth["events"]["by_type"]["identity_link"],
            "Engagement": simulation.truth["events"]["by_type"]["engagement"],
            "AccountStats": simulation.truth["events"]["by_type"]["account_stats"],
        }
    )


def brute_force_truth(simulation: Simulation, lines: tuple[bytes, ...]) -> dict[str, Any]:
    """The truth's scopes and campaigns, recomputed with sets from the lines."""
    roster: dict[str, dict[str, Any]] = {}
    followers: dict[tuple[str, str], set[str]] = {}
    counts: dict[tuple[str, str], int] = {}
    samples: dict[tuple[str, str], list[str]] = {}
    graph = nx.Graph()
    relays: dict[str, set[str]] = {}
    relay_posts: Counter[str] = Counter()
    for line in lines:
        event = json.loads(line)
        match event["type"]:
            case "employee":
                roster[event["employee_id"]] = event
            case "follow":
                listed = followers.setdefault((event["network"], event["account_id"]), set())
                if event["action"] == "follow":
                    listed.add(event["follower_id"])
                else:
                    listed.discard(event["follower_id"])
            case "account_stats":
                counts[(event["network"], event["account_id"])] = event["followers_count"]
                samples[(event["network"], event["account_id"])] = event["follower_sample"]
            case "identity_link" if event["confidence"] >= 0.5:
                graph.add_edge(
                    (event["network_a"], event["account_a"]),
                    (event["network_b"], event["account_b"]),
                )
            case "post" if event.get("campaign_id"):
                relays.setdefault(event["campaign_id"], set()).add(event["employee_id"])
                relay_posts[event["campaign_id"]] += 1

    employee_accounts = {
        (account["network"], account["account_id"])
        for employee in roster.values()
        for account in employee["accounts"]
    }
    component = {
        node: number
        for number, members in enumerate(nx.connected_components(graph))
        for node in members
    }
    excluded = {component[node] for node in employee_accounts if node in component}
    hidden = simulation.sampled_followers()
    for key, listed in hidden.items():
        assert counts[key] == len(listed)
        assert set(samples[key]) <= listed
        assert len(samples[key]) == len(set(samples[key])) == min(round(len(listed) * 0.1), 200)
    true_person = simulation.true_persons()

    def measure(employees: list[dict[str, Any]], complete_only: bool = False) -> dict[str, int]:
        accounts = [
            (account["network"], account["account_id"])
            for employee in employees
            for account in employee["accounts"]
        ]
        if complete_only:
            accounts = [account for account in accounts if account not in hidden]
        naive = sum(
            counts[account] if account in hidden else len(followers.get(account, ()))
            for account in accounts
        )
        listed = {
            (network, follower)
            for network, account_id in accounts
            if (network, account_id) not in hidden
            for follower in followers.get((network, account_id), ())
        } - employee_accounts
        every = (
            listed
            | {
                (account[0], follower)
                for account in accounts
                if account in hidden
                for follower in hidden[account]
            }
        ) - employee_accounts

        def persons(accounts: set[tuple[str, str]]) -> int:
            components = {component.get(account, account) for account in accounts}
            return len(components - excluded)

        return {
            "employees": len(employees),
            "naive_reach": naive,
            "distinct_accounts": len(listed),
            "distinct_persons": persons(listed),
            "persons_all_followers": persons(every),
            "persons_true": len(
                {true_person[a] for a in every if not true_person[a].startswith("employee:")}
            ),
        }

    active = [employee for employee in roster.values() if employee["active"]]
    scopes: dict[str, Any] = {"company": measure(active)}
    for kind, field in (("department", "department"), ("region", "region")):
        for name in sorted({employee[field] for employee in active}):
            scopes[f"{kind}:{name}"] = measure([e for e in active if e[field] == name])
    for network in sorted({a["network"] for e in active for a in e["accounts"]}):
        on_network = [
            {**e, "accounts": [a for a in e["accounts"] if a["network"] == network]}
            for e in active
            if any(a["network"] == network for a in e["accounts"])
        ]
        scopes[f"network:{network}"] = measure(on_network)
    campaigns = {}
    for campaign_id in simulation.config.campaign_ids():
        relaying = [e for e in active if e["employee_id"] in relays.get(campaign_id, set())]
        reach = measure(relaying, complete_only=True)
        campaigns[campaign_id] = {
            "relaying_employees": len(relaying),
            "posts": relay_posts[campaign_id],
            "naive_reach": reach["naive_reach"],
            "distinct_persons": reach["distinct_persons"],
        }
    return {"scopes": scopes, "campaigns": campaigns, "active": len(active)}


@pytest.mark.parametrize(
    "config",
    [SMALL, SimulationConfig(employees=50, days=3, seed=5, sampled_network=None, spikes=2)],
    ids=["default-small", "no-sampled-network"],
)
def test_truth_matches_a_brute_force_recount(config: SimulationConfig) -> None:
    simulation, lines = small(config)
    expected = brute_force_truth(simulation, lines)
    truth = simulation.truth
    assert truth["scopes"] == expected["scopes"]
    assert truth["campaigns"] == expected["campaigns"]
    assert truth["employees"] == {"active": expected["active"], "total": config.employees}
    company = truth["scopes"]["company"]
    assert company["naive_reach"] > company["persons_true"] > 0
    assert company["distinct_accounts"] >= company["distinct_persons"]


def test_slipups_are_the_posts_with_slipup_text_and_the_spike_is_there() -> None:
    simulation, lines = small()
    posts = [json.loads(line) for line in lines if b'"type":"post"' in line]
    slipped = simulation.truth["slipups"]["post_ids"]
    for post in posts:
        matched = {
            category
            for category, by_lang in SLIPUP_TEMPLATES.items()
            for template in by_lang[post["lang"]]
            if template in post["text"]
        }
        assert matched == ({slipped[post["post_id"]]} if post["post_id"] in slipped else set())
    assert sum(simulation.truth["slipups"]["by_category"].values()) == len(slipped)

    (spike,) = simulation.truth["spikes"]
    department = {}
    start, end = (datetime.fromisoformat(spike[key]) for key in ("start", "end"))
    in_window = 0
    for line in lines:
        event = json.loads(line)
        if event["type"] == "employee":
            department[event["employee_id"]] = event["department"]
        elif (
            event["type"] == "post"
            and event["post_id"] in slipped
            and start <= datetime.fromisoformat(event["occurred_at"]) < end
            and department[event["employee_id"]] == spike["scope"]
        ):
            in_window += 1
    assert in_window == spike["slipups"] >= simulation.config.spike_slipups


def test_invalid_and_duplicate_lines_are_counted_and_rejected_for_the_right_reason() -> None:
    config = SimulationConfig(employees=20, days=2, invalid_rate=0.01, duplicate_rate=0.01, seed=3)
    simulation = simulate(config)
    events = simulation.truth["events"]
    lines = list(simulation.lines())
    assert len(lines) == events["valid"] + events["duplicates"] + events["invalid"]
    assert events["invalid"] == sum(events["invalid_by_kind"].values()) > 0
    assert events["duplicates"] > 0

    ingest = Ingestor(Pseudonymiser(b"test"), clock=lambda: datetime(2026, 11, 27, tzinfo=UTC))
    reasons: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    for line in lines:
        outcome = ingest.process(line)
        if isinstance(outcome, Rejected):
            reasons[outcome.reason.value] += 1
        else:
            assert isinstance(outcome, Accepted)
            accepted[outcome.event.event_id] += 1
    expected: Counter[str] = Counter()
    for kind, count in events["invalid_by_kind"].items():
        expected[INVALID_KINDS[kind]] += count
    assert reasons == +expected
    assert len(accepted) == events["valid"]
    assert sum(count - 1 for count in accepted.values()) == events["duplicates"]


def test_clean_templates_avoid_every_slipup_word() -> None:
    flagged = re.compile(
        r"confidenti|internal|interne|do not share|diffuser|falcon|nightjar|revenue|earnings|"
        r"acquisition|chiffre d'affaires|résultats|\bq3\b|idiot|crap|bullshit|stupid|merde|connard|"
        r"débile|rivalcorp|contoso|garbage|scam|arnaque|\bnul\b|@|guarantee|garanti|\bsue\b|"
        r"illegal|illégal|iban|\d{4} \d{4}|\+33|\(555\)|plainte",
        re.IGNORECASE,
    )
    for lang, templates in CLEAN_TEMPLATES.items():
        for template in templates:
            assert not flagged.search(template), (lang, template)
    for category, by_lang in SLIPUP_TEMPLATES.items():
        assert set(by_lang) == set(CLEAN_TEMPLATES), category
        for templates in by_lang.values():
            assert len(templates) >= 3 and all(flagged.search(t) for t in templates), category


def test_the_card_numbers_and_ibans_in_the_templates_are_valid() -> None:
    text = " ".join(t for ts in SLIPUP_TEMPLATES["personal_data"].values() for t in ts)
    cards = re.findall(r"(?<![0-9A-Z] )\b(?:\d{4} ){3}\d{4}\b", text)
    assert cards
    for card in cards:
        digits = [int(d) for d in card.replace(" ", "")][::-1]
        total = sum(
            d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)
        )
        assert total % 10 == 0, card
    ibans = re.findall(r"\b[A-Z]{2}\d{2}(?: [0-9A-Z]{1,4})+", text)
    assert ibans
    for iban in ibans:
        compact = iban.replace(" ", "")
        rotated = compact[4:] + compact[:4]
        assert int("".join(str(int(c, 36)) for c in rotated)) % 97 == 1, iban


def test_the_command_writes_the_events_and_the_truth(tmp_path: Path) -> None:
    out = tmp_path / "company.jsonl"
    result = CliRunner().invoke(
        cli, ["simulate", "--employees", "30", "--days", "2", "--seed", "4", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    truth = json.loads((tmp_path / "company.truth.json").read_text())
    assert set(truth) == {
        "config",
        "events",
        "scopes",
        "campaigns",
        "slipups",
        "spikes",
        "employees",
    }
    assert len(out.read_bytes().splitlines()) == truth["events"]["valid"]
    assert truth == simulate(SimulationConfig(employees=30, days=2, seed=4)).truth
    assert "naive reach" in result.output


def test_the_command_needs_a_destination() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--employees", "30"])
    assert result.exit_code != 0
    assert "--out" in result.output
