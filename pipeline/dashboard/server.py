"""The live dashboard: the same page, read from ClickHouse on every request.

A stdlib HTTP server is enough: one page for a few executives, re-read every
`refresh_seconds` by the browser itself (a meta refresh, so the page needs no
script of its own and keeps working when printed or saved). The plotly library
is served once under its own path with a long cache lifetime, so a refresh
moves only the page and its data. When ClickHouse cannot answer, the page says
why (status 503) and keeps trying: the server never dies for that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from plotly.offline import get_plotlyjs

from pipeline.dashboard.data import Dashboard, WarehouseUnavailable
from pipeline.dashboard.render import PLOTLY_PATH, render_page, render_problem

log = logging.getLogger(__name__)


class DashboardHandler(BaseHTTPRequestHandler):
    """GET / is the page, GET /plotly.min.js the charting library; nothing else."""

    def __init__(
        self, read: Callable[[], Dashboard], refresh_seconds: int, *args: object, **kwargs: object
    ) -> None:
        self.read = read
        self.refresh_seconds = refresh_seconds
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]  # handles the request

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._page()
        elif path == PLOTLY_PATH:
            self._send(HTTPStatus.OK, get_plotlyjs().encode(), "text/javascript", cache_days=1)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _page(self) -> None:
        try:
            page = render_page(
                self.read(), inline_plotly=False, refresh_seconds=self.refresh_seconds
            )
            status = HTTPStatus.OK
        except WarehouseUnavailable as exc:
            log.warning("dashboard: %s", exc)
            page = render_problem(str(exc), refresh_seconds=self.refresh_seconds)
            status = HTTPStatus.SERVICE_UNAVAILABLE
        self._send(status, page.encode(), "text/html; charset=utf-8")

    def _send(self, status: HTTPStatus, body: bytes, kind: str, cache_days: int = 0) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        cache = f"public, max-age={cache_days * 86400}" if cache_days else "no-store"
        self.send_header("Cache-Control", cache)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def make_server(
    read: Callable[[], Dashboard],
    host: str = "127.0.0.1",
    port: int = 8050,
    *,
    refresh_seconds: int,
) -> ThreadingHTTPServer:
    """A server bound to (host, port) that answers with `read()`'s dashboard; call serve_forever()."""
    return ThreadingHTTPServer((host, port), partial(DashboardHandler, read, refresh_seconds))
