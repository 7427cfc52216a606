"""`chorus workspace`: put the app together from the settings and serve it until interrupted.

At start the whole review trail is read back from chorus.review_actions into
the desk (a few seconds for a million actions), so statuses and versions are
exact from the first request even when the ClickHouse sink is behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from agents.kafka.admin import declare_topics
from agents.kafka.review import KafkaReviewLog
from pipeline import warehouse
from pipeline.dashboard.data import WarehouseUnavailable, read_dashboard
from pipeline.dashboard.render import render_page, render_problem
from pipeline.policy import Policy
from pipeline.review.desk import Desk
from pipeline.settings import Settings
from pipeline.workspace.app import Workspace, create_app
from pipeline.workspace.auth import LoginThrottle, Sessions, TrustedProxies
from pipeline.workspace.figures import allow_phrase, policy_figures
from pipeline.workspace.users import Users

log = logging.getLogger(__name__)


class Warehouse:
    """One ClickHouse connection, used by one request at a time (the driver is not thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.client = warehouse.client(settings)
        self.lock = threading.Lock()

    def run(self, sql: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.client.execute(sql)  # type: ignore[no-any-return]


async def build(
    settings: Settings, refresh_seconds: int = 30
) -> tuple[web.Application, KafkaReviewLog]:
    """The app, its desk restored from the trail; stop the returned log when done."""
    await asyncio.to_thread(declare_topics, settings)  # chorus.review_actions may be new
    review_log = KafkaReviewLog(settings)
    await review_log.start()
    desk = Desk(review_log.append)
    restored = await review_log.restore(desk.restore)
    log.info("workspace: %d review actions read back", restored)
    policy_path = Path(settings.policy_file) if settings.policy_file else None
    policy = Policy.load(policy_path)
    ware = Warehouse(settings)

    async def dashboard_page() -> tuple[int, str]:
        try:
            board = await asyncio.to_thread(read_dashboard, settings)
        except WarehouseUnavailable as exc:
            return 503, render_problem(str(exc), refresh_seconds=refresh_seconds)
        return 200, render_page(board, inline_plotly=False, refresh_seconds=refresh_seconds)

    workspace = Workspace(
        users=Users(settings.users_path),
        sessions=Sessions(idle_seconds=settings.session_hours * 3600),
        throttle=LoginThrottle(),
        proxies=TrustedProxies(settings.trusted_proxies),
        identity_header=settings.identity_header,
        secure_cookies=settings.secure_cookies,
        desk=desk,
        run=ware.run,
        spot_check_share=settings.spot_check_share,
        policy=policy,
        dashboard_page=dashboard_page,
        policy_page=lambda run: policy_figures(run, policy_path, policy),
        allow=lambda rule, phrase: allow_phrase(policy_path, rule, phrase),
    )
    return create_app(workspace), review_log


def serve(
    settings: Settings,
    host: str,
    port: int,
    say: Callable[[str], None],
    refresh_seconds: int = 30,
) -> None:
    async def main() -> None:
        app, review_log = await build(settings, refresh_seconds)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
            say(
                f"workspace on http://{host}:{port}/ (Ctrl-C to stop); users: {settings.users_path}"
            )
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
            await review_log.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
