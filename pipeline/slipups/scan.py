"""The policy scan of a run of posts, each post on its own: one that fails never takes the others.

`flag_post` is pure, but a policy is data and a post is anyone's text: a rule
that meets an input it was not written for must cost that post, not its
micro-batch. The agent runs this in a thread, so a long scan never holds the
worker's event loop (and its Kafka heartbeats).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.policy import Policy, flag_post
from schemas.events import Post
from schemas.slipups import SlipUp


@dataclass
class Scan:
    slipups: list[SlipUp] = field(default_factory=list)
    failed: list[Post] = field(default_factory=list)
    why: str = ""  # the first failure's exception type: its text may quote the post


def scan(
    policy: Policy,
    posts: Sequence[Post],
    author: Callable[[str], tuple[str, str]],
    flagged_at: datetime,
) -> Scan:
    """`author(employee_id)` gives the post's department and region."""
    result = Scan()
    for post in posts:
        try:
            department, region = author(post.employee_id)
            result.slipups += flag_post(policy, post, department, region, flagged_at)
        except Exception as exc:  # isolate the post: see the module docstring
            result.failed.append(post)
            result.why = result.why or type(exc).__name__
    return result
