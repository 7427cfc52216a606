"""The workspace in a real browser: reviewers log in, claim, dismiss and coach; the policy page follows.

Headless Chromium, driven by Selenium through Debian's chromedriver, uses the
workspace as `chorus workspace` serves it (`serve.build`: the desk restored
from chorus.review_actions, ClickHouse read), with the default Secure,
HttpOnly, SameSite=Strict cookie: Chromium counts http://127.0.0.1 as a
secure origin and keeps it. A worker running only the sinks carries the
actions into ClickHouse, where the policy page's precision comes from. The
flags are real: hand-written posts through the default policy.

Screenshots for the docs are left in artifacts/workspace-*.png.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from pipeline import warehouse
from pipeline.policy import Policy, flag_post
from pipeline.settings import Settings
from pipeline.workspace.auth import COOKIE
from pipeline.workspace.serve import build
from pipeline.workspace.users import Role, Users
from schemas.events import Employee, Post
from schemas.slipups import SlipUp
from tests.support import ARTIFACTS, Worker, free_port, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "a long enough password"
RULE = "profanity_insult/idiot*"
NOW = datetime.now(UTC).replace(microsecond=0)
EMPLOYEES = {"e-1": ("Sales", "eu"), "e-2": ("Engineering", "us"), "e-3": ("Marketing", "eu")}
POSTS = [  # post id, employee, network, text
    ("p-1", "e-1", "x", "What an idiot move by the referee tonight"),
    ("p-2", "e-2", "linkedin", "Only an idiot would miss our webinar on Thursday"),
    ("p-3", "e-3", "linkedin", "Hush hush: great news is coming next week"),
    ("p-4", "e-1", "x", "That keynote was damn good"),
    ("p-5", "e-2", "x", "Rivalcorp is garbage, everyone knows it"),
    ("p-6", "e-3", "linkedin", "Proud of the team at the charity run today"),
]


def company() -> tuple[list[Any], dict[str, SlipUp]]:
    """The roster, the posts and their flags (by post id: each post here fires one rule at most)."""
    records: list[Any] = [
        Employee(
            event_id=f"ev-{employee}",
            occurred_at=NOW - timedelta(days=30),
            employee_id=employee,
            department=department,
            region=region,
            active=True,
        )
        for employee, (department, region) in EMPLOYEES.items()
    ]
    flags: dict[str, SlipUp] = {}
    policy = Policy.load()
    for number, (post_id, employee, network, text) in enumerate(POSTS):
        post = Post(
            event_id=f"ev-{post_id}",
            occurred_at=NOW - timedelta(hours=len(POSTS) - number),
            post_id=post_id,
            employee_id=employee,
            network=network,
            account_id=f"{employee}-{network}",
            text=text,
        )
        records.append(post)
        for slipup in flag_post(policy, post, *EMPLOYEES[employee], post.occurred_at):
            assert post_id not in flags, f"{post_id} fires more than one rule"
            flags[post_id] = slipup
    return records + list(flags.values()), flags


def insert_records(settings: Settings, records: Sequence[Any]) -> None:
    client = warehouse.client(settings)
    try:
        for kind in {type(r) for r in records}:
            table = warehouse.TABLES[kind]
            batch = [r for r in records if type(r) is kind]
            warehouse.insert_columns(client, table, table.to_columns(batch))
    finally:
        client.disconnect()


class ServedWorkspace:
    """`serve.build(settings)` on a free port of 127.0.0.1, in a thread running its own event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = free_port()
        self._stop: Callable[[], Any] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServedWorkspace:
        self.thread.start()

        async def start() -> None:
            app, review_log = await build(self.settings)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()

            async def stop() -> None:
                await runner.cleanup()
                await review_log.stop()

            self._stop = stop
            await web.TCPSite(runner, "127.0.0.1", self.port).start()

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(timeout=60)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stop is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


# The browser ------------------------------------------------------------------------

FETCH = """
const [path, form, done] = arguments;
fetch(path, {
    method: form === null ? "GET" : "POST",
    body: form === null ? undefined : new URLSearchParams(form),
    redirect: "manual",
}).then((response) => done(response.status), (error) => done(String(error)));
"""


class Browser:
    """One person's headless Chromium on the workspace."""

    def __init__(self, base: str) -> None:
        assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
            "the browser tests need Debian's chromium and chromium-driver (make test installs them)"
        )
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)  # with the driver's path: Selenium Manager idles
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"):
            options.add_argument(argument)
        self.driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        self.driver.set_window_size(1280, 1000)
        self.base = base

    def quit(self) -> None:
        self.driver.quit()

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    @property
    def path(self) -> str:
        return urlsplit(self.driver.current_url).path

    def query(self, name: str) -> str:
        return parse_qs(urlsplit(self.driver.current_url).query)[name][0]

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        """The element's text as written (CSS may show it upper-cased), white space collapsed."""
        return " ".join((self.find(css).get_attribute("textContent") or "").split())

    def submit(self, form: WebElement) -> None:
        """Press the form's button and wait for the page it leads to.

        The old page is marked and the new one awaited by script: while Chromium
        swaps documents, chromedriver may answer any command with an error.
        """
        self.driver.execute_script("window.chorusLeaving = true")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(self.driver, 20, ignored_exceptions=(WebDriverException,)).until(
            lambda driver: driver.execute_script(
                "return !window.chorusLeaving && document.readyState === 'complete'"
            )
        )

    def login(self, name: str) -> None:
        self.find("#name").send_keys(name)
        self.find("#password").send_keys(PASSWORD)
        self.submit(self.find("form.card"))

    def act(self, action: str, reason: str = "", note: str = "") -> str:
        """Use the flag page's form for `action`; what the workspace said."""
        form = self.find(f"form#do-{action}")
        if reason:
            Select(form.find_element(By.NAME, "reason")).select_by_value(reason)
        if note:
            form.find_element(By.NAME, "note").send_keys(note)
        self.submit(form)
        return self.text("#said")

    def trail(self) -> list[tuple[str, list[str]]]:
        """The audit trail's rows: (applied | refused, the cells' text)."""
        return [
            (
                row.get_attribute("class") or "",
                [cell.text for cell in row.find_elements(By.TAG_NAME, "td")],
            )
            for row in self.driver.find_elements(By.CSS_SELECTOR, "table#trail tr[class]")
        ]

    def rule_row(self, rule: str) -> dict[str, str]:
        """The policy page's row of `rule`, by column header."""
        headers = [th.text for th in self.driver.find_elements(By.CSS_SELECTOR, "table#rules th")]
        row = self.find(f'table#rules tr[data-rule="{rule}"]')
        cells = row.find_elements(By.TAG_NAME, "td")
        return {
            **dict(zip(headers, (cell.text for cell in cells), strict=True)),
            "precision": row.find_element(By.CSS_SELECTOR, "td.precision").text,
        }

    def status(self, path: str, form: dict[str, str] | None = None) -> int:
        """The status of a request this page's script makes (its cookies; 0: a redirect)."""
        return int(self.driver.execute_async_script(FETCH, path, form))

    def csrf(self) -> str:
        return self.find("header input[name=csrf]").get_attribute("value") or ""

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        path.unlink(missing_ok=True)
        assert self.driver.save_screenshot(str(path)), name
        assert path.stat().st_size > 10_000, name


@pytest.fixture
def browsers() -> Iterator[Callable[[str], Browser]]:
    opened: list[Browser] = []

    def make(base: str) -> Browser:
        opened.append(Browser(base))
        return opened[-1]

    yield make
    for browser in opened:
        browser.quit()


# The test -------------------------------------------------------------------------------


def sunk(worker: Worker, check: Callable[[], bool], what: str) -> None:
    """Wait until the sink has written `what`; at once if its worker died (the report has its log)."""

    def alive_and_done() -> bool:
        assert worker.running(), f"the sink's worker exited while waiting for {what}"
        return check()

    wait_for(alive_and_done, 120, what)


def test_reviewers_act_in_the_browser_and_the_policy_page_follows(
    worker_factory: Callable[..., Worker],
    browsers: Callable[[str], Browser],
    tmp_path: Path,
) -> None:
    worker = worker_factory(CHORUS_AGENTS="sink")
    settings = dataclasses.replace(worker.settings, users_file=str(tmp_path / "users.json"))
    assert settings.secure_cookies  # the default, as deployed
    warehouse.migrator(settings).migrate()
    records, flags = company()
    assert {post: flag.rule for post, flag in flags.items()} == {
        "p-1": RULE,
        "p-2": RULE,
        "p-3": "confidential_leak/hush hush",
        "p-4": "profanity_insult/damn",
        "p-5": "competitor_attack/disparaging_competitor",
    }
    insert_records(settings, records)
    users = Users(settings.users_path)
    accounts: dict[str, Role] = {"ana": "reviewer", "ben": "reviewer", "vic": "viewer"}
    for name, role in accounts.items():
        users.add(name, role, PASSWORD)
    worker.start()
    client = warehouse.client(settings)

    def trail_in_clickhouse(flag_id: str) -> set[tuple[str, str, str]]:
        return set(
            client.execute(
                "SELECT reviewer, toString(action), toString(outcome) FROM review_actions FINAL "
                f"WHERE flag_id = '{flag_id}'"
            )
        )

    with ServedWorkspace(settings) as served:
        ana, ben = browsers(served.url), browsers(served.url)
        dismissed, coached, raced = (flags[post].slipup_id for post in ("p-1", "p-2", "p-3"))

        # A stranger is sent to the login page, and back where they were going.
        ana.open("/queue")
        assert ana.path == "/login" and ana.query("next") == "/queue"
        ana.screenshot("workspace-login.png")
        ana.login("ana")
        assert ana.path == "/queue"
        [cookie] = [c for c in ana.driver.get_cookies() if c["name"] == COOKIE]
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        rows = ana.driver.find_elements(By.CSS_SELECTOR, "table#queue tr.flag")
        assert {row.get_attribute("data-flag") for row in rows} == {
            flag.slipup_id for flag in flags.values()
        }
        assert ana.text(f'tr[data-flag="{dismissed}"] mark') == "idiot"
        ana.screenshot("workspace-queue.png")

        ana.open("/policy")
        before = ana.rule_row(RULE)
        assert (before["Flags"], before["Reviewed"]) == ("2", "0")

        # Claim a flag, then dismiss it as a false positive, with a note.
        ana.open(f"/flags/{dismissed}")
        assert ana.text("#status") == "open" and ana.text("#post mark") == "idiot"
        assert ana.act("claim") == "claim: done on 1 flag."
        assert ana.text("#status") == "claimed"
        said = ana.act("dismiss", reason="false_positive", note="About a referee, not a person.")
        assert said == "dismiss: done on 1 flag."
        assert ana.text("#status") == "dismissed"
        trail = ana.trail()
        assert [(outcome, cells[1], cells[2]) for outcome, cells in trail] == [
            ("applied", "ana", "claim"),
            ("applied", "ana", "dismiss"),
        ]
        assert trail[1][1][4:] == ["false_positive", "About a referee, not a person."]
        ana.screenshot("workspace-flag.png")

        # Coach another flag of the same rule.
        ana.open(f"/flags/{coached}")
        assert ana.act("coach", note="Say what you mean without calling anyone names.") == (
            "coach: done on 1 flag."
        )
        [(outcome, cells)] = ana.trail()
        assert (outcome, cells[1], cells[2], cells[5]) == (
            "applied",
            "ana",
            "coach",
            "Say what you mean without calling anyone names.",
        )

        # The policy page follows once the sink has written the actions.
        def reviewed() -> bool:
            ana.open("/policy")
            return ana.rule_row(RULE)["Reviewed"] == "2"

        sunk(worker, reviewed, "the two verdicts on the policy page")
        after = ana.rule_row(RULE)
        assert (after["False positives"], after["Not an issue"]) == ("1", "0")
        assert after["precision"] != before["precision"]
        assert after["precision"].startswith("50.0%") and "1 of 2" in after["precision"]
        ana.screenshot("workspace-policy.png")

        # Two reviewers on one version: the second is told, and both are in the trail.
        ben.open("/login")
        ben.login("ben")
        ana.open(f"/flags/{raced}")
        ben.open(f"/flags/{raced}")
        assert ana.act("coach", note="Teasers wait for the announcement.") == (
            "coach: done on 1 flag."
        )
        said = ben.act("dismiss", reason="not_an_issue", note="A harmless teaser.")
        assert "refused on 1" in said and "ana changed this flag first" in said
        assert ben.text("#status") == "coached"
        assert [(outcome, cells[1], cells[2]) for outcome, cells in ben.trail()] == [
            ("applied", "ana", "coach"),
            ("refused", "ben", "dismiss refused: " + said.split(": ", 2)[2]),
        ]
        ben.screenshot("workspace-refused.png")
        sunk(
            worker,
            lambda: (
                trail_in_clickhouse(raced)
                == {("ana", "coach", "applied"), ("ben", "dismiss", "refused")}
            ),
            "both actions on the raced flag in ClickHouse",
        )

        # A POST without the form's token is refused, whoever sends it.
        form = {"action": "reopen", "version": "1", "note": "again"}
        assert ana.status(f"/flags/{coached}", form) == 403
        assert ana.status(f"/flags/{coached}", {**form, "csrf": "forged"}) == 403
        assert ana.status(f"/flags/{coached}", {**form, "csrf": ana.csrf()}) == 0  # done: 303

        # A viewer reads the figures and cannot act, even with a valid token of their own.
        ben.submit(ben.find("header form"))  # log out
        assert ben.path == "/login"
        ben.login("vic")
        assert ben.path == "/dashboard"
        ben.open("/policy")
        assert ben.driver.find_elements(By.CSS_SELECTOR, "main form") == []
        ben.open(f"/flags/{coached}")
        assert "needs the reviewer role; you are a viewer" in ben.text("body")
        assert ben.driver.find_elements(By.CSS_SELECTOR, "form.action") == []
        ben.open("/policy")
        token = ben.csrf()
        assert ben.status("/queue") == 403
        assert ben.status(f"/flags/{coached}", {**form, "version": "2", "csrf": token}) == 403
        assert ben.status("/queue/bulk", {"csrf": token, "action": "coach", "note": "x"}) == 403

    try:
        assert trail_in_clickhouse(dismissed) == {
            ("ana", "claim", "applied"),
            ("ana", "dismiss", "applied"),
        }
    finally:
        client.disconnect()
