"""The workspace web app (aiohttp.web): log in, review flags, coach, read the policy's figures and the dashboard.

    /login, /logout                      anyone; the login form has its CSRF token too
    /health                              anyone: "ok" (for a load balancer)
    /dashboard, /plotly.min.js, /policy  viewers and up
    /queue, /flags/{id}, /employees/{id} reviewers and up; POSTs act on flags
    POST /policy/allow                   admins: an allow-list candidate into the policy file

Every page needs a session (or a trusted single sign-on proxy); every POST
needs the session's CSRF token. Actions go through the `Desk`, which writes
them to chorus.review_actions before the reviewer is told they are done.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from pipeline.review.desk import Desk, Request
from pipeline.review.lifecycle import Invalid
from pipeline.warehouse import review as reads
from pipeline.workspace.auth import (
    COOKIE,
    LoginThrottle,
    Session,
    Sessions,
    TrustedProxies,
    csrf_ok,
)
from pipeline.workspace.users import Role, User, Users
from schemas.review import DISMISS_REASONS, ESCALATE_TO

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
PUBLIC = {"/login", "/health"}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass
class Workspace:
    """What the handlers share. `run` reads ClickHouse (`client.execute`); the rest is injected."""

    users: Users
    sessions: Sessions
    throttle: LoginThrottle
    proxies: TrustedProxies
    identity_header: str
    secure_cookies: bool
    desk: Desk
    run: Callable[[str], list[tuple[Any, ...]]]
    spot_check_share: float
    policy: Any  # pipeline.policy.Policy: finds the matched text to highlight
    dashboard_page: Callable[[], Awaitable[tuple[int, str]]]
    policy_page: Callable[[Callable[[str], list[tuple[Any, ...]]]], dict[str, Any]]
    allow: Callable[[str, str], str]  # (rule, phrase) -> what was written where
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


KEY: web.AppKey[Workspace] = web.AppKey("workspace", Workspace)
USER: web.RequestKey[User | None] = web.RequestKey("user")
SESSION: web.RequestKey[Session | None] = web.RequestKey("session")
NEW_SESSION: web.RequestKey[Session] = web.RequestKey("new_session", Session)


def create_app(workspace: Workspace) -> web.Application:
    app = web.Application(middlewares=[_headers, _identify])
    app[KEY] = workspace
    app.add_routes(
        [
            web.get("/health", health),
            web.get("/login", login_form),
            web.post("/login", login),
            web.post("/logout", logout),
            web.get("/", home),
            web.get("/dashboard", dashboard),
            web.get("/plotly.min.js", plotly),
            web.get("/queue", queue),
            web.post("/queue/bulk", bulk),
            web.get("/flags/{flag_id}", flag),
            web.post("/flags/{flag_id}", act),
            web.get("/employees/{employee_id}", employee),
            web.get("/policy", policy),
            web.post("/policy/allow", allow),
        ]
    )
    return app


# Who is asking -------------------------------------------------------------------


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """On every response, redirects and refusals too (aiohttp raises those past middlewares)."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        _add_headers(exc)
        raise
    _add_headers(response)
    return response


def _add_headers(response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def _identify(request: web.Request, handler: Any) -> web.StreamResponse:
    """Put the user and session on the request; send strangers to the login page."""
    ws = request.app[KEY]
    session = ws.sessions.get(request.cookies.get(COOKIE))
    user: User | None = None
    # A trusted proxy that sends no name (a path it does not guard) leaves it to the session.
    named = request.headers.get(ws.identity_header, "") if ws.proxies.trusts(request.remote) else ""
    if named:
        user = ws.users.get(named)
        if user is not None and (session is None or session.user != user.name):
            session = ws.sessions.start(user.name)  # for its CSRF token
            request[NEW_SESSION] = session
    elif session is not None and session.user:
        user = ws.users.get(session.user)
    request[USER], request[SESSION] = user, session
    if request.method == "POST" and (session is None or not csrf_ok(session, await _csrf(request))):
        raise web.HTTPForbidden(
            text="Refused: the form's CSRF token is missing or wrong. Reload the page."
        )
    if user is None and request.path not in PUBLIC:
        if request.method != "GET":
            raise web.HTTPUnauthorized(text="Log in first.")
        raise web.HTTPSeeOther(f"/login?{urlencode({'next': request.path_qs})}")
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:  # a redirect carries the new session's cookie too
        if NEW_SESSION in request:
            _set_cookie(exc, request[NEW_SESSION], ws.secure_cookies)
        raise
    if NEW_SESSION in request:
        _set_cookie(response, request[NEW_SESSION], ws.secure_cookies)
    return response


async def _csrf(request: web.Request) -> str | None:
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.post()).get("csrf")
        return value if isinstance(value, str) else None
    return request.headers.get("X-CSRF-Token")


def _set_cookie(response: web.StreamResponse, session: Session, secure: bool) -> None:
    response.set_cookie(
        COOKIE, session.token, httponly=True, secure=secure, samesite="Strict", path="/"
    )


def _require(request: web.Request, role: Role) -> User:
    user = request[USER]
    if user is None or not user.may(role):
        raise web.HTTPForbidden(
            text=f"Forbidden: this needs the {role} role"
            + (f"; you are a {user.role}." if user else ".")
        )
    return user


# Pages -----------------------------------------------------------------------------


_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _page(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    session = request[SESSION]
    said = ""
    if session is not None:
        said, session.said = session.said, ""
    body = _environment.get_template(template).render(
        user=request[USER],
        csrf=session.csrf if session else "",
        said=said,
        path=request.path,
        **values,
    )
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def _tell(request: web.Request, said: str) -> None:
    """What an action did, for the next page: in the session, so no link can make it up."""
    session = request[SESSION]
    assert session is not None  # every POST has one: its CSRF token was checked
    session.said = said


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def login_form(request: web.Request) -> web.Response:
    ws = request.app[KEY]
    if request[USER] is not None:
        raise web.HTTPSeeOther(_safe_next(request.query.get("next")))
    session = request[SESSION] or ws.sessions.start("")  # anonymous: carries the form's token
    request[SESSION] = session
    response = _page(
        request, "login.html.j2", next=_safe_next(request.query.get("next")), problem=""
    )
    _set_cookie(response, session, ws.secure_cookies)
    return response


async def login(request: web.Request) -> web.Response:
    ws = request.app[KEY]
    form = await request.post()
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    address = request.remote or "?"
    wait = ws.throttle.wait_seconds(name, address)
    if wait > 0:
        return _page(
            request,
            "login.html.j2",
            status=429,
            next=_safe_next(str(form.get("next", ""))),
            problem=f"Too many failed logins: try again in {math.ceil(wait / 60)} minutes.",
        )
    user = await asyncio.to_thread(ws.users.verify, name, password)
    if user is None:
        ws.throttle.failed(name, address)
        log.warning("workspace: failed login for %r from %s", name, address)
        return _page(
            request,
            "login.html.j2",
            status=401,
            next=_safe_next(str(form.get("next", ""))),
            problem="Wrong name or password.",
        )
    if (anonymous := request[SESSION]) is not None:  # a new token at login: no session fixation
        ws.sessions.end(anonymous.token)
    session = ws.sessions.start(user.name)
    log.info("workspace: %s logged in from %s", user.name, address)
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", ""))))
    _set_cookie(response, session, ws.secure_cookies)
    raise response


def _safe_next(target: str | None) -> str:
    """Only a path of this site: a login must not send anyone elsewhere.

    Control characters are refused too: URL parsers (yarl's, browsers') drop tabs
    and newlines, so "/<tab>/evil.example" would leave as "//evil.example".
    """
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(char) < 0x20 or char == "\x7f" for char in target)
    ):
        return "/"
    return target


async def logout(request: web.Request) -> web.Response:
    if (session := request[SESSION]) is not None:
        request.app[KEY].sessions.end(session.token)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


async def home(request: web.Request) -> web.Response:
    user = _require(request, "viewer")
    raise web.HTTPSeeOther("/queue" if user.may("reviewer") else "/dashboard")


async def dashboard(request: web.Request) -> web.Response:
    _require(request, "viewer")
    status, body = await request.app[KEY].dashboard_page()
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


async def plotly(request: web.Request) -> web.Response:
    from plotly.offline import get_plotlyjs

    _require(request, "viewer")
    return web.Response(
        text=get_plotlyjs(),
        content_type="text/javascript",
        headers={"Cache-Control": "private, max-age=86400"},
    )


def _filters(query: Any) -> reads.Filters:
    return reads.Filters(
        kind="spot_check" if query.get("kind") == "spot_check" else "flag",
        status=query.get("status", "open"),
        category=query.get("category", ""),
        severity=query.get("severity", ""),
        department=query.get("department", ""),
        network=query.get("network", ""),
    )


async def queue(request: web.Request) -> web.Response:
    _require(request, "reviewer")
    ws = request.app[KEY]
    filters = _filters(request.query)
    items = await asyncio.to_thread(reads.queue, ws.run, filters, ws.spot_check_share)
    current = [(item, ws.desk.current(item.flag)) for item in items]
    if filters.status:  # the warehouse's view of statuses is a moment behind the desk's
        wanted = {"open", "claimed"} if filters.status == "open" else {filters.status}
        current = [(item, flag) for item, flag in current if flag.status in wanted]
    return _page(
        request,
        "queue.html.j2",
        filters=filters,
        items=[(item, flag, _highlight(ws, item)) for item, flag in current],
        statuses=("open", "claimed", "coached", "dismissed", "escalated", "fine", "missed", ""),
        dismiss_reasons=DISMISS_REASONS,
    )


def _highlight(ws: Workspace, item: reads.QueueItem) -> Markup:
    """The post with the rule's match marked (found again by the policy), escaped."""
    if item.flag.flag_kind == "flag":
        for match in ws.policy.check(item.text):
            if match.rule == item.flag.rule:
                before, hit, after = (
                    item.text[: match.start],
                    item.text[match.start : match.end],
                    item.text[match.end :],
                )
                return Markup(f"{escape(before)}<mark>{escape(hit)}</mark>{escape(after)}")
    return Markup(escape(item.text))


async def flag(request: web.Request) -> web.Response:
    _require(request, "reviewer")
    ws = request.app[KEY]
    flag_id = request.match_info["flag_id"]
    item = await asyncio.to_thread(reads.item, ws.run, flag_id, ws.spot_check_share)
    if item is None:
        raise web.HTTPNotFound(text=f"No flag {flag_id}.")
    trail = await asyncio.to_thread(reads.trail, ws.run, flag_id)
    known = {action.action_id for action in trail}
    trail += [action for action in ws.desk.trail_tail(flag_id) if action.action_id not in known]
    trail.sort(key=lambda action: (action.occurred_at, action.version, action.outcome))
    return _page(
        request,
        "flag.html.j2",
        item=item,
        flag=ws.desk.current(item.flag),
        post=_highlight(ws, item),
        trail=trail,
        dismiss_reasons=DISMISS_REASONS,
        escalate_to=ESCALATE_TO,
        categories=sorted(ws.policy.categories),
    )


async def act(request: web.Request) -> web.Response:
    user = _require(request, "reviewer")
    ws = request.app[KEY]
    flag_id = request.match_info["flag_id"]
    form = await request.post()
    item = await asyncio.to_thread(reads.item, ws.run, flag_id, ws.spot_check_share)
    if item is None:
        raise web.HTTPNotFound(text=f"No flag {flag_id}.")
    _tell(request, await _act(ws, user, [(item, _int(form.get("version")))], form))
    raise web.HTTPSeeOther(f"/flags/{quote(flag_id)}")


async def bulk(request: web.Request) -> web.Response:
    user = _require(request, "reviewer")
    ws = request.app[KEY]
    form = await request.post()
    chosen: list[tuple[reads.QueueItem, int]] = []
    for value in form.getall("flag", []):
        flag_id, _, version = str(value).rpartition("@")
        item = await asyncio.to_thread(reads.item, ws.run, flag_id, ws.spot_check_share)
        if item is not None:
            chosen.append((item, _int(version)))
    _tell(request, await _act(ws, user, chosen, form) if chosen else "Nothing chosen.")
    raise web.HTTPSeeOther("/queue")


async def _act(
    ws: Workspace, user: User, chosen: list[tuple[reads.QueueItem, int]], form: Any
) -> str:
    action = str(form.get("action", ""))
    try:
        done = await ws.desk.act(
            [Request(item.flag, version) for item, version in chosen],
            action,  # type: ignore[arg-type]  # checked by lifecycle.act (Invalid)
            reviewer=user.name,
            at=ws.clock(),
            reason=str(form.get("reason", "")),
            note=str(form.get("note", "")),
        )
    except (Invalid, KeyError) as exc:
        return f"Not done: {exc}"
    refused = [a for a in done if a.outcome == "refused"]
    if not refused:
        return f"{action}: done on {len(done)} flag{'s' * (len(done) != 1)}."
    return (
        f"{action}: done on {len(done) - len(refused)}, refused on {len(refused)} "
        f"(your note is kept in the trail): {refused[0].refused_because}"
    )


def _int(value: Any) -> int:
    """A version from a form: -1 unless a plausible one (it ends in a UInt32 column)."""
    text = str(value)
    return int(text) if text.isdecimal() and len(text) < 10 else -1


async def employee(request: web.Request) -> web.Response:
    _require(request, "reviewer")
    ws = request.app[KEY]
    employee_id = request.match_info["employee_id"]
    history = await asyncio.to_thread(
        reads.employee_history, ws.run, employee_id, ws.spot_check_share
    )
    return _page(
        request,
        "employee.html.j2",
        employee_id=employee_id,
        history=history,
        flags=[(item, ws.desk.current(item.flag)) for item in history.flags],
    )


async def policy(request: web.Request) -> web.Response:
    _require(request, "viewer")
    ws = request.app[KEY]
    figures = await asyncio.to_thread(ws.policy_page, ws.run)
    return _page(request, "policy.html.j2", **figures)


async def allow(request: web.Request) -> web.Response:
    _require(request, "admin")
    ws = request.app[KEY]
    form = await request.post()
    rule, phrase = str(form.get("rule", "")), str(form.get("phrase", ""))
    if form.get("confirm") != "yes":
        said = "Not written: tick the box to confirm."
    else:
        try:
            said = await asyncio.to_thread(ws.allow, rule, phrase)
        except ValueError as exc:
            said = f"Not written: {exc}"
    _tell(request, said)
    raise web.HTTPSeeOther("/policy")
