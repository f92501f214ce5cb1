"""Rendering: Jinja2 templates with autoescaping on (every post text is escaped), the report's SVG
charts, and the JSON form of every page (the same data the template gets)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Hashable
from datetime import date, datetime
from importlib import resources
from typing import Any

from jinja2 import Environment, FunctionLoader, select_autoescape
from markupsafe import Markup

from monitor.reporting import charts


def _load(name: str) -> str:
    return (
        resources.files("monitor.reporting.dashboard").joinpath("templates", name).read_text(encoding="utf-8")
    )


def environment() -> Environment:
    env = Environment(loader=FunctionLoader(_load), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)  # fmt: skip
    env.filters.update(num=num, when=when, pct=pct, signed=signed, web=web)
    return env


def num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, float) and not value.is_integer() else f"{value:,.0f}"


def signed(value: Any, digits: int = 0) -> str:
    return "–" if value is None else f"{value:+,.{digits}f}"


def pct(value: Any, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}%"


def when(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat() if isinstance(value, date) else str(value)


def web(url: Any) -> str | None:
    """An address a link may point to: http(s) only."""
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def to_json(data: Any) -> str:
    return json.dumps(data, default=_plain, ensure_ascii=False, indent=1)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | tuple):
        return list(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def weekly_charts(weeks: list[dict[str, Any]], followers: list[dict[str, Any]]) -> dict[str, Markup]:
    """The account page's charts: posts per week, engagement per post per week, followers per day."""
    labels = [f"{w['week']:%b} {w['week'].day}" for w in weeks]
    days = [f"{f['day']:%b} {f['day'].day}" for f in followers]
    known = [f["followers"] for f in followers]
    return {
        "posts": Markup(charts.stacked_bars("Posts per week", labels,
                                            [("Posts", [w["posts"] for w in weeks])])),
        "engagement": Markup(charts.line_chart(
            "Engagement per post, per week", labels,
            [("Engagement per post", [w["engagement_per_post"] for w in weeks])], charts.plain)),
        "followers": Markup(charts.line_chart("Followers", days, [("Followers", known)], charts.plain)),
    }  # fmt: skip


def activity_chart(activity: dict[str, Any]) -> Markup:
    rows = [("Last 7 days", float(activity["week"]), float(activity["previous_week"]))]
    return Markup(charts.bar_list("Posts this week against last week", rows, charts.plain,
                                  ("last 7 days", "the 7 days before")))  # fmt: skip


class Cache:
    """Figures kept for `seconds` (0: never kept), so a team refreshing a heavy page costs one query."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds, self.clock = seconds, clock
        self.lock = threading.Lock()
        self.items: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        if self.seconds <= 0:
            return compute()
        now = self.clock()
        with self.lock:
            hit = self.items.get(key)
            if hit and hit[0] > now:
                return hit[1]
        value = compute()
        with self.lock:
            self.items = {k: v for k, v in self.items.items() if v[0] > now}
            self.items[key] = (now + self.seconds, value)
        return value
