"""The workspace app without services: logins, sessions, CSRF, roles, single sign-on, the queue.

The app runs on aiohttp's test server; the warehouse is current ClickHouse
in-process (chdb), migrated with sql/ and holding a few posts, flags and
employees, so the workspace's real queries run. The desk writes to a list and
to chdb's review_actions at once (the worker's sink, without its delay).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy
from yarl import URL

from pipeline import warehouse
from pipeline.policy import Policy, flag_post
from pipeline.review.desk import Desk
from pipeline.workspace.app import HEADERS, Workspace, _safe_next, create_app
from pipeline.workspace.auth import (
    COOKIE,
    MAX_FAILURES_PER_NAME,
    THROTTLE_SECONDS,
    LoginThrottle,
    Sessions,
    TrustedProxies,
)
from pipeline.workspace.figures import policy_figures
from pipeline.workspace.users import Role, Users
from schemas.events import Employee, Post
from schemas.review import ReviewAction
from tests.test_warehouse import ChdbEngine

PASSWORD = "correct horse battery"
AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
IDLE_SECONDS = 3600.0
EMPLOYEES = {"e-1": ("Sales", "eu"), "e-2": ("Engineering", "us")}
POSTS = [  # post id, employee, network, text: each flagged by one rule, but p-4
    ("p-1", "e-1", "x", "What an idiot move by the referee tonight"),
    ("p-2", "e-2", "linkedin", "Hush hush: great news is coming next week"),
    ("p-3", "e-1", "x", "That keynote was damn good"),
    ("p-4", "e-2", "linkedin", "Proud of the team at the charity run today"),
    ("p-5", "e-2", "x", "Rivalcorp is garbage, everyone knows it"),
]
RULES = {
    "p-1": "profanity_insult/idiot*",
    "p-2": "confidential_leak/hush hush",
    "p-3": "profanity_insult/damn",
    "p-5": "competitor_attack/disparaging_competitor",
}


# The warehouse ------------------------------------------------------------------


class Warehouse(ChdbEngine):
    """chdb answering as clickhouse-driver does: DateTimes as datetimes, numbers as numbers."""

    def __init__(self, database: str) -> None:
        super().__init__(database)
        self.lock = threading.Lock()  # the app reads from worker threads

    def run(self, sql: str) -> list[tuple[Any, ...]]:
        with self.lock:
            out = self.session.query(sql, "JSONCompact").bytes()
        if not out.strip():
            return []
        body = json.loads(out)
        kinds = [column["type"] for column in body["meta"]]
        return [tuple(map(_typed, kinds, row)) for row in body["data"]]


def _typed(kind: str, value: Any) -> Any:
    if kind.startswith("DateTime"):
        return datetime.fromisoformat(value)
    if re.match(r"U?Int\d+$", kind):
        return int(value)
    return value


def company(policy: Policy) -> list[Any]:
    records: list[Any] = [
        Employee(
            event_id=f"ev-{employee}",
            occurred_at=AT - timedelta(days=30),
            employee_id=employee,
            department=department,
            region=region,
            active=True,
        )
        for employee, (department, region) in EMPLOYEES.items()
    ]
    for number, (post_id, employee, network, text) in enumerate(POSTS):
        post = Post(
            event_id=f"ev-{post_id}",
            occurred_at=AT + timedelta(minutes=number),
            post_id=post_id,
            employee_id=employee,
            network=network,
            account_id=f"{employee}-{network}",
            text=text,
        )
        records.append(post)
        records += flag_post(policy, post, *EMPLOYEES[employee], post.occurred_at)
    return records


@pytest.fixture(scope="module")
def warehouse_rows() -> Iterator[Warehouse]:
    engine = Warehouse(f"test_workspace_{uuid.uuid4().hex[:12]}")
    try:
        warehouse.Migrator(engine.run, warehouse.load_migrations()).migrate()
        records = company(Policy.load())
        assert {r.post_id: r.rule for r in records if hasattr(r, "rule")} == RULES
        engine.insert(records)
        yield engine
    finally:
        engine.close()


# The app -------------------------------------------------------------------------


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Fixture:
    """A workspace and the fakes behind it."""

    workspace: Workspace
    users: Users
    clock: Clock
    written: list[list[ReviewAction]]  # each message the desk appended to the trail
    allowed: list[tuple[str, str]]  # (rule, phrase) an admin allowed


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The accounts file, hashed once (argon2 takes its time, by design)."""
    path = tmp_path_factory.mktemp("accounts") / "users.json"
    users = Users(path)
    roles: dict[str, Role] = {"ana": "reviewer", "ben": "reviewer", "vic": "viewer", "ada": "admin"}
    for name, role in roles.items():
        users.add(name, role, PASSWORD)
    users.add("sso-sam", "reviewer", None)
    return path


@pytest.fixture
def fixture(tmp_path: Path, accounts: Path, warehouse_rows: Warehouse) -> Fixture:
    warehouse_rows.run("TRUNCATE TABLE review_actions")
    users = Users(Path(shutil.copy(accounts, tmp_path / "users.json")))
    clock = Clock()
    written: list[list[ReviewAction]] = []

    async def append(actions: list[ReviewAction]) -> None:
        written.append(actions)
        await asyncio.to_thread(warehouse_rows.insert, actions)  # the sink, at once

    async def dashboard_page() -> tuple[int, str]:
        return 200, "<p id=board>the dashboard</p>"

    allowed: list[tuple[str, str]] = []

    def allow(rule: str, phrase: str) -> str:
        allowed.append((rule, phrase))
        return f"allowed {phrase!r} for {rule}"

    policy = Policy.load()
    return Fixture(
        Workspace(
            users=users,
            sessions=Sessions(idle_seconds=IDLE_SECONDS, clock=clock),
            throttle=LoginThrottle(clock=clock),
            proxies=TrustedProxies(""),
            identity_header="X-Forwarded-User",
            secure_cookies=True,
            desk=Desk(append),
            run=warehouse_rows.run,
            spot_check_share=1.0,
            policy=policy,
            dashboard_page=dashboard_page,
            policy_page=lambda run: policy_figures(run, None, policy),
            allow=allow,
        ),
        users,
        clock,
        written,
        allowed,
    )


@dataclass
class Page:
    status: int
    headers: CIMultiDictProxy[str]
    text: str

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    @property
    def said(self) -> str:
        found = re.search(r'id="said">([^<]*)<', self.text)
        return found.group(1) if found else ""


class Visitor:
    """One browser: its own cookies; remembers the last CSRF token a page gave it."""

    def __init__(self, server: TestServer, headers: dict[str, str] | None = None) -> None:
        self.server = server
        # As browsers do, http://127.0.0.1 counts as a secure origin for Secure cookies.
        jar = CookieJar(unsafe=True, treat_as_secure_origin=server.make_url("/"))
        self.http = ClientSession(cookie_jar=jar, headers=headers)
        self.csrf = ""

    async def __aenter__(self) -> Visitor:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.http.close()

    async def get(self, path: str) -> Page:
        async with self.http.get(self.server.make_url(path), allow_redirects=False) as response:
            page = Page(response.status, response.headers, await response.text())
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        if token:
            self.csrf = token.group(1)
        return page

    async def post(self, path: str, data: Any, *, csrf: bool = True, follow: bool = True) -> Page:
        """POST a form (with the CSRF token unless told not to); follow the redirect back."""
        if csrf and isinstance(data, dict):
            data = {"csrf": self.csrf, **data}
        async with self.http.post(
            self.server.make_url(path), data=data, allow_redirects=False
        ) as response:
            page = Page(response.status, response.headers, await response.text())
        if follow and page.status == 303:
            return await self.get(page.location)
        return page

    async def login(self, name: str, password: str = PASSWORD, next: str = "") -> Page:
        await self.get("/login")
        return await self.post(
            "/login", {"name": name, "password": password, "next": next}, follow=False
        )

    @property
    def session(self) -> str:
        cookies = self.http.cookie_jar.filter_cookies(self.server.make_url("/"))
        return cookies[COOKIE].value if COOKIE in cookies else ""


Scenario = Callable[[TestServer], Awaitable[None]]


def serve(fixture: Fixture, scenario: Scenario) -> None:
    async def main() -> None:
        server = TestServer(create_app(fixture.workspace))
        await server.start_server()
        try:
            await scenario(server)
        finally:
            await server.close()

    asyncio.run(main())


def flag_id(post_id: str) -> str:
    from pipeline.policy import slipup_id

    return slipup_id(post_id, RULES[post_id])


def login_next(page: Page) -> str:
    """Where a redirect to the login page sends on to after the login."""
    url = URL(page.location)
    assert url.path == "/login", page.location
    return url.query["next"]


def queue_flags(page: Page) -> list[str]:
    return re.findall(r'<tr class="flag" data-flag="([^"]+)"', page.text)


def version_of(page: Page) -> str:
    found = re.search(r'name="version" value="(\d+)"', page.text)
    assert found, "no action form on the page"
    return found.group(1)


# Logging in --------------------------------------------------------------------


def test_a_login_starts_a_new_session_and_a_wrong_password_is_refused(fixture: Fixture) -> None:
    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ana:
            form = await ana.get("/login")
            assert form.status == 200 and 'id="login"' in form.text
            anonymous = ana.session
            assert anonymous

            wrong = await ana.login("ana", "not the password")
            assert wrong.status == 401 and "Wrong name or password." in wrong.text
            unknown = await ana.login("nobody", PASSWORD)
            assert unknown.status == 401 and "Wrong name or password." in unknown.text
            sso_only = await ana.login("sso-sam", "")  # no password opens an SSO account
            assert sso_only.status == 401

            done = await ana.login("ana", next="/flags/x?kind=flag")
            assert (done.status, done.location) == (303, "/flags/x?kind=flag")
            assert ana.session and ana.session != anonymous  # no session fixation
            queue = await ana.get("/queue")
            assert queue.status == 200 and "ana (reviewer)" in queue.text
            again = await ana.get("/login?next=/policy")  # logged in already: sent on
            assert (again.status, again.location) == (303, "/policy")

    serve(fixture, scenario)


def test_five_failed_logins_make_that_name_wait(fixture: Fixture) -> None:
    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as mallory, Visitor(server) as ben:
            for _ in range(MAX_FAILURES_PER_NAME):
                assert (await mallory.login("ana", "guess guess guess")).status == 401
            blocked = await mallory.login("ana")  # even the right password
            assert blocked.status == 429 and "Too many failed logins" in blocked.text
            assert "try again in 15 minutes" in blocked.text
            assert (await ben.login("ben")).status == 303  # another name may log in

            fixture.clock.now += THROTTLE_SECONDS + 1
            assert (await mallory.login("ana")).status == 303

    serve(fixture, scenario)


def test_a_session_ends_after_its_idle_time(fixture: Fixture) -> None:
    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ana:
            await ana.login("ana")
            fixture.clock.now += IDLE_SECONDS - 1
            assert (await ana.get("/queue")).status == 200  # each request keeps it alive
            fixture.clock.now += IDLE_SECONDS - 1
            assert (await ana.get("/queue")).status == 200
            fixture.clock.now += IDLE_SECONDS + 1
            expired = await ana.get("/queue?status=")
            assert expired.status == 303 and login_next(expired) == "/queue?status="

    serve(fixture, scenario)


def test_logout_ends_the_session_for_good(fixture: Fixture) -> None:
    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ana:
            await ana.login("ana")
            await ana.get("/queue")
            token = ana.session
            out = await ana.post("/logout", {}, follow=False)
            assert (out.status, out.location) == (303, "/login")
            assert ana.session == ""  # the cookie is deleted
            ana.http.cookie_jar.update_cookies({COOKIE: token})  # and a copy of it is useless
            assert (await ana.get("/queue")).status == 303

    serve(fixture, scenario)


def test_a_removed_account_is_out_at_its_next_request(fixture: Fixture) -> None:
    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ben:
            await ben.login("ben")
            assert (await ben.get("/queue")).status == 200
            fixture.users.remove("ben")
            assert login_next(await ben.get("/queue")) == "/queue"

    serve(fixture, scenario)


def test_sessions_nobody_presents_again_are_dropped() -> None:
    clock = Clock()
    sessions = Sessions(idle_seconds=60, clock=clock)
    ana = sessions.start("ana")
    for _ in range(100):  # login forms shown to visitors who never log in
        sessions.start("")
    clock.now += 30
    assert sessions.get(ana.token) is ana
    clock.now += 31
    sessions.start("ben")
    assert sorted(s.user for s in sessions._by_token.values()) == ["ana", "ben"]
    clock.now += 61
    assert sessions.get(ana.token) is None


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/queue?status=open", "/queue?status=open"),
        ("/flags/s1", "/flags/s1"),
        ("", "/"),
        (None, "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("/\t/evil.example", "/"),  # browsers drop tabs and newlines: "//evil.example"
        ("/\n/evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("queue", "/"),
    ],
)
def test_a_login_only_sends_on_to_a_path_of_this_site(target: str | None, safe: str) -> None:
    assert _safe_next(target) == safe


def test_the_next_page_of_a_login_form_is_checked_too(fixture: Fixture) -> None:
    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ana:
            form = await ana.get("/login?next=//evil.example/")
            assert 'name="next" value="/"' in form.text
            done = await ana.login("ana", next="/%09/evil.example")  # a path here, encoded
            assert (done.status, done.location) == (303, "/%09/evil.example")
        async with Visitor(server) as ben:
            done = await ben.login("ben", next="/\t/evil.example")
            assert (done.status, done.location) == (303, "/")

    serve(fixture, scenario)


# Who may do what ----------------------------------------------------------------


def test_a_stranger_is_sent_to_the_login_page(fixture: Fixture) -> None:
    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as stranger:
            for path in ("/", "/queue", "/dashboard", "/policy", f"/flags/{flag_id('p-1')}"):
                page = await stranger.get(path)
                assert page.status == 303 and login_next(page) == path, path
            health = await stranger.get("/health")
            assert (health.status, health.text) == (200, "ok\n")
            # A POST without a session has no CSRF token to match: refused before anything.
            refused = await stranger.post(f"/flags/{flag_id('p-1')}", {"action": "claim"})
            assert refused.status == 403
            await stranger.get("/login")  # an anonymous session: its token opens no page
            refused = await stranger.post(f"/flags/{flag_id('p-1')}", {"action": "claim"})
            assert refused.status == 401
        assert fixture.written == []

    serve(fixture, scenario)


def test_a_post_without_the_csrf_token_is_refused(fixture: Fixture) -> None:
    target = f"/flags/{flag_id('p-1')}"

    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ana:
            await ana.login("ana")
            await ana.get(target)
            claim = {"action": "claim", "version": "0"}
            missing = await ana.post(target, claim, csrf=False)
            assert missing.status == 403 and "CSRF token is missing or wrong" in missing.text
            wrong = await ana.post(target, {**claim, "csrf": "x" * 43}, csrf=False)
            assert wrong.status == 403
            login = await ana.post("/login", {"name": "ana", "password": PASSWORD}, csrf=False)
            assert login.status == 403
            assert fixture.written == []
            done = await ana.post(target, claim)
            assert done.status == 200 and done.said == "claim: done on 1 flag."

    serve(fixture, scenario)


def test_a_viewer_sees_the_figures_and_cannot_act(fixture: Fixture) -> None:
    target = f"/flags/{flag_id('p-1')}"

    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as vic:
            home = await vic.login("vic")
            assert (await vic.get(home.location)).location == "/dashboard"
            board = await vic.get("/dashboard")
            assert board.status == 200 and "the dashboard" in board.text
            policy = await vic.get("/policy")
            assert policy.status == 200 and 'id="rules"' in policy.text
            forms = re.findall(r'<form method="post" action="([^"]+)"', policy.text)
            assert forms == ["/logout"]  # no action forms
            assert 'href="/queue"' not in policy.text
            for path in ("/queue", target, "/employees/e-1", "/queue?kind=spot_check"):
                forbidden = await vic.get(path)
                assert forbidden.status == 403 and "needs the reviewer role" in forbidden.text
            for path, form in (
                (target, {"action": "claim", "version": "0"}),
                ("/queue/bulk", {"action": "claim", "flag": f"{flag_id('p-1')}@0"}),
                ("/policy/allow", {"rule": "r", "phrase": "p", "confirm": "yes"}),
            ):
                assert vic.csrf  # a valid token of vic's own session
                forbidden = await vic.post(path, form)
                assert forbidden.status == 403, path
        assert fixture.written == [] and fixture.allowed == []

    serve(fixture, scenario)


def test_only_an_admin_writes_to_the_allow_list(fixture: Fixture) -> None:
    form = {"rule": "profanity_insult/damn", "phrase": "damn good", "confirm": "yes"}

    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ana, Visitor(server) as ada:
            await ana.login("ana")
            await ana.get("/policy")
            forbidden = await ana.post("/policy/allow", form)
            assert forbidden.status == 403 and "needs the admin role" in forbidden.text

            await ada.login("ada")
            assert (await ada.get("/queue")).status == 200  # admin ⊃ reviewer
            await ada.get("/policy")
            unconfirmed = await ada.post("/policy/allow", {**form, "confirm": ""})
            assert unconfirmed.said == "Not written: tick the box to confirm."
            done = await ada.post("/policy/allow", form)
            assert done.said == "allowed &#39;damn good&#39; for profanity_insult/damn"
        assert fixture.allowed == [("profanity_insult/damn", "damn good")]

    serve(fixture, scenario)


# Single sign-on -------------------------------------------------------------------


def test_a_trusted_proxy_names_the_user(fixture: Fixture) -> None:
    fixture.workspace.proxies = TrustedProxies("10.0.0.0/8, 127.0.0.1/32")
    target = f"/flags/{flag_id('p-3')}"

    async def scenario(server: TestServer) -> None:
        async with (
            Visitor(server, {"X-Forwarded-User": "sso-sam"}) as sam,
            Visitor(server, {"X-Forwarded-User": "nobody"}) as nobody,
        ):
            page = await sam.get(target)
            assert page.status == 200 and "sso-sam (reviewer)" in page.text
            assert sam.session  # a session of its own, for the CSRF token
            done = await sam.post(target, {"action": "claim", "version": version_of(page)})
            assert done.said == "claim: done on 1 flag."
            assert (await sam.post(target, {"action": "claim"}, csrf=False)).status == 403

            unknown = await nobody.get("/queue")  # the proxy knows them; the workspace does not
            assert unknown.status == 303 and unknown.location.startswith("/login")
        assert [a.reviewer for [a] in fixture.written] == ["sso-sam"]

    serve(fixture, scenario)


def test_the_identity_header_is_ignored_from_anyone_but_a_trusted_proxy(
    fixture: Fixture,
) -> None:
    fixture.workspace.proxies = TrustedProxies("10.0.0.0/8")  # the test client is 127.0.0.1

    async def scenario(server: TestServer) -> None:
        async with Visitor(server, {"X-Forwarded-User": "ana"}) as forger:
            page = await forger.get("/queue")
            assert page.status == 303 and page.location.startswith("/login")
            assert (await forger.login("ana")).status == 303  # a password still works
            assert "ana (reviewer)" in (await forger.get("/queue")).text

    serve(fixture, scenario)


def test_behind_a_trusted_proxy_a_password_login_still_holds(fixture: Fixture) -> None:
    """A proxy that lets a request through without its header leaves the session to decide."""
    fixture.workspace.proxies = TrustedProxies("127.0.0.1")

    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ana:
            assert (await ana.login("ana")).status == 303
            assert "ana (reviewer)" in (await ana.get("/queue")).text

    serve(fixture, scenario)


# What every response carries --------------------------------------------------------


def test_every_response_carries_the_security_headers(fixture: Fixture) -> None:
    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ana:
            form = await ana.get("/login")
            cookie = form.headers["Set-Cookie"]
            assert cookie.startswith(f"{COOKIE}=")
            for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
                assert attribute in cookie
            pages = [
                form,
                await ana.get("/queue"),  # a redirect
                await ana.post("/flags/x", {}, csrf=False),  # a refusal
                await ana.get("/health"),
            ]
            logged_in = await ana.login("ana")
            assert "Secure" in logged_in.headers["Set-Cookie"]
            pages.append(logged_in)
            for page in pages:
                for name, value in HEADERS.items():
                    assert page.headers.get(name) == value, (page.status, name)

    serve(fixture, scenario)


def test_plotly_is_cached_privately_and_unknown_paths_are_404(fixture: Fixture) -> None:
    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as vic:
            await vic.login("vic")
            script = await vic.get("/plotly.min.js")
            assert script.status == 200 and len(script.text) > 1_000_000
            assert script.headers["Cache-Control"] == "private, max-age=86400"
            assert script.headers["Content-Type"].startswith("text/javascript")
            missing = await vic.get("/elsewhere")
            assert missing.status == 404
            assert missing.headers["X-Frame-Options"] == "DENY"

    serve(fixture, scenario)


# The queue, a flag, bulk actions ----------------------------------------------------------


def test_the_queue_filters(fixture: Fixture) -> None:
    everything = [flag_id(post) for post in ("p-5", "p-3", "p-2", "p-1")]  # newest first

    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ana:
            await ana.login("ana")
            queue = await ana.get("/queue")
            assert queue_flags(queue) == everything
            assert "<mark>idiot</mark>" in queue.text  # the match, found again and marked

            def only(*posts: str) -> list[str]:
                return [flag for flag in everything if flag in {flag_id(p) for p in posts}]

            for query, expected in (
                ("category=profanity_insult", only("p-1", "p-3")),
                ("severity=high", only("p-2", "p-5")),
                ("department=Engineering", only("p-2", "p-5")),
                ("network=x", only("p-1", "p-3", "p-5")),
                ("network=x&department=Sales", only("p-1", "p-3")),
                ("category=nothing", []),
            ):
                assert queue_flags(await ana.get(f"/queue?{query}")) == expected, query
            spot = await ana.get("/queue?kind=spot_check")
            assert queue_flags(spot) == ["spot:p-4"] and "Spot checks" in spot.text

            flag = await ana.get(f"/flags/{flag_id('p-1')}")
            dismissed = await ana.post(
                f"/flags/{flag_id('p-1')}",
                {
                    "action": "dismiss",
                    "version": version_of(flag),
                    "reason": "false_positive",
                    "note": "About a referee.",
                },
            )
            assert dismissed.said == "dismiss: done on 1 flag."
            assert queue_flags(await ana.get("/queue")) == only("p-2", "p-3", "p-5")
            closed = await ana.get("/queue?status=dismissed")
            assert queue_flags(closed) == only("p-1")
            assert queue_flags(await ana.get("/queue?status=")) == everything

    serve(fixture, scenario)


def test_a_flag_page_shows_the_post_the_trail_and_who_came_first(fixture: Fixture) -> None:
    target = f"/flags/{flag_id('p-2')}"

    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ana, Visitor(server) as ben:
            await ana.login("ana")
            await ben.login("ben")
            page = await ana.get(target)
            assert page.status == 200 and "<mark>Hush hush</mark>" in page.text
            assert 'id="do-claim"' in page.text and "Nobody has acted on it yet." in page.text
            seen = version_of(await ben.get(target))

            coached = await ana.post(
                target, {"action": "coach", "version": version_of(page), "note": "Say less."}
            )
            assert coached.said == "coach: done on 1 flag."
            assert 'id="status">coached<' in coached.text and 'id="do-reopen"' in coached.text
            late = await ben.post(
                target,
                {
                    "action": "dismiss",
                    "version": seen,
                    "reason": "not_an_issue",
                    "note": "Harmless teaser.",
                },
            )
            assert late.said.startswith("dismiss: done on 0, refused on 1")
            assert "ana changed this flag first" in late.said
            trail = late.text.split('id="trail"', 1)[1]
            assert '<tr class="applied">' in trail and '<tr class="refused">' in trail
            assert "Say less." in trail and "Harmless teaser." in trail

            invalid = await ben.post(
                target, {"action": "reopen", "version": version_of(late), "note": ""}
            )
            assert invalid.said == "reopen: done on 1 flag."
            missing_note = await ben.post(
                target, {"action": "coach", "version": version_of(invalid), "note": " "}
            )
            assert missing_note.said == "Not done: coaching needs a note to the employee"
            assert (await ana.get("/flags/nothing")).status == 404
        assert [[a.outcome for a in message] for message in fixture.written] == [
            ["applied"],
            ["refused"],
            ["applied"],
        ]

    serve(fixture, scenario)


def test_a_tampered_version_is_refused_and_still_fits_the_trail(fixture: Fixture) -> None:
    """The version goes to a UInt32 column: a negative or huge one must not reach the sink."""
    target = f"/flags/{flag_id('p-5')}"

    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ana:
            await ana.login("ana")
            await ana.get(target)
            for version in ("-7", "99999999999", "one"):
                done = await ana.post(target, {"action": "claim", "version": version})
                assert "refused on 1" in done.said, version
        versions = [a.version for [a] in fixture.written]
        assert versions == [1, 1, 1]  # the version each tried to make, within the trail's

    serve(fixture, scenario)


def test_a_bulk_action_reports_the_flag_someone_else_took(fixture: Fixture) -> None:
    chosen = [flag_id(post) for post in ("p-1", "p-3", "p-5")]

    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ana, Visitor(server) as ben:
            await ana.login("ana")
            await ben.login("ben")
            queue = await ana.get("/queue")
            boxes = dict(re.findall(r'name="flag" value="(([^"@]+)@\d+)"', queue.text))
            assert set(chosen) <= set(boxes.values())
            on_the_page = {flag: box for box, flag in boxes.items()}
            await ben.get(f"/flags/{chosen[1]}")
            await ben.post(f"/flags/{chosen[1]}", {"action": "claim", "version": "0"})

            form = [("csrf", ana.csrf), ("action", "dismiss"), ("reason", "not_an_issue")]
            form += [("note", "Banter.")] + [("flag", on_the_page[flag]) for flag in chosen]
            form.append(("flag", "s-unknown@0"))  # gone from the warehouse: skipped
            done = await ana.post("/queue/bulk", form, csrf=False)
            assert done.said.startswith("dismiss: done on 2, refused on 1")
            assert "ben has claimed this flag" in done.said or "changed this flag" in done.said
            assert queue_flags(done) == [chosen[1], flag_id("p-2")]
            nothing = await ana.post("/queue/bulk", {"action": "dismiss"})
            assert nothing.said == "Nothing chosen."
        *_, bulk = fixture.written
        assert [(a.flag_id, a.outcome) for a in bulk] == [
            (chosen[0], "applied"),
            (chosen[1], "refused"),
            (chosen[2], "applied"),
        ]

    serve(fixture, scenario)


def test_an_employee_page_shows_their_flags_and_verdicts(fixture: Fixture) -> None:
    async def scenario(server: TestServer) -> None:
        async with Visitor(server) as ana:
            await ana.login("ana")
            target = f"/flags/{flag_id('p-3')}"
            await ana.get(target)
            await ana.post(target, {"action": "coach", "version": "0", "note": "Mind the words."})
            page = await ana.get("/employees/e-1")
            assert page.status == 200
            flags = page.text.split('id="flags"', 1)[1].split("</table>", 1)[0]
            assert "profanity_insult/damn" in flags and "coached" in flags
            notes = page.text.split('id="notes"', 1)[1].split("</table>", 1)[0]
            assert "Mind the words." in notes
            posts = page.text.split('id="posts"', 1)[1].split("</table>", 1)[0]
            assert "What an idiot move" in posts and "Hush hush" not in posts

    serve(fixture, scenario)


def test_too_many_sessions_drop_the_least_recently_used() -> None:
    sessions = Sessions(idle_seconds=IDLE_SECONDS, limit=3)
    first, second, third = (sessions.start(name) for name in ("a", "b", "c"))
    assert sessions.get(first.token) is first  # used again: the least recent is now `second`
    sessions.start("d")
    assert sessions.get(second.token) is None
    assert sessions.get(first.token) is first and sessions.get(third.token) is third


def test_the_throttle_forgets_names_whose_failures_are_old() -> None:
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for name in ("x1", "x2", "x3"):
        throttle.failed(name, "10.0.0.1")
    now[0] = THROTTLE_SECONDS + 1
    throttle.failed("y", "10.0.0.2")
    assert set(throttle._failures) == {"name:y", "addr:10.0.0.2"}
