"""The executive dashboard: the true community, whether it is a conversation, campaigns,
coverage, who brings new audience, the leaderboard, the earned media value, slip-ups.

`data` reads ClickHouse into a plain `Dashboard`, `render` draws it as one
HTML page with plotly (the workspace serves it live, behind its login). `chorus dashboard`
(pipeline/cli/dashboard.py) and `make demo` write it with `write_dashboard`.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.dashboard.data import WarehouseUnavailable, read_dashboard
from pipeline.dashboard.render import render_page
from pipeline.settings import Settings

__all__ = ["WarehouseUnavailable", "write_dashboard"]


def write_dashboard(settings: Settings, path: Path) -> Path:
    """Read ClickHouse and write the self-contained page to `path` (WarehouseUnavailable if it cannot)."""
    page = render_page(read_dashboard(settings))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
