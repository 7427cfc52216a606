"""The knobs of a synthetic company (`chorus simulate --help` reads them without numpy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

NETWORKS = ("x", "linkedin", "mastodon", "bluesky", "facebook", "instagram")
# How likely an employee (a person) is to be on each network, in NETWORKS order.
EMPLOYEE_NETWORK_WEIGHTS = (0.2, 0.35, 0.1, 0.1, 0.1, 0.15)
PERSON_NETWORK_WEIGHTS = (0.2, 0.22, 0.06, 0.1, 0.2, 0.22)
ACCOUNTS_PER_EMPLOYEE = (0.4, 0.4, 0.2)  # probability of 1, 2, 3 accounts
ACCOUNTS_PER_PERSON = (0.5, 0.33, 0.17)
START = datetime(2026, 10, 1, tzinfo=UTC)
DEPARTMENT_NAMES = (
    "sales",
    "engineering",
    "customer-success",
    "marketing",
    "operations",
    "finance",
    "legal",
    "people",
)
REGION_NAMES = ("france", "north-america", "uk", "germany", "apac")
FRENCH_REGION = "france"  # where most posts are in French
CAMPAIGN_NAMES = ("product-launch", "green-week", "hiring-drive", "customer-day", "year-review")
LINK_EVIDENCE = ("same_verified_email", "cross_linked_bio", "same_phone_hash", "matching_handle")
NOISE_EVIDENCE = ("similar_display_name", "same_city", "similar_avatar")
ENGAGEMENT_KINDS = ("like", "click", "comment", "share")
ENGAGEMENT_WEIGHTS = (0.6, 0.2, 0.1, 0.1)
DAY = 86_400
HOUR = 3_600


@dataclass(frozen=True)
class SimulationConfig:
    """Every knob of the synthetic company; the defaults tell the pitch's story."""

    seed: int = 1
    employees: int = 2500
    days: int = 30
    start: datetime = START
    departments: int = 8
    regions: int = 5
    # Followers per employee (persons): lognormal body, Pareto tail.
    followers_median: float = 100.0
    followers_sigma: float = 1.0
    tail_share: float = 0.04
    tail_min: int = 1500
    tail_alpha: float = 1.2
    followers_max: int = 60_000
    # Where an employee's followers come from; the rest are the employee's own.
    department_share: float = 0.3
    region_share: float = 0.2
    fan_share: float = 0.1
    department_pool_per_employee: float = 6.0
    region_pool_per_employee: float = 5.0
    fans_per_employee: float = 0.1
    second_network_follow: float = 0.35  # a follower also follows from another shared network
    colleague_follows: float = 4.0  # colleagues an employee (or their personal profile) follows
    personal_account_share: float = 0.1  # employees whose personal accounts follow colleagues
    # The network that gives counts and samples instead of follower lists.
    sampled_network: str | None = "instagram"
    sample_rate: float = 0.1
    sample_max: int = 200
    stats_every_days: int = 7
    backfill_share: float = 0.85  # follows and links delivered in the first hour
    unfollow_rate: float = 0.03
    link_rate: float = 0.6  # share of a person's account pairs with an observed link
    noise_link_rate: float = 0.02  # low-confidence links between strangers, per observed link
    move_rate: float = 0.02
    deactivation_rate: float = 0.02
    posts_per_week: float = 3.0
    slipup_rate: float = 0.01
    # What the policy gets wrong, among clean original posts (no campaign, no reply):
    # harmless texts a rule flags, and slip-ups no rule flags (truth["review"]).
    false_alarm_rate: float = 0.001
    missed_rate: float = 0.001
    spikes: int = 1
    spike_minutes: int = 30
    spike_slipups: int = 12
    campaigns: int = 5
    campaign_share: float = 0.12  # share of clean posts that relay a launched campaign
    engagement_rate: float = 0.02  # engagements per follower of the posting account
    engagement_max: int = 500
    # Conversations: an employee answers comments, and some posts reply to others.
    answer_share: float = 0.6  # share of comments the post's author answers
    answer_within_day: float = 0.75  # share of those answers within 24 h; the rest later
    answer_median_hours: float = 3.0  # median delay of the answers within 24 h
    outside_reply_share: float = 0.15  # of clean originals: a reply to a third party
    colleague_reply_share: float = 0.05  # of clean originals: a reply to a colleague's post
    invalid_rate: float = 0.0
    duplicate_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.employees < 2:
            raise ValueError("employees must be at least 2")
        if self.days < 1:
            raise ValueError("days must be at least 1")
        if self.start.tzinfo is None:
            raise ValueError("start must carry a time zone")
        if self.departments < 1 or self.regions < 1:
            raise ValueError("departments and regions must be at least 1")
        if self.sampled_network is not None and self.sampled_network not in NETWORKS:
            raise ValueError(f"sampled_network must be one of {', '.join(NETWORKS)} or None")
        for name in (
            "sample_rate",
            "unfollow_rate",
            "link_rate",
            "slipup_rate",
            "false_alarm_rate",
            "missed_rate",
            "invalid_rate",
            "answer_share",
            "answer_within_day",
            "outside_reply_share",
            "colleague_reply_share",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.false_alarm_rate + self.missed_rate > 1.0:
            raise ValueError("false_alarm_rate + missed_rate must not exceed 1")
        if self.outside_reply_share + self.colleague_reply_share > 1.0:
            raise ValueError("outside_reply_share + colleague_reply_share must not exceed 1")
        if self.answer_median_hours <= 0:
            raise ValueError("answer_median_hours must be positive")
        if self.duplicate_rate < 0 or self.spikes < 0 or self.campaigns < 0:
            raise ValueError("duplicate_rate, spikes and campaigns must not be negative")

    @property
    def seconds(self) -> int:
        return self.days * DAY

    def department_names(self) -> list[str]:
        return _names(DEPARTMENT_NAMES, "department", self.departments)

    def region_names(self) -> list[str]:
        return _names(REGION_NAMES, "region", self.regions)

    def campaign_ids(self) -> list[str]:
        return [
            f"{i + 1:02d}-{CAMPAIGN_NAMES[i % len(CAMPAIGN_NAMES)]}" for i in range(self.campaigns)
        ]


def _names(known: tuple[str, ...], prefix: str, count: int) -> list[str]:
    return [known[i] if i < len(known) else f"{prefix}-{i + 1}" for i in range(count)]
