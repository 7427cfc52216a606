"""The simulator: deterministic, valid events, and a ground truth that the lines bear out.

The truth is recomputed here by brute force (plain sets and networkx) from the
emitted lines, plus what the lines deliberately do not carry: the full
follower lists of the sampled network and the true person of each account.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import networkx as nx
import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli.main import cli
from pipeline.ingest import Accepted, Ingestor, Pseudonymiser, Rejected
from pipeline.policy import Policy
from pipeline.simulator.company import Simulation, _answer_delays, simulate
from pipeline.simulator.config import SimulationConfig
from pipeline.simulator.texts import (
    CLEAN_TEMPLATES,
    FALSE_ALARM_TEMPLATES,
    INVALID_KINDS,
    MISSED_SLIPUP_TEMPLATES,
    REPLY_TEMPLATES,
    SLIPUP_CATEGORIES,
    SLIPUP_TEMPLATES,
)
from schemas.events import Employee, Engagement, IdentityLink, Post, raw_decoder

SMALL = SimulationConfig(employees=60, days=7)
ERRING = dataclasses.replace(SMALL, false_alarm_rate=0.05, missed_rate=0.05)  # many policy errors


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


def test_slipups_are_the_posts_with_flagged_text_and_the_spike_is_there() -> None:
    simulation, lines = small(ERRING)
    posts = [json.loads(line) for line in lines if b'"type":"post"' in line]
    slipped = simulation.truth["slipups"]["post_ids"]
    review = simulation.truth["review"]
    for post in posts:
        post_id, lang, text = post["post_id"], post["lang"], post["text"]
        matched = {
            category
            for category, by_lang in SLIPUP_TEMPLATES.items()
            for template in by_lang[lang]
            if template in text
        }
        alarms = {rule for rule, template in FALSE_ALARM_TEMPLATES[lang] if template in text}
        assert alarms == (
            {review["false_alarms"][post_id]} if post_id in review["false_alarms"] else set()
        )
        matched |= {rule.split("/", 1)[0] for rule in alarms}
        assert matched == ({slipped[post_id]} if post_id in slipped else set())
        missed = {
            category
            for category, by_lang in MISSED_SLIPUP_TEMPLATES.items()
            for template in by_lang[lang]
            if template in text
        }
        assert missed == ({review["missed"][post_id]} if post_id in review["missed"] else set())
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
    for lang, templates in (*CLEAN_TEMPLATES.items(), *REPLY_TEMPLATES.items()):
        for template in templates:
            assert not flagged.search(template), (lang, template)
    assert set(REPLY_TEMPLATES) == set(CLEAN_TEMPLATES)
    for category, by_lang in SLIPUP_TEMPLATES.items():
        assert set(by_lang) == set(CLEAN_TEMPLATES), category
        for templates in by_lang.values():
            assert len(templates) >= 3 and all(flagged.search(t) for t in templates), category


POLICY = Policy.load()


def test_false_alarms_trip_one_rule_and_missed_slipups_none_after_any_clean_sentence() -> None:
    assert set(FALSE_ALARM_TEMPLATES) == set(CLEAN_TEMPLATES)
    assert tuple(MISSED_SLIPUP_TEMPLATES) == SLIPUP_CATEGORIES
    for lang, clean_sentences in CLEAN_TEMPLATES.items():
        prefixes = ["", *(f"{clean} " for clean in clean_sentences)]
        for rule, text in FALSE_ALARM_TEMPLATES[lang]:
            for prefix in prefixes:
                assert {m.rule for m in POLICY.check(prefix + text)} == {rule}, prefix + text
        for by_lang in MISSED_SLIPUP_TEMPLATES.values():
            assert len(by_lang[lang]) >= 2
            for text in by_lang[lang]:
                for prefix in prefixes:
                    assert POLICY.check(prefix + text) == [], prefix + text


def test_the_policys_errors_change_texts_only_and_the_truth_counts_them() -> None:
    exact = dataclasses.replace(ERRING, false_alarm_rate=0.0, missed_rate=0.0)
    _, right_lines = small(exact)
    simulation, erring_lines = small(ERRING)
    assert len(right_lines) == len(erring_lines)
    changed = 0
    for right, erring in zip(right_lines, erring_lines, strict=True):
        if right != erring:
            right_event, erring_event = json.loads(right), json.loads(erring)
            assert {**right_event, "text": ""} == {**erring_event, "text": ""}
            changed += 1
    review = simulation.truth["review"]
    assert changed == len(review["false_alarms"]) + len(review["missed"]) > 10
    flagged = len(simulation.truth["slipups"]["post_ids"])
    caught = flagged - len(review["false_alarms"])
    assert review["precision"] == caught / flagged < 1
    assert review["recall"] == caught / (caught + len(review["missed"])) < 1
    by_category = review["by_category"]
    assert sum(c["flagged"] for c in by_category.values()) == flagged
    assert sum(c["false_alarms"] for c in by_category.values()) == len(review["false_alarms"])
    assert sum(c["missed"] for c in by_category.values()) == len(review["missed"])
    assert small(exact)[0].truth["review"]["precision"] == 1.0


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
        "review",
        "spikes",
        "employees",
        "conversation",
        "until",
    }
    assert len(out.read_bytes().splitlines()) == truth["events"]["valid"]
    assert truth == simulate(SimulationConfig(employees=30, days=2, seed=4)).truth
    assert "naive reach" in result.output


def test_the_command_needs_a_destination() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--employees", "30"])
    assert result.exit_code != 0
    assert "--out" in result.output


# --- conversations ---------------------------------------------------------------------------------

CONVERSATION_FIELDS = (
    "posts",
    "replies_outside",
    "comments",
    "answered",
    "median_response_seconds",
    "engagements",
    "engaged_persons",
    "likes",
    "shares",
    "clicks",
    "ambassadors",
    "active_ambassadors",
)


def conversation_reference(
    config: SimulationConfig, lines: tuple[bytes, ...]
) -> dict[str, dict[str, dict[str, int]]]:
    """truth["conversation"], recomputed from the decoded lines with dicts and a union-find.

    Follows sql/0009_conversation.sql: each valid event once (first by event id,
    bad lines skipped), the latest roster version per employee, the latest link
    per account pair, persons as components of the links >= 0.5.
    """
    roster: dict[str, Employee] = {}
    employee_accounts: set[tuple[str, str]] = set()
    links: dict[frozenset[tuple[str, str]], float] = {}
    posts: dict[str, Post] = {}
    engagements: dict[str, Engagement] = {}
    seen: set[str] = set()
    for line in lines:
        try:
            event = raw_decoder.decode(line)
        except msgspec.DecodeError:
            continue
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        match event:
            case Employee():
                latest = roster.get(event.employee_id)
                if latest is None or event.occurred_at >= latest.occurred_at:
                    roster[event.employee_id] = event
                employee_accounts |= {(a.network, a.account_id) for a in event.accounts}
            case IdentityLink():
                pair = frozenset(
                    {(event.network_a, event.account_a), (event.network_b, event.account_b)}
                )
                links[pair] = event.confidence  # the lines come in time order
            case Post():
                posts.setdefault(event.post_id, event)
            case Engagement():
                engagements[event.event_id] = event

    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(account: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(account, account)
        while parent[account] != account:
            parent[account] = parent[parent[account]]
            account = parent[account]
        return account

    for pair, confidence in links.items():
        if confidence >= 0.5 and len(pair) == 2:
            a, b = sorted(pair)
            parent[find(a)] = find(b)
    colleagues = {find(account) for account in employee_accounts}

    def scopes_of(employee_id: str, network: str) -> list[str]:
        employee = roster[employee_id]
        return [
            "company",
            f"department:{employee.department}",
            f"region:{employee.region}",
            f"network:{network}",
        ]

    posts = {post_id: post for post_id, post in posts.items() if post.employee_id in roster}
    answers: defaultdict[tuple[str, str, str], list[datetime]] = defaultdict(list)
    for post in posts.values():
        if post.in_reply_to_author is not None:
            answers[(post.employee_id, post.network, post.in_reply_to_author)].append(
                post.occurred_at
            )

    end = config.start + timedelta(seconds=config.seconds)
    all_scopes = {"company"}
    for employee in roster.values():
        all_scopes |= {f"department:{employee.department}", f"region:{employee.region}"}
        all_scopes |= {f"network:{account.network}" for account in employee.accounts}
    reference: dict[str, dict[str, dict[str, int]]] = {}
    for window, days in (("7d", 7), ("30d", 30)):
        since = end - timedelta(days=days)
        counts = {scope: dict.fromkeys(CONVERSATION_FIELDS, 0) for scope in all_scopes}
        persons: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)
        responses: defaultdict[str, list[int]] = defaultdict(list)
        posted: set[tuple[str, str]] = set()
        for post in posts.values():
            if not since <= post.occurred_at < end:
                continue
            posted.add((post.employee_id, post.network))
            outside = (
                post.in_reply_to_author is not None
                and (post.network, post.in_reply_to_author) not in employee_accounts
                and find((post.network, post.in_reply_to_author)) not in colleagues
            )
            for scope in scopes_of(post.employee_id, post.network):
                counts[scope]["posts"] += 1
                counts[scope]["replies_outside"] += outside
        for engagement in engagements.values():
            engaged = posts.get(engagement.post_id)
            if engaged is None or not since <= engagement.occurred_at < end:
                continue
            person = find((engagement.network, engagement.actor_id))
            colleague = person in colleagues
            at = engagement.occurred_at
            replied = [
                (t - at).total_seconds()
                for t in answers[(engaged.employee_id, engagement.network, engagement.actor_id)]
                if at < t <= at + timedelta(hours=24)
            ]
            for scope in scopes_of(engaged.employee_id, engaged.network):
                counts[scope]["engagements"] += 1
                if engagement.kind in ("like", "share", "click"):
                    counts[scope][f"{engagement.kind}s"] += 1
                if colleague:
                    continue
                persons[scope].add(person)
                if engagement.kind == "comment":
                    counts[scope]["comments"] += 1
                    if replied:
                        counts[scope]["answered"] += 1
                        responses[scope].append(int(min(replied)))
        for employee in roster.values():
            if not employee.active:
                continue
            networks = {account.network for account in employee.accounts}
            posted_on = {n for e, n in posted if e == employee.employee_id}
            for scope in (
                "company",
                f"department:{employee.department}",
                f"region:{employee.region}",
            ):
                counts[scope]["ambassadors"] += bool(networks)
                counts[scope]["active_ambassadors"] += bool(networks and posted_on)
            for network in networks:
                counts[f"network:{network}"]["ambassadors"] += 1
                counts[f"network:{network}"]["active_ambassadors"] += network in posted_on
        for scope, fields in counts.items():
            fields["engaged_persons"] = len(persons[scope])
            ordered = sorted(responses[scope])
            fields["median_response_seconds"] = ordered[len(ordered) // 2] if ordered else 0
        reference[window] = {
            scope: fields
            for scope, fields in counts.items()
            if fields["posts"] or fields["engagements"] or fields["ambassadors"]
        }
    return reference


@pytest.mark.parametrize(
    "config",
    [
        SimulationConfig(employees=60, days=30, seed=1),
        SimulationConfig(employees=60, days=30, seed=2),
        SimulationConfig(
            employees=40, days=45, seed=3, invalid_rate=0.01, duplicate_rate=0.02, spikes=0
        ),
        SimulationConfig(employees=30, days=5, seed=4, move_rate=0.1, deactivation_rate=0.1),
        # Departments left with only former employees: some have nothing in the last 7 days.
        SimulationConfig(
            employees=20, days=40, seed=3, move_rate=0.2, deactivation_rate=0.5, spikes=0
        ),
    ],
    ids=["30d-seed1", "30d-seed2", "45d-dirty", "5d-churn", "40d-departures"],
)
def test_conversation_truth_matches_a_reference_recount(config: SimulationConfig) -> None:
    simulation, lines = small(config)
    truth = simulation.truth["conversation"]
    expected = conversation_reference(config, lines)
    assert set(truth) == set(expected) == {"7d", "30d"}
    for window, scopes in expected.items():
        assert set(truth[window]) == set(scopes), window
        assert set(simulation.truth["scopes"]) <= set(scopes)
        for scope, fields in scopes.items():
            assert truth[window][scope] == fields, (window, scope)
    company = truth["30d"]["company"]
    assert company["posts"] > company["replies_outside"] > 0
    assert company["engagements"] > company["comments"] >= company["answered"] > 0
    assert company["engagements"] > company["engaged_persons"] > 0
    assert 0 < company["median_response_seconds"] <= 86_400
    assert company["ambassadors"] >= company["active_ambassadors"] > 0


def test_replies_answer_comments_third_parties_and_colleagues() -> None:
    config = SimulationConfig(employees=60, days=30, seed=1)
    simulation, lines = small(config)
    prefix = f"sim{config.seed}"
    events = [json.loads(line) for line in lines]
    handles = {
        (account["network"], account["account_id"])
        for event in events
        if event["type"] == "employee"
        for account in event["accounts"]
    }
    engagements = {e["event_id"]: e for e in events if e["type"] == "engagement"}
    posts = {e["post_id"]: e for e in events if e["type"] == "post"}
    kinds: Counter[str] = Counter()
    delays = []
    for post in posts.values():
        assert post["kind"] in ("original", "reply")
        assert (
            ("in_reply_to" in post) == ("in_reply_to_author" in post) == (post["kind"] == "reply")
        )
        if post["kind"] == "original":
            continue
        assert post["text"] in REPLY_TEMPLATES[post["lang"]]
        replied = post["in_reply_to"]
        at = datetime.fromisoformat(post["occurred_at"])
        if replied.startswith(f"{prefix}-c"):  # an answer to a comment
            kinds["answer"] += 1
            comment = engagements[f"{prefix}-g{replied.removeprefix(f'{prefix}-c')}"]
            assert comment["kind"] == "comment"
            assert comment["actor_id"] == post["in_reply_to_author"]
            assert comment["network"] == post["network"]
            assert posts[comment["post_id"]]["employee_id"] == post["employee_id"]
            assert posts[comment["post_id"]]["account_id"] == post["account_id"]
            delays.append((at - datetime.fromisoformat(comment["occurred_at"])).total_seconds())
        elif replied in posts:  # a colleague's post
            kinds["colleague"] += 1
            answered = posts[replied]
            assert answered["employee_id"] != post["employee_id"]
            assert answered["network"] == post["network"]
            assert answered["account_id"] == post["in_reply_to_author"]
            assert datetime.fromisoformat(answered["occurred_at"]) <= at
        else:  # a third party's
            kinds["outside"] += 1
            assert (post["network"], post["in_reply_to_author"]) not in handles
    assert kinds["answer"] > kinds["outside"] > kinds["colleague"] > 0
    assert min(delays) > 0
    within_day = sum(delay <= 86_400 for delay in delays) / len(delays)
    assert 0.6 < within_day < 0.9
    # Clean replies leave the slip-ups as they were.
    slipped = simulation.truth["slipups"]["post_ids"]
    assert all(posts[post_id]["kind"] == "original" for post_id in slipped)


def test_answer_delays_straddle_the_24_hour_boundary() -> None:
    delays = _answer_delays(np.random.default_rng(0), 20_000, SimulationConfig())
    assert delays.min() >= 1
    assert 0.73 < np.mean(delays <= 86_400) < 0.77
    assert np.count_nonzero((delays > 23 * 3600) & (delays < 86_400)) > 100
    assert np.count_nonzero(delays == 86_400) > 100  # the last second that counts
    assert np.count_nonzero((delays > 86_400) & (delays <= 26 * 3600)) > 100
    assert 2.5 * 3600 < np.median(delays[delays <= 86_400]) < 3.5 * 3600
