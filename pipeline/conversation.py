"""What the conversation metrics say: the headline, the leaderboard, the earned media value.

`Conversation` holds one scope's figures over a window, as
`pipeline.warehouse.conversation` reads them from ClickHouse; this module
combines them with the latest audience snapshot, so the CLI, the dashboard
and the demo say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from schemas.metrics import EmployeeReach, ScopeMetrics

CONVERSATION_DAYS = 30  # the window the CLI's and the demo's headline speak of
# Response times are counted in these buckets (upper bounds in seconds, within 24 h).
RESPONSE_BUCKETS = (
    ("within 1 h", 3_600),
    ("1-4 h", 14_400),
    ("4-12 h", 43_200),
    ("12-24 h", 86_400),
)


@dataclass
class Conversation:
    """One scope's conversation over a window (every count is of distinct events)."""

    scope: str  # "company", "department:Sales", "network:x", "employee:e1"...
    posts: int = 0
    replies_outside: int = 0  # replies to someone who is not an employee account
    comments: int = 0  # by non-colleagues, on the scope's posts
    answered: int = 0  # by the post's employee, within 24 h
    median_response_seconds: int = 0  # of the answered ones
    response_buckets: tuple[int, ...] = (0, 0, 0, 0)  # RESPONSE_BUCKETS
    engagements: int = 0  # every engagement, summed as advocacy tools do
    engaged_persons: int = 0  # distinct persons, colleagues excluded
    likes: int = 0
    shares: int = 0
    clicks: int = 0
    ambassadors: int = 0  # active employees with an account (on the network, for one)
    active_ambassadors: int = 0  # of those, with a post in the window (on the network, for one)

    @property
    def conversation_share(self) -> float:
        return self.replies_outside / self.posts if self.posts else 0.0

    @property
    def response_rate(self) -> float:
        return self.answered / self.comments if self.comments else 0.0

    @property
    def amplification(self) -> float:
        """Shares per post."""
        return self.shares / self.posts if self.posts else 0.0

    @property
    def applause(self) -> float:
        """Likes per post."""
        return self.likes / self.posts if self.posts else 0.0


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def headline(company: Conversation, true_community: float, days: int) -> list[str]:
    """Two lines on whether the company talks *with* its audience over the last `days` days."""
    engaged_share = company.engaged_persons / true_community if true_community else 0.0
    return [
        f"Conversation ({days} days): {company.conversation_share:.0%} of {company.posts:,} posts "
        f"answer someone outside; {company.response_rate:.0%} of {company.comments:,} comments "
        f"answered within 24 h (median {_hours(company.median_response_seconds)}).",
        f"Engaged community: {company.engaged_persons:,} distinct persons "
        f"({engaged_share:.1%} of the true community) behind {company.engagements:,} engagements; "
        f"{company.active_ambassadors:,} of {company.ambassadors:,} ambassadors posted.",
    ]


@dataclass(frozen=True)
class Leader:
    employee_id: str
    department: str
    exclusive_followers: int  # persons no other active employee reaches
    followers: int
    conversation_share: float
    response_rate: float
    posts: int


def leaderboard(
    employees: Iterable[EmployeeReach], conversation: Mapping[str, Conversation], top: int = 20
) -> list[Leader]:
    """Ranked by the audience only they bring, then by how much they converse (not by followers)."""
    leaders = []
    for e in employees:
        c = conversation.get(f"employee:{e.employee_id}", Conversation(f"employee:{e.employee_id}"))
        leaders.append(
            Leader(
                e.employee_id,
                e.department,
                e.exclusive_followers,
                e.followers,
                c.conversation_share,
                c.response_rate,
                c.posts,
            )
        )
    leaders.sort(
        key=lambda x: (
            -x.exclusive_followers,
            -x.conversation_share,
            -x.response_rate,
            x.employee_id,
        )
    )
    return leaders[:top]


def prices(spec: str) -> dict[str, float]:
    """`"*=6,linkedin=30"` -> {"*": 6.0, "linkedin": 30.0}; raises ValueError naming the bad part."""
    parsed: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        network, _, price = part.partition("=")
        try:
            parsed[network.strip().lower()] = float(price)
        except ValueError:
            raise ValueError(f"price {part!r} is not network=number") from None
    return parsed


@dataclass(frozen=True)
class EarnedMediaValue:
    """An estimate: impressions priced per thousand, clicks per click, per network."""

    currency: str
    deduplicated: float  # reach counted in persons
    naive: float  # reach counted as the sum of follower counts


def earned_media_value(
    networks: Iterable[ScopeMetrics],
    clicks: Mapping[str, int],
    cpm: Mapping[str, float],
    cpc: Mapping[str, float],
    currency: str,
) -> EarnedMediaValue:
    """Each network's reach (persons, or the naive sum) and clicks, at its prices.

    One impression per person reached: the figure is an order of magnitude to
    compare the two countings, not an invoice.
    """
    deduplicated = naive = 0.0
    for scope in networks:
        network = scope.scope
        per_thousand = cpm.get(network, cpm.get("*", 0.0)) / 1000
        click_value = clicks.get(network, 0) * cpc.get(network, cpc.get("*", 0.0))
        deduplicated += scope.estimated_persons * per_thousand + click_value
        naive += scope.naive_reach * per_thousand + click_value
    return EarnedMediaValue(currency, deduplicated, naive)
