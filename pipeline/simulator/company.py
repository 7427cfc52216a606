"""A synthetic company whose true community size is known: `chorus simulate`.

The pitch says "2,500 employees x 100 followers = 250,000". The simulator
builds a company where that sum is wrong for the reasons it is wrong in real
life (colleagues share customers, a region shares locals, fans follow many
employees, one person follows from several networks, employees follow each
other) and writes the raw events a connector would deliver, plus the ground
truth that the audience engine, the slip-up monitor and the ingest checks are
tested against. docs/simulator.md describes the model and the truth keys.

Everything random is drawn in bulk with numpy from one seeded generator, so a
seed gives the same bytes on every run and 10,000 employees (about 4 M follow
edges) stay fast; the JSON lines are built lazily, chunk by chunk, in event
time order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipeline.simulator.config import (
    ACCOUNTS_PER_EMPLOYEE,
    ACCOUNTS_PER_PERSON,
    DAY,
    EMPLOYEE_NETWORK_WEIGHTS,
    ENGAGEMENT_KINDS,
    ENGAGEMENT_WEIGHTS,
    FRENCH_REGION,
    HOUR,
    LINK_EVIDENCE,
    NETWORKS,
    NOISE_EVIDENCE,
    PERSON_NETWORK_WEIGHTS,
    SimulationConfig,
)
from pipeline.simulator.texts import (
    CLEAN_TEMPLATES,
    FALSE_ALARM_TEMPLATES,
    HASHTAGS,
    INVALID_KINDS,
    LANGS,
    MISSED_SLIPUP_TEMPLATES,
    REPLY_TEMPLATES,
    SLIPUP_CATEGORIES,
    SLIPUP_TEMPLATES,
)
from schemas.events import MAX_TEXT_LENGTH

NEVER = np.iinfo(np.int32).max  # unfollowed_at of a follow that is never undone
_CHUNK = 50_000  # events encoded per numpy batch
_BITS = np.arange(6)
_POPCOUNT = np.array([bin(mask).count("1") for mask in range(64)])
# _RANK[mask, bit]: how many networks of `mask` come before `bit` (the account's offset).
_RANK = np.array(
    [[bin(mask & ((1 << bit) - 1)).count("1") for bit in range(6)] for mask in range(64)]
)
# _NTH_BIT[mask, j]: the j-th network of `mask`.
_NTH_BIT = np.array(
    [
        [([b for b in range(6) if mask >> b & 1] + [0] * 6)[j] for j in range(6)]
        for mask in range(64)
    ]
)
# Tie-break of events in the same second: a roster change before the follows
# it may explain, a follow before the stats snapshot that counts it, a post
# before its engagement.
EMPLOYEE, FOLLOW, UNFOLLOW, LINK, STATS, POST, ENGAGEMENT = range(7)
# What a post answers (_Posts.replies_to): nothing (an original), a comment on one
# of the employee's posts, a third party's post, a colleague's post.
ORIGINAL, ANSWER, OUTSIDE, COLLEAGUE = range(4)
COMMENT = ENGAGEMENT_KINDS.index("comment")
CONVERSATION_WINDOWS = {"7d": 7, "30d": 30}  # truth["conversation"], windows ending at the end


# --- the world, as arrays ------------------------------------------------------------------------
# Accounts are "nodes" 0..N-1: the employees' company accounts first (0..A-1),
# then the accounts of follower profiles. A node belongs to one true person:
# employee e is person e (company and personal accounts alike), the other
# profiles are persons employees+q. Times are seconds after config.start.


@dataclass
class _Roster:
    department: np.ndarray  # at the start
    region: np.ndarray
    mask: np.ndarray  # networks of the company accounts, a 6-bit mask
    first_account: np.ndarray  # node of the first company account
    change_employee: np.ndarray  # one roster event during the period each
    change_at: np.ndarray
    change_department: np.ndarray
    change_active: np.ndarray
    final_department: np.ndarray
    final_active: np.ndarray
    active_until: np.ndarray  # the end, or the deactivation

    def department_at(self, employee: np.ndarray, at: np.ndarray) -> np.ndarray:
        moved_at = np.full(len(self.department), NEVER, dtype=np.int64)
        moved_at[self.change_employee] = self.change_at
        return np.where(
            at >= moved_at[employee], self.final_department[employee], self.department[employee]
        )


@dataclass
class _Accounts:
    network: np.ndarray  # per node
    person: np.ndarray  # per node: the true person
    employee_accounts: int  # nodes below this are company accounts

    def raw_ids(self, nodes: np.ndarray) -> list[str]:
        """Third-party ids as the networks give them (ingest pseudonymises them)."""
        owners = self.person[nodes].tolist()
        return [
            _handle(owner) if node < self.employee_accounts else f"u{node:08d}"
            for node, owner in zip(nodes.tolist(), owners, strict=True)
        ]


@dataclass
class _Follows:
    target: np.ndarray  # company account followed
    follower: np.ndarray
    followed_at: np.ndarray
    unfollowed_at: np.ndarray  # NEVER if not undone
    order: np.ndarray  # edges sorted by target, for follower lists
    offsets: np.ndarray  # order[offsets[a]:offsets[a+1]] are the edges of account a


@dataclass
class _Links:
    a: np.ndarray
    b: np.ndarray
    confidence: np.ndarray
    evidence: list[str]
    at: np.ndarray


@dataclass
class _Posts:
    employee: np.ndarray
    account: np.ndarray
    at: np.ndarray
    lang: np.ndarray  # index into LANGS
    clean: np.ndarray  # uniform draw choosing the clean sentence
    hashtag: np.ndarray  # index into HASHTAGS, -1: none
    category: np.ndarray  # index into SLIPUP_CATEGORIES, -1: clean post
    slipup: np.ndarray  # uniform draw choosing the slip-up (or misjudged) sentence
    prefixed: np.ndarray  # a slip-up after a clean sentence
    campaign: np.ndarray  # index into campaign_ids, -1: none
    replies_to: np.ndarray  # ORIGINAL, ANSWER, OUTSIDE or COLLEAGUE
    reply_ref: np.ndarray  # ANSWER: the comment (engagement); COLLEAGUE: the post; else -1
    reply_author: np.ndarray  # the node of the account answered, -1: none


@dataclass
class _Misjudged:
    """Clean originals that the policy gets wrong, per post (FALSE_ALARM/MISSED_SLIPUP_TEMPLATES)."""

    false_alarm: np.ndarray  # a harmless text on which one rule fires
    missed: np.ndarray  # index into SLIPUP_CATEGORIES of a slip-up no rule flags, -1: none


@dataclass
class _Engagements:
    post: np.ndarray
    actor: np.ndarray
    kind: np.ndarray
    at: np.ndarray


@dataclass
class _Defects:
    invalid_before: np.ndarray  # invalid line i goes before valid line invalid_before[i]
    invalid_kind: np.ndarray  # index into INVALID_KINDS
    duplicated: np.ndarray  # sorted valid line numbers emitted twice in a row


def _handle(employee: int) -> str:
    return f"acme_{_employee_id(employee)}"


def _employee_id(employee: int) -> str:
    return f"emp{employee:05d}"


def _zipf(count: int, exponent: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1) ** exponent
    return weights / weights.sum()


def _network_masks(
    rng: np.random.Generator,
    count: int,
    weights: tuple[float, ...],
    size_probabilities: tuple[float, ...],
    home_among: np.ndarray | None = None,
) -> np.ndarray:
    """1-3 distinct networks per owner, by popularity (Gumbel top-k).

    `home_among` (a mask per owner) forces one network from it, so that a
    follower created for an employee shares a network with them.
    """
    sizes = rng.choice(len(size_probabilities), size=count, p=size_probabilities) + 1
    log_weights = np.log(np.asarray(weights))
    masks = np.empty(count, dtype=np.uint8)
    for lo in range(0, count, 500_000):
        hi = min(count, lo + 500_000)
        keys = log_weights + rng.gumbel(size=(hi - lo, 6))
        if home_among is not None:
            allowed = ((home_among[lo:hi, None] >> _BITS) & 1).astype(bool)
            home = np.argmax(np.where(allowed, keys, -np.inf), axis=1)
            keys[np.arange(hi - lo), home] = np.inf
        ranked = np.argsort(-keys, axis=1)
        chosen = sizes[lo:hi, None] > _BITS
        masks[lo:hi] = np.where(chosen, 1 << ranked, 0).sum(axis=1)
    return masks


def _first_nodes(masks: np.ndarray, base: int) -> np.ndarray:
    counts = _POPCOUNT[masks]
    return base + np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)


def _node_networks(masks: np.ndarray) -> np.ndarray:
    """The network of each account, in node order (owner by owner, network by network)."""
    _, network = np.nonzero((masks[:, None] >> _BITS) & 1)
    return network.astype(np.int8)


def _times(rng: np.random.Generator, count: int, backfill_share: float, seconds: int) -> np.ndarray:
    """Backfill (what the connector delivers first) in the first hour, the rest over the period."""
    backfill = rng.random(count) < backfill_share
    early = rng.integers(1, HOUR, size=count)
    late = rng.integers(HOUR, seconds - HOUR, size=count)
    return np.where(backfill, early, late).astype(np.int32)


def _pair_edges(
    rng: np.random.Generator,
    target_mask: np.ndarray,
    target_first: np.ndarray,
    follower_mask: np.ndarray,
    follower_first: np.ndarray,
    second_network: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Follow edges of (followed, follower) owner pairs, on networks they share.

    One shared network at random, and each other shared one with probability
    `second_network`: the same person following from two networks. Pairs
    that share no network give no edge.
    """
    common = target_mask & follower_mask
    shared = common != 0
    target_mask, target_first = target_mask[shared], target_first[shared]
    follower_mask, follower_first, common = (
        follower_mask[shared],
        follower_first[shared],
        common[shared],
    )
    count = common.size
    primary = _NTH_BIT[common, (rng.random(count) * _POPCOUNT[common]).astype(np.int64)]
    chosen = (1 << primary).astype(np.uint8)
    for network in range(6):
        also = ((common >> network) & 1).astype(bool) & (rng.random(count) < second_network)
        chosen |= also.astype(np.uint8) << network
    pair, bit = np.nonzero((chosen[:, None] >> _BITS) & 1)
    return (
        target_first[pair] + _RANK[target_mask[pair], bit],
        follower_first[pair] + _RANK[follower_mask[pair], bit],
    )


def _pick_from_pools(
    rng: np.random.Generator,
    want: np.ndarray,
    pool_lo: np.ndarray,
    pool_size: np.ndarray,
    employee_mask: np.ndarray,
    profile_mask: np.ndarray,
    cdf: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Up to want[e] distinct profiles of employee e's pool that share a network with e.

    Draws twice what is wanted (with replacement, uniform or by `cdf`
    popularity), keeps the profiles that share a network, the first
    occurrence of each, and the first want[e] of those.
    """
    employees = len(want)
    owner = np.repeat(np.arange(employees), 2 * want)
    draw = rng.random(owner.size)
    if cdf is None:
        offset = (draw * pool_size[owner]).astype(np.int64)
    else:
        offset = np.minimum(np.searchsorted(cdf, draw, side="right"), len(cdf) - 1)
    profile = pool_lo[owner] + offset
    shared = (employee_mask[owner] & profile_mask[profile]) != 0
    owner, profile = owner[shared], profile[shared]
    _, first = np.unique(owner * len(profile_mask) + profile, return_index=True)
    first.sort()
    owner, profile = owner[first], profile[first]
    rank = np.arange(owner.size) - np.searchsorted(owner, owner)
    keep = rank < want[owner]
    return owner[keep], profile[keep]


def _colleagues(
    rng: np.random.Generator, roster: _Roster, of: np.ndarray, mean: float
) -> tuple[np.ndarray, np.ndarray]:
    """(index into `of`, colleague) pairs: whom each of these employees follows.

    Mostly people of the same department, some anywhere in the company.
    """
    employees = len(roster.department)
    count = rng.poisson(mean, size=len(of))
    source = np.repeat(np.arange(len(of)), count)
    department = roster.department[of[source]]
    by_department = np.argsort(roster.department, kind="stable")
    department_lo = np.searchsorted(
        roster.department[by_department], np.arange(department.max(initial=0) + 1)
    )
    department_size = np.bincount(roster.department, minlength=len(department_lo))
    same = by_department[
        department_lo[department]
        + (rng.random(source.size) * department_size[department]).astype(np.int64)
    ]
    anywhere = rng.integers(0, employees, size=source.size)
    colleague = np.where(rng.random(source.size) < 0.7, same, anywhere)
    keep = colleague != of[source]
    source, colleague = source[keep], colleague[keep]
    _, first = np.unique(source * employees + colleague, return_index=True)
    return source[first], colleague[first]


# --- building the world ---------------------------------------------------------------------------


def _build_roster(rng: np.random.Generator, config: SimulationConfig) -> _Roster:
    n, seconds = config.employees, config.seconds
    department = rng.choice(config.departments, size=n, p=_zipf(config.departments))
    region = rng.choice(config.regions, size=n, p=_zipf(config.regions, 0.8))
    mask = _network_masks(rng, n, EMPLOYEE_NETWORK_WEIGHTS, ACCOUNTS_PER_EMPLOYEE)
    draw = rng.random(n)
    moves = draw < config.move_rate
    leaves = (draw >= config.move_rate) & (draw < config.move_rate + config.deactivation_rate)
    change_employee = np.flatnonzero(moves | leaves)
    change_at = rng.integers(HOUR, seconds - HOUR, size=change_employee.size)
    shift = 1 + rng.integers(0, max(config.departments - 1, 1), size=change_employee.size)
    change_department = np.where(
        moves[change_employee],
        (department[change_employee] + shift) % config.departments,
        department[change_employee],
    )
    change_active = ~leaves[change_employee]
    final_department = department.copy()
    final_department[change_employee] = change_department
    final_active = np.ones(n, dtype=bool)
    final_active[change_employee] = change_active
    active_until = np.full(n, seconds, dtype=np.int64)
    active_until[change_employee[~change_active]] = change_at[~change_active]
    return _Roster(
        department=department,
        region=region,
        mask=mask,
        first_account=_first_nodes(mask, 0),
        change_employee=change_employee,
        change_at=change_at,
        change_department=change_department,
        change_active=change_active,
        final_department=final_department,
        final_active=final_active,
        active_until=active_until,
    )


def _build_audience(
    rng: np.random.Generator, config: SimulationConfig, roster: _Roster
) -> tuple[_Accounts, _Follows, np.ndarray, np.ndarray, np.ndarray]:
    """Follower profiles and follow edges; returns (accounts, follows, profile masks, firsts, persons)."""
    n = config.employees
    body = config.followers_median * np.exp(config.followers_sigma * rng.standard_normal(n))
    tail = config.tail_min * (1.0 + rng.pareto(config.tail_alpha, size=n))
    wanted = np.where(rng.random(n) < config.tail_share, tail, body)
    followers = np.clip(np.rint(wanted), 3, config.followers_max).astype(np.int64)

    # Shared pools: department customers and peers, region locals, fans.
    department_size = np.bincount(roster.department, minlength=config.departments)
    region_size = np.bincount(roster.region, minlength=config.regions)
    department_pool = np.maximum(
        10, np.rint(department_size * config.department_pool_per_employee)
    ).astype(np.int64)
    region_pool = np.maximum(10, np.rint(region_size * config.region_pool_per_employee)).astype(
        np.int64
    )
    fan_pool = max(20, round(n * config.fans_per_employee))
    department_lo = np.concatenate(([0], np.cumsum(department_pool)[:-1]))
    region_lo = department_pool.sum() + np.concatenate(([0], np.cumsum(region_pool)[:-1]))
    fans_lo = int(department_pool.sum() + region_pool.sum())
    pooled = fans_lo + fan_pool
    pool_masks = _network_masks(rng, pooled, PERSON_NETWORK_WEIGHTS, ACCOUNTS_PER_PERSON)

    picks = []
    for share, lo, size, cdf in (
        (
            config.department_share,
            department_lo[roster.department],
            department_pool[roster.department],
            None,
        ),
        (config.region_share, region_lo[roster.region], region_pool[roster.region], None),
        (
            config.fan_share,
            np.full(n, fans_lo),
            np.full(n, fan_pool),
            np.cumsum(_zipf(fan_pool, 0.8)),
        ),
    ):
        want = np.minimum(np.rint(followers * share).astype(np.int64), size // 3)
        picks.append(_pick_from_pools(rng, want, lo, size, roster.mask, pool_masks, cdf))
    picked = sum(np.bincount(owner, minlength=n) for owner, _ in picks)
    own = np.maximum(followers - picked, 0)

    # Each employee's own followers, created to share a network with them.
    own_owner = np.repeat(np.arange(n), own)
    own_masks = _network_masks(
        rng, own_owner.size, PERSON_NETWORK_WEIGHTS, ACCOUNTS_PER_PERSON, roster.mask[own_owner]
    )
    # Personal profiles of some employees, who follow colleagues.
    personal_owner = np.flatnonzero(rng.random(n) < config.personal_account_share)
    personal_masks = _network_masks(
        rng, personal_owner.size, PERSON_NETWORK_WEIGHTS, ACCOUNTS_PER_PERSON
    )

    profile_masks = np.concatenate((pool_masks, own_masks, personal_masks))
    own_lo = pooled
    personal_lo = pooled + own_owner.size
    profile_person = n + np.arange(profile_masks.size)
    profile_person[personal_lo:] = personal_owner
    employee_accounts = int(_POPCOUNT[roster.mask].sum())
    profile_first = _first_nodes(profile_masks, employee_accounts)

    pair_employee = np.concatenate([owner for owner, _ in picks] + [own_owner])
    pair_profile = np.concatenate(
        [profile for _, profile in picks] + [own_lo + np.arange(own_owner.size)]
    )
    personal_source, personal_target = _colleagues(
        rng, roster, personal_owner, config.colleague_follows
    )
    pair_employee = np.concatenate((pair_employee, personal_target))
    pair_profile = np.concatenate((pair_profile, personal_lo + personal_source))
    profile_target, profile_follower = _pair_edges(
        rng,
        roster.mask[pair_employee],
        roster.first_account[pair_employee],
        profile_masks[pair_profile],
        profile_first[pair_profile],
        config.second_network_follow,
    )
    follower_employee, followed_employee = _colleagues(
        rng, roster, np.arange(n), config.colleague_follows
    )
    colleague_target, colleague_follower = _pair_edges(
        rng,
        roster.mask[followed_employee],
        roster.first_account[followed_employee],
        roster.mask[follower_employee],
        roster.first_account[follower_employee],
        0.0,
    )
    target = np.concatenate((profile_target, colleague_target)).astype(np.int32)
    follower = np.concatenate((profile_follower, colleague_follower)).astype(np.int32)

    network = np.concatenate((_node_networks(roster.mask), _node_networks(profile_masks)))
    person = np.concatenate(
        (
            np.repeat(np.arange(n), _POPCOUNT[roster.mask]),
            np.repeat(profile_person, _POPCOUNT[profile_masks]),
        )
    ).astype(np.int32)
    accounts = _Accounts(network=network, person=person, employee_accounts=employee_accounts)

    followed_at = _times(rng, target.size, config.backfill_share, config.seconds)
    undone = rng.random(target.size) < config.unfollow_rate
    latest = config.seconds - HOUR
    undo_at = (
        followed_at + 1 + (rng.random(target.size) * (latest - 1 - followed_at)).astype(np.int64)
    )
    unfollowed_at = np.where(undone & (undo_at < latest), undo_at, NEVER).astype(np.int32)
    order = np.argsort(target, kind="stable")
    offsets = np.concatenate(([0], np.cumsum(np.bincount(target, minlength=employee_accounts))))
    follows = _Follows(target, follower, followed_at, unfollowed_at, order, offsets)
    return accounts, follows, profile_masks, profile_first, personal_owner


def _build_links(
    rng: np.random.Generator,
    config: SimulationConfig,
    roster: _Roster,
    accounts: _Accounts,
    profile_masks: np.ndarray,
    profile_first: np.ndarray,
    personal_owner: np.ndarray,
) -> _Links:
    """Observed identity links: part of each person's account pairs, and a little noise."""
    size = _POPCOUNT[profile_masks]
    pairs_a = [profile_first[size >= 2], profile_first[size == 3], profile_first[size == 3] + 1]
    pairs_b = [
        profile_first[size >= 2] + 1,
        profile_first[size == 3] + 2,
        profile_first[size == 3] + 2,
    ]
    # An employee's personal accounts belong to the same person as the company ones.
    personal_first = profile_first[len(profile_masks) - len(personal_owner) :]
    personal_size = size[len(profile_masks) - len(personal_owner) :]
    for owner, first, count in zip(personal_owner, personal_first, personal_size, strict=True):
        company = roster.first_account[owner] + np.arange(_POPCOUNT[roster.mask[owner]])
        mine = first + np.arange(count)
        pairs_a.append(np.repeat(mine, company.size))
        pairs_b.append(np.tile(company, mine.size))
    a, b = np.concatenate(pairs_a), np.concatenate(pairs_b)
    observed = rng.random(a.size) < config.link_rate
    a, b = a[observed], b[observed]
    confidence = np.round(0.5 + 0.499 * rng.random(a.size), 3)
    evidence = [LINK_EVIDENCE[i] for i in rng.integers(0, len(LINK_EVIDENCE), size=a.size).tolist()]

    nodes = len(accounts.network)
    noise = round(config.noise_link_rate * a.size)
    noise_a = rng.integers(accounts.employee_accounts, nodes, size=noise)
    noise_b = rng.integers(0, nodes, size=noise)
    strangers = accounts.person[noise_a] != accounts.person[noise_b]
    noise_a, noise_b = noise_a[strangers], noise_b[strangers]
    noise_confidence = np.round(0.05 + 0.44 * rng.random(noise_a.size), 3)
    evidence += [
        NOISE_EVIDENCE[i] for i in rng.integers(0, len(NOISE_EVIDENCE), size=noise_a.size).tolist()
    ]
    every_a = np.concatenate((a, noise_a))
    return _Links(
        a=every_a,
        b=np.concatenate((b, noise_b)),
        confidence=np.concatenate((confidence, noise_confidence)),
        evidence=evidence,
        at=_times(rng, every_a.size, config.backfill_share, config.seconds),
    )


def _build_posts(
    rng: np.random.Generator, config: SimulationConfig, roster: _Roster
) -> tuple[_Posts, list[dict[str, Any]]]:
    """Posts at a few a week, slip-ups at a base rate plus injected spikes, campaign relays."""
    n, seconds = config.employees, config.seconds
    count = rng.poisson(config.posts_per_week * roster.active_until / (7 * DAY))
    employee = np.repeat(np.arange(n), count)
    at = 1 + (rng.random(employee.size) * (roster.active_until[employee] - 1)).astype(np.int64)
    category = np.where(
        rng.random(employee.size) < config.slipup_rate,
        rng.integers(0, len(SLIPUP_CATEGORIES), size=employee.size),
        -1,
    )

    # Spikes: a department posts a burst of slip-ups within a short window.
    stable = np.ones(n, dtype=bool)
    stable[roster.change_employee] = False
    window = config.spike_minutes * 60
    spikes: list[dict[str, Any]] = []
    burst_employee, burst_at = [], []
    for _ in range(config.spikes):
        members = np.bincount(roster.department[stable], minlength=config.departments)
        department = int(rng.choice(config.departments, p=members / members.sum()))
        earliest, latest = min(DAY, seconds // 4), max(seconds - DAY, seconds * 3 // 4) - window
        begin = int(rng.integers(earliest, max(latest, earliest + 1)))
        pool = np.flatnonzero(stable & (roster.department == department))
        burst_employee.append(rng.choice(pool, size=config.spike_slipups))
        burst_at.append(begin + rng.integers(0, window, size=config.spike_slipups))
        spikes.append({"department": department, "begin": begin, "end": begin + window})
    burst = np.concatenate(burst_employee or [np.empty(0, dtype=np.int64)]).astype(np.int64)
    employee = np.concatenate((employee, burst))
    at = np.concatenate((at, *burst_at)).astype(np.int64)
    category = np.concatenate((category, rng.integers(0, len(SLIPUP_CATEGORIES), size=burst.size)))

    total = employee.size
    french = np.array([name == FRENCH_REGION for name in config.region_names()])[
        roster.region[employee]
    ]
    lang = (rng.random(total) < np.where(french, 0.85, 0.1)).astype(np.int8)
    account = roster.first_account[employee] + (
        rng.random(total) * _POPCOUNT[roster.mask[employee]]
    ).astype(np.int64)
    launches = np.array(
        [
            round((c + 0.5) / max(config.campaigns, 1) * 0.8 * seconds)
            for c in range(config.campaigns)
        ],
        dtype=np.int64,
    )
    launched = np.searchsorted(launches, at, side="right")
    relays = (category < 0) & (launched > 0) & (rng.random(total) < config.campaign_share)
    campaign = np.where(relays, (rng.random(total) * launched).astype(np.int64), -1)
    hashtag = np.where(rng.random(total) < 0.3, rng.integers(0, len(HASHTAGS), size=total), -1)
    by_time = np.argsort(at, kind="stable")
    posts = _Posts(
        employee=employee[by_time],
        account=account[by_time],
        at=at[by_time],
        lang=lang[by_time],
        clean=rng.random(total)[by_time],
        hashtag=hashtag[by_time],
        category=category[by_time],
        slipup=rng.random(total)[by_time],
        prefixed=(rng.random(total) < 0.5)[by_time],
        campaign=campaign[by_time],
        replies_to=np.full(total, ORIGINAL, dtype=np.int8),
        reply_ref=np.full(total, -1, dtype=np.int64),
        reply_author=np.full(total, -1, dtype=np.int64),
    )
    return posts, spikes


def _build_misjudged(
    rng: np.random.Generator, config: SimulationConfig, posts: _Posts
) -> _Misjudged:
    """`false_alarm_rate` and `missed_rate` of the clean originals: the policy's mistakes.

    Only clean originals that relay no campaign change, and only their text,
    so a slip-up, a campaign relay and a reply stay what they were.
    """
    eligible = (posts.category < 0) & (posts.campaign < 0) & (posts.replies_to == ORIGINAL)
    draw = rng.random(posts.at.size)
    false_alarm = eligible & (draw < config.false_alarm_rate)
    missed = eligible & ~false_alarm & (draw < config.false_alarm_rate + config.missed_rate)
    category = rng.integers(0, len(SLIPUP_CATEGORIES), size=posts.at.size)
    return _Misjudged(false_alarm=false_alarm, missed=np.where(missed, category, -1))


def _build_engagements(
    rng: np.random.Generator, config: SimulationConfig, follows: _Follows, posts: _Posts
) -> _Engagements:
    """Likes, clicks, comments and shares by followers of the posting account."""
    degree = np.diff(follows.offsets)[posts.account]
    count = np.minimum(rng.poisson(config.engagement_rate * degree), config.engagement_max)
    post = np.repeat(np.arange(posts.at.size), count)
    edge = follows.order[
        follows.offsets[posts.account[post]]
        + (rng.random(post.size) * degree[post]).astype(np.int64)
    ]
    at = posts.at[post] + 1 + rng.exponential(3 * HOUR, size=post.size).astype(np.int64)
    kind = rng.choice(len(ENGAGEMENT_KINDS), size=post.size, p=ENGAGEMENT_WEIGHTS)
    inside = at < config.seconds
    return _Engagements(post[inside], follows.follower[edge[inside]], kind[inside], at[inside])


def _answer_delays(rng: np.random.Generator, count: int, config: SimulationConfig) -> np.ndarray:
    """Seconds from a comment to its answer: most within the day, the rest later.

    Within the day (`answer_within_day`): lognormal, median `answer_median_hours`,
    sigma 1; a draw past 24 h is taken again, half of the time exactly 24 h (the
    last second that still counts), otherwise in (23 h, 24 h]. Later: 24 h plus
    an exponential of mean 8 h, so some land just past the 24 h boundary.
    """
    soon = np.exp(np.log(config.answer_median_hours * HOUR) + rng.standard_normal(count))
    again = DAY - HOUR * rng.random(count) * (rng.random(count) < 0.5)
    soon = np.where(soon > DAY, again, soon)
    late = DAY + rng.exponential(8 * HOUR, size=count)
    delay = np.where(rng.random(count) < config.answer_within_day, soon, late)
    return np.maximum(np.ceil(delay), 1).astype(np.int64)


def _build_replies(
    rng: np.random.Generator,
    config: SimulationConfig,
    roster: _Roster,
    accounts: _Accounts,
    follows: _Follows,
    posts: _Posts,
    engagements: _Engagements,
) -> _Posts:
    """Conversations: some clean originals turn into replies, and employees answer comments.

    `posts` (in time order) comes from _build_posts. Of its clean posts that
    relay no campaign, `outside_reply_share` reply to a third party (a follower
    of the posting account, else any other account of its network) and
    `colleague_reply_share` to one of the last 30 posts of that network by
    someone else. Then `answer_share` of the comments get an answer from the
    post's employee, on the same account, after `_answer_delays`, appended as
    new posts (answers the employee would give after leaving, or after the
    period, are dropped). Answers get no engagement.
    """
    total = posts.at.size
    network = accounts.network[posts.account]
    replies_to = posts.replies_to.copy()
    reply_ref = posts.reply_ref.copy()
    reply_author = posts.reply_author.copy()
    eligible = (posts.category < 0) & (posts.campaign < 0)
    draw = rng.random(total)
    outside = np.flatnonzero(eligible & (draw < config.outside_reply_share))
    colleague = np.flatnonzero(
        eligible
        & (draw >= config.outside_reply_share)
        & (draw < config.outside_reply_share + config.colleague_reply_share)
    )

    # Third parties: a follower of the account, or a stranger on its network.
    degree = np.diff(follows.offsets)[posts.account[outside]]
    slot = follows.offsets[posts.account[outside]] + (rng.random(outside.size) * degree).astype(
        np.int64
    )
    follower = follows.follower[follows.order[np.minimum(slot, max(follows.order.size - 1, 0))]]
    third = (degree > 0) & (follower >= accounts.employee_accounts)
    others = np.argsort(accounts.network[accounts.employee_accounts :], kind="stable")
    others_network = accounts.network[accounts.employee_accounts :][others]
    others_lo = np.searchsorted(others_network, np.arange(len(NETWORKS)), side="left")
    others_size = (
        np.searchsorted(others_network, np.arange(len(NETWORKS)), side="right") - others_lo
    )
    k = network[outside]
    stranger = np.minimum(
        others_lo[k] + (rng.random(outside.size) * others_size[k]).astype(np.int64),
        max(others.size - 1, 0),
    )
    author = np.where(third, follower, accounts.employee_accounts + others[stranger])
    ok = third | (others_size[k] > 0)
    replies_to[outside[ok]] = OUTSIDE
    reply_author[outside[ok]] = author[ok]

    # Colleagues: one of the last 30 earlier posts on the same network, by someone else.
    pick = rng.random(colleague.size)
    target = np.full(colleague.size, -1, dtype=np.int64)
    for k in range(len(NETWORKS)):
        mine = np.flatnonzero(network[colleague] == k)
        on_network = np.flatnonzero(network == k)  # in time order, as posts are
        earlier = np.searchsorted(posts.at[on_network], posts.at[colleague[mine]], side="left")
        back = (pick[mine] * np.minimum(earlier, 30)).astype(np.int64)
        target[mine] = np.where(earlier > 0, on_network[np.maximum(earlier - 1 - back, 0)], -1)
    ok = target >= 0
    ok[ok] = posts.employee[target[ok]] != posts.employee[colleague[ok]]
    replies_to[colleague[ok]] = COLLEAGUE
    reply_ref[colleague[ok]] = target[ok]
    reply_author[colleague[ok]] = posts.account[target[ok]]

    # Answers to comments.
    comments = np.flatnonzero(engagements.kind == COMMENT)
    comments = comments[rng.random(comments.size) < config.answer_share]
    at = engagements.at[comments] + _answer_delays(rng, comments.size, config)
    parent = engagements.post[comments]
    kept = at < roster.active_until[posts.employee[parent]]
    comments, at, parent = comments[kept], at[kept], parent[kept]
    by_time = np.argsort(at, kind="stable")
    comments, at, parent = comments[by_time], at[by_time], parent[by_time]
    count = comments.size
    return _Posts(
        employee=np.concatenate((posts.employee, posts.employee[parent])),
        account=np.concatenate((posts.account, posts.account[parent])),
        at=np.concatenate((posts.at, at)),
        lang=np.concatenate((posts.lang, posts.lang[parent])),
        clean=np.concatenate((posts.clean, rng.random(count))),
        hashtag=np.concatenate((posts.hashtag, np.full(count, -1, dtype=posts.hashtag.dtype))),
        category=np.concatenate((posts.category, np.full(count, -1, dtype=posts.category.dtype))),
        slipup=np.concatenate((posts.slipup, np.zeros(count))),
        prefixed=np.concatenate((posts.prefixed, np.zeros(count, dtype=bool))),
        campaign=np.concatenate((posts.campaign, np.full(count, -1, dtype=posts.campaign.dtype))),
        replies_to=np.concatenate((replies_to, np.full(count, ANSWER, dtype=np.int8))),
        reply_ref=np.concatenate((reply_ref, comments.astype(np.int64))),
        reply_author=np.concatenate((reply_author, engagements.actor[comments].astype(np.int64))),
    )


# --- the simulation --------------------------------------------------------------------------------


class Simulation:
    """A generated company: its event lines (lazily, as bytes) and its ground truth."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        rng = np.random.default_rng(config.seed)
        self._prefix = f"sim{config.seed}"
        self._roster = _build_roster(rng, config)
        self._accounts, self._follows, masks, firsts, personal = _build_audience(
            rng, config, self._roster
        )
        self._links = _build_links(
            rng, config, self._roster, self._accounts, masks, firsts, personal
        )
        self._posts, spikes = _build_posts(rng, config, self._roster)
        self._engagements = _build_engagements(rng, config, self._follows, self._posts)
        # Its own stream, so that the conversations leave the rest of the world as it was.
        self._posts = _build_replies(
            np.random.default_rng([config.seed, 11]),
            config,
            self._roster,
            self._accounts,
            self._follows,
            self._posts,
            self._engagements,
        )
        # Its own stream too: the policy's mistakes change texts only, nothing else.
        self._misjudged = _build_misjudged(
            np.random.default_rng([config.seed, 12]), config, self._posts
        )
        sampled = self._sampled_index()
        target_network = self._accounts.network[self._follows.target]
        self._follow_events = np.flatnonzero(target_network != sampled)
        self._unfollow_events = self._follow_events[
            self._follows.unfollowed_at[self._follow_events] != NEVER
        ]
        self._stats_account, self._stats_at = self._stats_schedule()
        self._event_times = [
            self._roster.change_at,
            self._follows.followed_at[self._follow_events],
            self._follows.unfollowed_at[self._unfollow_events],
            self._links.at,
            self._stats_at,
            self._posts.at,
            self._engagements.at,
        ]
        valid = config.employees + sum(times.size for times in self._event_times)
        invalid = rng.binomial(valid, config.invalid_rate)
        self._defects = _Defects(
            invalid_before=np.sort(rng.integers(0, valid + 1, size=invalid)),
            invalid_kind=rng.integers(0, len(INVALID_KINDS), size=invalid),
            duplicated=np.flatnonzero(rng.random(valid) < config.duplicate_rate),
        )
        self.truth: dict[str, Any] = self._ground_truth(spikes)

    # -- what a reader needs beyond the lines (the tests' brute force) --

    def sampled_followers(self) -> dict[tuple[str, str], set[str]]:
        """The full follower lists of the sampled network at the end: never emitted."""
        sampled = self._sampled_index()
        f = self._follows
        edges = np.flatnonzero(
            (self._accounts.network[f.target] == sampled) & (f.unfollowed_at == NEVER)
        )
        lists: dict[tuple[str, str], set[str]] = {}
        for account in np.flatnonzero(
            self._accounts.network[: self._accounts.employee_accounts] == sampled
        ):
            lists[
                (
                    NETWORKS[self._accounts.network[account]],
                    _handle(int(self._accounts.person[account])),
                )
            ] = set()
        raw_targets = self._accounts.raw_ids(f.target[edges])
        for target, follower in zip(
            raw_targets, self._accounts.raw_ids(f.follower[edges]), strict=True
        ):
            lists[(str(self.config.sampled_network), target)].add(follower)
        return lists

    def true_persons(self) -> dict[tuple[str, str], str]:
        """(network, raw account id) -> the true person: `employee:<id>` or `person:<n>`."""
        employees = self.config.employees
        labels = [
            f"employee:{_employee_id(person)}" if person < employees else f"person:{person}"
            for person in self._accounts.person.tolist()
        ]
        nodes = np.arange(len(self._accounts.network))
        keys = zip(self._accounts.network.tolist(), self._accounts.raw_ids(nodes), strict=True)
        return {
            (NETWORKS[network], raw): label
            for (network, raw), label in zip(keys, labels, strict=True)
        }

    # -- the lines --

    def lines(self) -> Iterator[bytes]:
        """Every line of the output: roster first, then events in time order, defects mixed in."""
        defects = self._defects
        invalid = zip(defects.invalid_before.tolist(), defects.invalid_kind.tolist(), strict=True)
        next_invalid = next(invalid, None)
        duplicated = iter(defects.duplicated.tolist())
        next_duplicate = next(duplicated, -1)
        kinds = list(INVALID_KINDS)
        number = 0
        for number, line in enumerate(self._valid_lines()):
            while next_invalid is not None and next_invalid[0] == number:
                yield self._invalid_line(kinds[next_invalid[1]], number)
                next_invalid = next(invalid, None)
            yield line
            if number == next_duplicate:
                yield line
                next_duplicate = next(duplicated, -1)
        while next_invalid is not None:
            yield self._invalid_line(kinds[next_invalid[1]], number + 1)
            next_invalid = next(invalid, None)

    def _valid_lines(self) -> Iterator[bytes]:
        roster = self._roster
        everyone = np.arange(self.config.employees)
        yield from self._employee_lines(
            "r",
            everyone,
            [self._iso(0)] * everyone.size,
            everyone,
            roster.department,
            np.ones(everyone.size, dtype=bool),
        )
        times = np.concatenate(self._event_times).astype(np.int64)
        offsets = np.cumsum([0] + [t.size for t in self._event_times])
        kind_of = np.repeat(np.arange(len(self._event_times)), np.diff(offsets))
        order = np.argsort(times * 8 + kind_of, kind="stable")
        del kind_of
        start = np.datetime64(self.config.start.astimezone(UTC).replace(tzinfo=None), "s")
        encoders = (
            self._change_lines,
            self._follow_lines,
            self._unfollow_lines,
            self._link_lines,
            self._stats_lines,
            self._post_lines,
            self._engagement_lines,
        )
        for lo in range(0, order.size, _CHUNK):
            positions = order[lo : lo + _CHUNK]
            kinds = np.searchsorted(offsets, positions, side="right") - 1
            index = positions - offsets[kinds]
            stamps = np.datetime_as_string(
                start + times[positions].astype("timedelta64[s]"), unit="s", timezone="UTC"
            )
            out: list[bytes] = [b""] * positions.size
            for kind, encode in enumerate(encoders):
                where = np.flatnonzero(kinds == kind)
                if where.size:
                    lines = encode(index[where], stamps[where].tolist())
                    for slot, line in zip(where.tolist(), lines, strict=True):
                        out[slot] = line
            yield from out

    def _employee_lines(
        self,
        tag: str,
        index: np.ndarray,
        stamps: list[str],
        employees: np.ndarray,
        departments: np.ndarray,
        active: np.ndarray,
    ) -> list[bytes]:
        """Roster events: `r<i>` at the start, `c<i>` for the changes during the period."""
        roster, accounts = self._roster, self._accounts
        regions, department_names = self.config.region_names(), self.config.department_names()
        lines = []
        for i, stamp, employee, department, is_active in zip(
            index.tolist(),
            stamps,
            employees.tolist(),
            departments.tolist(),
            active.tolist(),
            strict=True,
        ):
            first = int(roster.first_account[employee])
            owned = accounts.network[first : first + _POPCOUNT[roster.mask[employee]]].tolist()
            lines.append(
                msgspec.json.encode(
                    {
                        "type": "employee",
                        "event_id": f"{self._prefix}-{tag}{i}",
                        "occurred_at": stamp,
                        "employee_id": _employee_id(employee),
                        "department": department_names[department],
                        "region": regions[int(roster.region[employee])],
                        "active": is_active,
                        "accounts": [
                            {"network": NETWORKS[network], "account_id": _handle(employee)}
                            for network in owned
                        ],
                    }
                )
            )
        return lines

    def _change_lines(self, index: np.ndarray, stamps: list[str]) -> list[bytes]:
        roster = self._roster
        return self._employee_lines(
            "c",
            index,
            stamps,
            roster.change_employee[index],
            roster.change_department[index],
            roster.change_active[index],
        )

    def _follow_lines(
        self, index: np.ndarray, stamps: list[str], action: str = "follow"
    ) -> list[bytes]:
        events = self._follow_events if action == "follow" else self._unfollow_events
        edges = events[index]
        f, tag = self._follows, "f" if action == "follow" else "u"
        networks = self._accounts.network[f.target[edges]].tolist()
        return [
            msgspec.json.encode(
                {
                    "type": "follow",
                    "event_id": f"{self._prefix}-{tag}{i}",
                    "occurred_at": stamp,
                    "network": NETWORKS[network],
                    "account_id": target,
                    "follower_id": follower,
                    "action": action,
                }
            )
            for i, stamp, network, target, follower in zip(
                index.tolist(),
                stamps,
                networks,
                self._accounts.raw_ids(f.target[edges]),
                self._accounts.raw_ids(f.follower[edges]),
                strict=True,
            )
        ]

    def _unfollow_lines(self, index: np.ndarray, stamps: list[str]) -> list[bytes]:
        return self._follow_lines(index, stamps, "unfollow")

    def _link_lines(self, index: np.ndarray, stamps: list[str]) -> list[bytes]:
        links, accounts = self._links, self._accounts
        a, b = links.a[index], links.b[index]
        return [
            msgspec.json.encode(
                {
                    "type": "identity_link",
                    "event_id": f"{self._prefix}-l{i}",
                    "occurred_at": stamp,
                    "network_a": NETWORKS[network_a],
                    "account_a": account_a,
                    "network_b": NETWORKS[network_b],
                    "account_b": account_b,
                    "evidence": links.evidence[i],
                    "confidence": confidence,
                }
            )
            for i, stamp, network_a, account_a, network_b, account_b, confidence in zip(
                index.tolist(),
                stamps,
                accounts.network[a].tolist(),
                accounts.raw_ids(a),
                accounts.network[b].tolist(),
                accounts.raw_ids(b),
                links.confidence[index].tolist(),
                strict=True,
            )
        ]

    def _stats_lines(self, index: np.ndarray, stamps: list[str]) -> list[bytes]:
        lines = []
        for i, stamp in zip(index.tolist(), stamps, strict=True):
            account, at = int(self._stats_account[i]), int(self._stats_at[i])
            current = self._followers_at(account, at)
            size = min(round(current.size * self.config.sample_rate), self.config.sample_max)
            sample = np.random.default_rng([self.config.seed, 7, i]).choice(
                current, size=size, replace=False
            )
            lines.append(
                msgspec.json.encode(
                    {
                        "type": "account_stats",
                        "event_id": f"{self._prefix}-s{i}",
                        "occurred_at": stamp,
                        "network": NETWORKS[self._accounts.network[account]],
                        "account_id": _handle(int(self._accounts.person[account])),
                        "followers_count": int(current.size),
                        "follower_sample": self._accounts.raw_ids(sample),
                    }
                )
            )
        return lines

    def _post_lines(self, index: np.ndarray, stamps: list[str]) -> list[bytes]:
        posts, campaign_ids = self._posts, self.config.campaign_ids()
        authors = self._accounts.raw_ids(np.maximum(posts.reply_author[index], 0))
        lines = []
        for i, stamp, author in zip(index.tolist(), stamps, authors, strict=True):
            employee, campaign = int(posts.employee[i]), int(posts.campaign[i])
            event: dict[str, Any] = {
                "type": "post",
                "event_id": f"{self._prefix}-p{i}",
                "occurred_at": stamp,
                "post_id": self._post_id(i),
                "employee_id": _employee_id(employee),
                "network": NETWORKS[self._accounts.network[posts.account[i]]],
                "account_id": _handle(employee),
                "text": self._post_text(i),
                "lang": LANGS[posts.lang[i]],
                "kind": "original",
            }
            replies_to = int(posts.replies_to[i])
            if replies_to != ORIGINAL:
                event["kind"] = "reply"
                event["in_reply_to"] = self._replied_post_id(i, replies_to)
                event["in_reply_to_author"] = author
            if campaign >= 0:
                event["url"] = f"https://acme.example/c/{campaign_ids[campaign]}"
                event["text"] += " " + event["url"]
                event["campaign_id"] = campaign_ids[campaign]
            lines.append(msgspec.json.encode(event))
        return lines

    def _post_text(self, i: int) -> str:
        posts = self._posts
        lang = LANGS[posts.lang[i]]
        if posts.replies_to[i] != ORIGINAL:
            return REPLY_TEMPLATES[lang][int(posts.clean[i] * len(REPLY_TEMPLATES[lang]))]
        clean = CLEAN_TEMPLATES[lang][int(posts.clean[i] * len(CLEAN_TEMPLATES[lang]))]
        category, missed = int(posts.category[i]), int(self._misjudged.missed[i])
        if category >= 0:
            templates = SLIPUP_TEMPLATES[SLIPUP_CATEGORIES[category]][lang]
        elif self._misjudged.false_alarm[i]:
            templates = [text for _, text in FALSE_ALARM_TEMPLATES[lang]]
        elif missed >= 0:
            templates = MISSED_SLIPUP_TEMPLATES[SLIPUP_CATEGORIES[missed]][lang]
        else:
            tag = int(posts.hashtag[i])
            return clean if tag < 0 else f"{clean} {HASHTAGS[tag]}"
        sentence = templates[int(posts.slipup[i] * len(templates))]
        return f"{clean} {sentence}" if posts.prefixed[i] else sentence

    def _false_alarm_rule(self, i: int) -> str:
        """The rule that fires on false alarm `i`."""
        templates = FALSE_ALARM_TEMPLATES[LANGS[self._posts.lang[i]]]
        return templates[int(self._posts.slipup[i] * len(templates))][0]

    def _post_id(self, i: int) -> str:
        return f"{self._prefix}-post{i}"

    def _replied_post_id(self, i: int, replies_to: int) -> str:
        """What reply `i` answers: a comment (`c<engagement>`), a third party's post, a colleague's."""
        ref = int(self._posts.reply_ref[i])
        if replies_to == ANSWER:
            return f"{self._prefix}-c{ref}"
        if replies_to == COLLEAGUE:
            return self._post_id(ref)
        return f"{self._prefix}-t{i}"

    def _engagement_lines(self, index: np.ndarray, stamps: list[str]) -> list[bytes]:
        engagements, posts = self._engagements, self._posts
        post = engagements.post[index]
        return [
            msgspec.json.encode(
                {
                    "type": "engagement",
                    "event_id": f"{self._prefix}-g{i}",
                    "occurred_at": stamp,
                    "post_id": self._post_id(p),
                    "network": NETWORKS[network],
                    "actor_id": actor,
                    "kind": ENGAGEMENT_KINDS[kind],
                }
            )
            for i, stamp, p, network, actor, kind in zip(
                index.tolist(),
                stamps,
                post.tolist(),
                self._accounts.network[posts.account[post]].tolist(),
                self._accounts.raw_ids(engagements.actor[index]),
                engagements.kind[index].tolist(),
                strict=True,
            )
        ]

    def _invalid_line(self, kind: str, number: int) -> bytes:
        """One bad line of `kind`; otherwise plausible, so only that defect rejects it."""
        stamp = self.config.start.astimezone(UTC).isoformat().replace("+00:00", "Z")
        follow: dict[str, Any] = {
            "type": "follow",
            "event_id": f"{self._prefix}-bad{number}",
            "occurred_at": stamp,
            "network": "x",
            "account_id": _handle(0),
            "follower_id": f"stray{number}",
            "action": "follow",
        }
        post: dict[str, Any] = {
            "type": "post",
            "event_id": f"{self._prefix}-bad{number}",
            "occurred_at": stamp,
            "post_id": f"{self._prefix}-badpost{number}",
            "employee_id": _employee_id(0),
            "network": "x",
            "account_id": _handle(0),
            "text": "MARKER",
        }
        encode = msgspec.json.encode
        match kind:
            case "not_json":
                return encode(follow)[:-12]
            case "invalid_utf8":
                return encode(post).replace(b"MARKER", b"caf\xe9 cr\xe8me")
            case "unknown_type":
                return encode({**follow, "type": "tweet"})
            case "missing_field":
                return encode({k: v for k, v in follow.items() if k != "follower_id"})
            case "wrong_type":
                return encode({**follow, "follower_id": number})
            case "negative_followers_count":
                return encode(
                    {
                        **follow,
                        "type": "account_stats",
                        "followers_count": -1,
                        "follower_sample": [],
                    }
                )
            case "confidence_out_of_range":
                return encode(
                    {
                        "type": "identity_link",
                        "event_id": follow["event_id"],
                        "occurred_at": stamp,
                        "network_a": "x",
                        "account_a": f"stray{number}",
                        "network_b": "linkedin",
                        "account_b": f"stray{number}",
                        "evidence": "matching_handle",
                        "confidence": 1.5,
                    }
                )
            case "future_timestamp":
                return encode({**follow, "occurred_at": "2099-01-01T00:00:00Z"})
            case "duplicate_key":
                return encode(follow)[:-1] + b',"action":"unfollow"}'
            case "oversized_text":
                return encode({**post, "text": "a" * (MAX_TEXT_LENGTH + 1)})
        raise ValueError(f"unknown invalid kind {kind!r}")

    # -- the ground truth --

    def _sampled_index(self) -> int:
        return (
            -1
            if self.config.sampled_network is None
            else NETWORKS.index(self.config.sampled_network)
        )

    def _stats_schedule(self) -> tuple[np.ndarray, np.ndarray]:
        """Snapshots of every sampled-network account: after the backfill, weekly, and at the end."""
        accounts = np.flatnonzero(
            self._accounts.network[: self._accounts.employee_accounts] == self._sampled_index()
        )
        seconds, every = self.config.seconds, self.config.stats_every_days * DAY
        moments = list(range(HOUR, seconds - HOUR, every)) if every > 0 else []
        moments.append(seconds - 60)
        return np.tile(accounts, len(moments)), np.repeat(
            np.array(moments, dtype=np.int64), accounts.size
        )

    def _followers_at(self, account: int, at: int) -> np.ndarray:
        f = self._follows
        edges = f.order[f.offsets[account] : f.offsets[account + 1]]
        current = (f.followed_at[edges] <= at) & (at < f.unfollowed_at[edges])
        return f.follower[edges[current]]

    def _ground_truth(self, spikes: list[dict[str, Any]]) -> dict[str, Any]:
        config, roster, accounts, f, links, posts = (
            self.config,
            self._roster,
            self._accounts,
            self._follows,
            self._links,
            self._posts,
        )
        nodes = len(accounts.network)
        employee_nodes = accounts.employee_accounts
        strong = links.confidence >= 0.5
        graph = coo_matrix(
            (np.ones(int(strong.sum()), dtype=np.int8), (links.a[strong], links.b[strong])),
            shape=(nodes, nodes),
        )
        _, component = connected_components(graph, directed=False)
        with_employee = np.zeros(component.max(initial=0) + 1, dtype=bool)
        with_employee[component[:employee_nodes]] = True

        current = f.unfollowed_at == NEVER
        owner = accounts.person[f.target]
        network = accounts.network[f.target]
        counted = current & roster.final_active[owner]
        audience = counted & (f.follower >= employee_nodes)
        complete = network != self._sampled_index()
        follower_component = component[f.follower]
        outsider = ~with_employee[follower_component]
        true_outsider = accounts.person[f.follower] >= config.employees

        def distinct(values: np.ndarray, size: int) -> int:
            seen = np.zeros(size, dtype=bool)
            seen[values] = True
            return int(np.count_nonzero(seen))

        persons = config.employees + nodes  # an upper bound of person ids

        def measure(edges: np.ndarray) -> dict[str, int]:
            listed = edges & audience & complete
            every = edges & audience
            return {
                "naive_reach": int(np.count_nonzero(edges & counted)),
                "distinct_accounts": distinct(f.follower[listed], nodes),
                "distinct_persons": distinct(follower_component[listed & outsider], nodes),
                "persons_all_followers": distinct(follower_component[every & outsider], nodes),
                "persons_true": distinct(
                    accounts.person[f.follower[every & true_outsider]], persons
                ),
            }

        active = roster.final_active
        employee_networks = (roster.mask[:, None] >> _BITS) & 1
        scopes: dict[str, dict[str, int]] = {}
        every_edge = np.ones(f.target.size, dtype=bool)
        scopes["company"] = {"employees": int(active.sum()), **measure(every_edge)}
        for d, name in enumerate(config.department_names()):
            in_scope = active & (roster.final_department == d)
            if in_scope.any():
                scopes[f"department:{name}"] = {
                    "employees": int(in_scope.sum()),
                    **measure(roster.final_department[owner] == d),
                }
        for r, name in enumerate(config.region_names()):
            in_scope = active & (roster.region == r)
            if in_scope.any():
                scopes[f"region:{name}"] = {
                    "employees": int(in_scope.sum()),
                    **measure(roster.region[owner] == r),
                }
        for k, name in enumerate(NETWORKS):
            in_scope = active & (employee_networks[:, k] == 1)
            if in_scope.any():
                scopes[f"network:{name}"] = {
                    "employees": int(in_scope.sum()),
                    **measure(network == k),
                }

        campaigns = {}
        for c, campaign_id in enumerate(config.campaign_ids()):
            relayed = posts.campaign == c
            relaying = np.zeros(config.employees, dtype=bool)
            relaying[posts.employee[relayed]] = True
            relaying &= active
            reach = measure(relaying[owner] & complete)
            campaigns[campaign_id] = {
                "relaying_employees": int(relaying.sum()),
                "posts": int(relayed.sum()),
                "naive_reach": reach["naive_reach"],
                "distinct_persons": reach["distinct_persons"],
            }

        slipped = np.flatnonzero((posts.category >= 0) | self._misjudged.false_alarm)
        false_alarms = {
            self._post_id(int(i)): self._false_alarm_rule(int(i))
            for i in np.flatnonzero(self._misjudged.false_alarm)
        }
        post_ids = {
            self._post_id(int(i)): SLIPUP_CATEGORIES[posts.category[i]]
            if posts.category[i] >= 0
            else false_alarms[self._post_id(int(i))].split("/", 1)[0]
            for i in slipped
        }
        by_category = {name: 0 for name in SLIPUP_CATEGORIES}
        for category in post_ids.values():
            by_category[category] += 1
        slip_department = roster.department_at(posts.employee[slipped], posts.at[slipped])
        spike_truth = [
            {
                "scope_kind": "department",
                "scope": config.department_names()[spike["department"]],
                "start": self._iso(spike["begin"]),
                "end": self._iso(spike["end"]),
                "slipups": int(
                    np.count_nonzero(
                        (slip_department == spike["department"])
                        & (posts.at[slipped] >= spike["begin"])
                        & (posts.at[slipped] < spike["end"])
                    )
                ),
            }
            for spike in spikes
        ]

        by_type = {
            "employee": config.employees + roster.change_employee.size,
            "post": int(posts.at.size),
            "follow": int(self._follow_events.size + self._unfollow_events.size),
            "identity_link": int(links.a.size),
            "engagement": int(self._engagements.at.size),
            "account_stats": int(self._stats_at.size),
        }
        kinds = list(INVALID_KINDS)
        invalid_by_kind = {kind: 0 for kind in kinds}
        for k in self._defects.invalid_kind.tolist():
            invalid_by_kind[kinds[k]] += 1
        settings = dataclasses.asdict(config)
        settings["start"] = self._iso(0)
        return {
            "config": settings,
            "events": {
                "valid": sum(by_type.values()),
                "by_type": by_type,
                "duplicates": int(self._defects.duplicated.size),
                "invalid": int(self._defects.invalid_kind.size),
                "invalid_by_kind": invalid_by_kind,
            },
            "scopes": scopes,
            "campaigns": campaigns,
            "slipups": {"post_ids": post_ids, "by_category": by_category},
            "review": self._review_truth(post_ids, false_alarms),
            "spikes": spike_truth,
            "employees": {"active": int(active.sum()), "total": config.employees},
            "conversation": self._conversation_truth(component, with_employee),
            "until": self._iso(config.seconds),  # where the conversation's windows end
        }

    def _review_truth(
        self, flagged: dict[str, str], false_alarms: dict[str, str]
    ) -> dict[str, Any]:
        """truth["review"]: which flagged posts are harmless, which slip-ups went unflagged.

        Precision and recall count posts: the share of flagged posts that are
        slip-ups, and the share of slip-ups that are flagged.
        """
        missed = {
            self._post_id(int(i)): SLIPUP_CATEGORIES[self._misjudged.missed[i]]
            for i in np.flatnonzero(self._misjudged.missed >= 0)
        }
        caught = len(flagged) - len(false_alarms)
        by_category = {
            name: {"flagged": 0, "false_alarms": 0, "missed": 0} for name in SLIPUP_CATEGORIES
        }
        for post_id, category in flagged.items():
            by_category[category]["flagged"] += 1
            by_category[category]["false_alarms"] += int(post_id in false_alarms)
        for category in missed.values():
            by_category[category]["missed"] += 1
        return {
            "false_alarms": false_alarms,
            "missed": missed,
            "precision": caught / len(flagged) if flagged else None,
            "recall": caught / (caught + len(missed)) if caught + len(missed) else None,
            "by_category": by_category,
        }

    def _conversation_truth(
        self, component: np.ndarray, with_employee: np.ndarray
    ) -> dict[str, dict[str, dict[str, int]]]:
        """truth["conversation"][window][scope]: what sql/0009_conversation.sql computes.

        Posts and engagements by time in [end - window, end), scoped by the final
        roster (every employee, active or not; a network: the post's);
        colleagues are the persons (components of the links >= 0.5) with an
        employee account. A scope is listed when it has a post or an engagement
        in the window, or an ambassador. docs/simulator.md gives each field.
        """
        config, roster, accounts, posts, g = (
            self.config,
            self._roster,
            self._accounts,
            self._posts,
            self._engagements,
        )
        post_network = accounts.network[posts.account].astype(np.int64)
        # Scope columns (department, region, network) of each post and engagement.
        post_scope = (
            roster.final_department[posts.employee],
            roster.region[posts.employee],
            post_network,
        )
        engagement_scope = tuple(column[g.post] for column in post_scope)
        # A reply answers someone outside when its author is no employee account, nor an
        # account of a colleague's person (an employee's linked personal account).
        outside = posts.reply_author >= accounts.employee_accounts
        outside[outside] = ~with_employee[component[posts.reply_author[outside]]]
        person = component[g.actor]
        audience = ~with_employee[person]
        comment = (g.kind == COMMENT) & audience
        response = self._response_seconds(comment)
        employee_networks = ((roster.mask[:, None] >> _BITS) & 1).astype(bool)
        ambassador = roster.final_active
        seen = np.zeros(component.max(initial=0) + 1, dtype=bool)

        def distinct(values: np.ndarray) -> int:
            seen[values] = True
            count = int(np.count_nonzero(seen))
            seen[values] = False
            return count

        scopes: list[tuple[str, int, int]] = [("company", -1, 0)]  # (name, column, value)
        for column, (kind, names, values) in enumerate(
            (
                ("department", config.department_names(), roster.final_department),
                ("region", config.region_names(), roster.region),
            )
        ):
            present = np.zeros(len(names), dtype=bool)
            present[values] = True
            scopes += [(f"{kind}:{names[v]}", column, v) for v in np.flatnonzero(present).tolist()]
        scopes += [
            (f"network:{NETWORKS[k]}", 2, k)
            for k in np.flatnonzero(employee_networks.any(axis=0)).tolist()
        ]

        truth: dict[str, dict[str, dict[str, int]]] = {}
        for window, days in CONVERSATION_WINDOWS.items():
            since = config.seconds - days * DAY
            post_in = posts.at >= since
            engagement_in = g.at >= since
            posted = np.zeros(employee_networks.shape, dtype=bool)
            posted[posts.employee[post_in], post_network[post_in]] = True
            by_scope: dict[str, dict[str, int]] = {}
            for name, column, value in scopes:
                p, e = post_in, engagement_in
                if column >= 0:
                    p = p & (post_scope[column] == value)
                    e = e & (engagement_scope[column] == value)
                if column == 2:
                    ambassadors = ambassador & employee_networks[:, value]
                    active_ambassadors = ambassadors & posted[:, value]
                else:
                    ambassadors = ambassador.copy()
                    if column == 0:
                        ambassadors &= roster.final_department == value
                    elif column == 1:
                        ambassadors &= roster.region == value
                    active_ambassadors = ambassadors & posted.any(axis=1)
                answered = np.sort(response[e & comment])
                answered = answered[answered >= 0]
                kinds = np.bincount(g.kind[e], minlength=len(ENGAGEMENT_KINDS))
                by_scope[name] = {
                    "posts": int(np.count_nonzero(p)),
                    "replies_outside": int(np.count_nonzero(p & outside)),
                    "comments": int(np.count_nonzero(e & comment)),
                    "answered": int(answered.size),
                    "median_response_seconds": (
                        int(answered[answered.size // 2]) if answered.size else 0
                    ),
                    "engagements": int(np.count_nonzero(e)),
                    "engaged_persons": distinct(person[e & audience]),
                    "likes": int(kinds[ENGAGEMENT_KINDS.index("like")]),
                    "shares": int(kinds[ENGAGEMENT_KINDS.index("share")]),
                    "clicks": int(kinds[ENGAGEMENT_KINDS.index("click")]),
                    "ambassadors": int(np.count_nonzero(ambassadors)),
                    "active_ambassadors": int(np.count_nonzero(active_ambassadors)),
                }
            # Listed like pipeline.warehouse.conversation lists them: with a post or an
            # engagement in the window, or an ambassador.
            truth[window] = {
                name: fields
                for name, fields in by_scope.items()
                if fields["posts"] or fields["engagements"] or fields["ambassadors"]
            }
        return truth

    def _response_seconds(self, asked: np.ndarray) -> np.ndarray:
        """Per engagement: seconds to the first answer within 24 h (-1: none, or not `asked`).

        An answer to a comment is any post of the post's employee whose
        in_reply_to_author is the commenter's account (so on the same network),
        strictly after the comment and at most 24 h after it.
        """
        posts, g = self._posts, self._engagements
        response = np.full(g.at.size, -1, dtype=np.int64)
        replies = np.flatnonzero(posts.reply_author >= 0)
        comments = np.flatnonzero(asked)
        if not replies.size or not comments.size:
            return response
        nodes = len(self._accounts.network)
        keys, rank = np.unique(
            posts.employee[replies].astype(np.int64) * nodes + posts.reply_author[replies],
            return_inverse=True,
        )
        span = self.config.seconds + 1  # every time is in [0, seconds)
        replied = np.sort(rank.astype(np.int64) * span + posts.at[replies])
        key = posts.employee[g.post[comments]].astype(np.int64) * nodes + g.actor[comments]
        slot = np.minimum(np.searchsorted(keys, key), keys.size - 1)
        commented = g.at[comments].astype(np.int64)
        first = np.searchsorted(replied, slot * span + commented, side="right")
        found = np.minimum(first, replied.size - 1)
        delay = replied[found] % span - commented
        ok = (keys[slot] == key) & (first < replied.size) & (replied[found] // span == slot)
        ok &= delay <= DAY
        response[comments[ok]] = delay[ok]
        return response

    def _iso(self, seconds: int) -> str:
        moment = datetime.fromtimestamp(self.config.start.timestamp() + seconds, tz=UTC)
        return moment.isoformat().replace("+00:00", "Z")


def simulate(config: SimulationConfig) -> Simulation:
    """Generate a company from `config`: the same config gives the same bytes."""
    return Simulation(config)


def summary(truth: dict[str, Any]) -> list[str]:
    """A few human lines: events by type, employees, naive reach vs true persons."""
    events, company = truth["events"], truth["scopes"]["company"]
    by_type = " · ".join(f"{kind} {count:,}" for kind, count in events["by_type"].items())
    lines = [
        f"events: {events['valid']:,} valid ({by_type}), "
        f"{events['duplicates']:,} duplicates, {events['invalid']:,} invalid",
        f"employees: {truth['employees']['active']:,} active of {truth['employees']['total']:,}",
        f"company: naive reach {company['naive_reach']:,} · distinct persons (full lists) "
        f"{company['distinct_persons']:,} · persons (all followers) {company['persons_all_followers']:,} "
        f"· true persons {company['persons_true']:,}",
    ]
    if company["persons_true"]:
        lines.append(
            f"the naive sum overstates the true community {company['naive_reach'] / company['persons_true']:.2f}x"
        )
    lines.append(
        f"slip-ups: {len(truth['slipups']['post_ids']):,} ({len(truth['spikes'])} injected spike(s))"
    )
    review = truth["review"]
    if review["precision"] is not None and review["recall"] is not None:
        lines.append(
            f"policy: precision {review['precision']:.1%} ({len(review['false_alarms']):,} false "
            f"alarms), recall {review['recall']:.1%} ({len(review['missed']):,} missed slip-ups)"
        )
    talk = truth.get("conversation", {}).get("30d", {}).get("company")
    if talk:
        lines.append(
            f"conversation (last 30 days): {talk['posts']:,} posts, "
            f"{talk['replies_outside']:,} replies outside, {talk['answered']:,} of "
            f"{talk['comments']:,} outside comments answered within 24 h "
            f"(median {talk['median_response_seconds'] / 60:.0f} min)"
        )
    return lines
