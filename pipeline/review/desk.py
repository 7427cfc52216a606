"""Every flag's current state, and the one place an action is decided and written.

The trail (chorus.review_actions) is the truth; the desk is its fold, rebuilt
from the whole topic when the workspace starts, so it is exact even when the
ClickHouse sink is behind. Actions are decided under one lock and acknowledged
only once written: two reviewers clicking at once are served one after the
other, and the second sees the version the first made (and is refused).
One workspace process decides; run it once (docs/review.md).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.review.lifecycle import Flag, act
from schemas.review import Action, ReviewAction

RECENT_ACTIONS = 10_000  # kept for the flag pages until ClickHouse surely has them


@dataclass(frozen=True)
class Request:
    """What a reviewer asked for on one flag, with the version their page showed."""

    flag: Flag
    seen_version: int


@dataclass
class Desk:
    append: Callable[[list[ReviewAction]], Awaitable[None]]
    flags: dict[str, Flag] = field(default_factory=dict)
    recent: deque[ReviewAction] = field(default_factory=lambda: deque(maxlen=RECENT_ACTIONS))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def restore(self, actions: Iterable[ReviewAction]) -> None:
        for action in actions:
            self._fold(action)

    def current(self, flag: Flag) -> Flag:
        """`flag` as the trail leaves it (a flag nobody acted on is as given: open)."""
        return self.flags.get(flag.flag_id, flag)

    def trail_tail(self, flag_id: str) -> list[ReviewAction]:
        return [action for action in self.recent if action.flag_id == flag_id]

    async def act(
        self,
        requests: list[Request],
        action: Action,
        *,
        reviewer: str,
        at: datetime,
        reason: str = "",
        note: str = "",
    ) -> list[ReviewAction]:
        """Decide and write the action on every requested flag (bulk: in one message).

        Raises `lifecycle.Invalid` before writing anything if the request lacks
        what the action needs.
        """
        async with self.lock:
            decided = [
                act(
                    self.current(request.flag),
                    action,
                    seen_version=request.seen_version,
                    reviewer=reviewer,
                    at=at,
                    reason=reason,
                    note=note,
                )
                for request in requests
            ]
            if decided:
                await self.append(decided)
            for done in decided:
                self._fold(done)
        return decided

    def _fold(self, action: ReviewAction) -> None:
        base = self.flags.get(action.flag_id) or Flag(
            flag_id=action.flag_id,
            flag_kind=action.flag_kind,
            post_id=action.post_id,
            employee_id=action.employee_id,
            rule=action.rule,
            category=action.category,
        )
        self.flags[action.flag_id] = base.after(action)
        self.recent.append(action)
