"""The dashboard as a WSGI app: server-rendered pages, their JSON forms, the posts CSV, the report.

Every page is a GET whose query string holds its filters, so a URL can be pasted into a chat;
`format=json` gives the same data as JSON, and `/posts?...&format=csv` the CSV of exactly that
selection, written by `export_posts`. State changes (mute, unmute, acknowledge) are POSTs that
call the injected `AlertActions`; the gate in front (monitor.service.web) has checked the role
and the CSRF token and tells the app who is asking (`diplomonitor.role`, `.user`, `.csrf`).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from monitor.config import DashboardSettings
from monitor.db import reading
from monitor.reporting.dashboard import accounts as accounts_view
from monitor.reporting.dashboard import params
from monitor.reporting.dashboard.alerts import AlertActions, alerts_page
from monitor.reporting.dashboard.overview import overview, top_posts
from monitor.reporting.dashboard.pages import Cache, activity_chart, environment, to_json, weekly_charts
from monitor.reporting.dashboard.posts import post_page
from monitor.reporting.gather import gather_report
from monitor.reporting.html import policy_of, render_report
from monitor.reporting.posts_csv import export_posts
from monitor.reporting.selection import Selection
from monitor.reporting.summary import summarise
from monitor.schema import accounts, posts

log = logging.getLogger(__name__)
STATIC = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
REPORT_STATIC = {"report.css": "text/css", "report.js": "text/javascript"}
KINDS = ("ministry", "embassy", "consulate", "mission", "head_of_state", "head_of_government", "minister",
         "ambassador", "cultural_institute", "other")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Panel:
    """A section another stage adds to a page (reception figures, for one): its rows as dicts.
    `figures(conn, context)` gets the page's data (for the account page, `account`)."""

    page: str  # "overview" or "account"
    title: str
    figures: Callable[[Connection, Mapping[str, Any]], list[dict[str, Any]]]


URLS = Map([
    Rule("/", endpoint="overview"),
    Rule("/accounts", endpoint="accounts"),
    Rule("/accounts/<platform>/<path:handle>", endpoint="account"),
    Rule("/posts", endpoint="posts"),
    Rule("/alerts", endpoint="alerts"),
    Rule("/alerts/mute", endpoint="mute", methods=["POST"]),
    Rule("/alerts/unmute", endpoint="unmute", methods=["POST"]),
    Rule("/alerts/<int:event_id>/ack", endpoint="ack", methods=["POST"]),
    Rule("/reports", endpoint="reports"),
    Rule("/reports/view", endpoint="report"),
    Rule("/static/<name>", endpoint="static"),
], strict_slashes=False)  # fmt: skip


class Dashboard:
    """The WSGI app. `backlog` counts unscored posts; `hosts` names each platform's API host."""

    def __init__(
        self, engine: Engine, settings: DashboardSettings, *, rules: Sequence[str], actions: AlertActions,
        hosts: Mapping[str, str] | None = None, backlog: Callable[[], int | None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC), panels: Sequence[Panel] = (),
        cache_seconds: float = 60,
    ):  # fmt: skip
        self.engine, self.settings, self.rules, self.actions = engine, settings, list(rules), actions
        self.hosts, self.backlog, self.clock, self.panels = dict(hosts or {}), backlog, clock, list(panels)
        self.cache = Cache(cache_seconds)
        self.templates = environment()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            endpoint, args = URLS.bind_to_environ(environ).match()
            response = getattr(self, "page_" + endpoint)(request, **args)
        except params.BadFilter as exc:
            response = self.render(request, "error.html", {"status": 400, "message": str(exc)}, 400)
        except NotFound:
            response = self.render(request, "error.html", {"status": 404, "message": "No such page."}, 404)
        except HTTPException as exc:
            response = exc.get_response(environ)  # type: ignore[assignment]
        return response(environ, start_response)

    # -- rendering ---------------------------------------------------------------------------

    def render(self, request: Request, template: str, data: dict[str, Any], status: int = 200,
               charts: dict[str, Any] | None = None) -> Response:  # fmt: skip
        if request.args.get("format") == "json":
            return Response(to_json(data), status, mimetype="application/json")
        env = request.environ
        context = {
            **data, "data": data, "charts": charts or {}, "link": params.Link.of(request.path, request.args),
            "role": env.get("diplomonitor.role", "read"), "user": env.get("diplomonitor.user", ""),
            "csrf": env.get("diplomonitor.csrf", ""), "can_sign_out": env.get("diplomonitor.can_sign_out"),
            "section": template.removesuffix(".html"),
        }  # fmt: skip
        html = self.templates.get_template(template).render(context)
        return Response(html, status, mimetype="text/html", headers={"Cache-Control": "no-store"})

    def _panels(self, conn: Connection, page: str, context: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [{"title": p.title, "rows": p.figures(conn, context)} for p in self.panels if p.page == page]

    # -- pages -------------------------------------------------------------------------------

    def page_overview(self, request: Request) -> Response:
        now = self.clock()
        with reading(self.engine) as conn:
            top = lambda: self.cache.get(("top", now.replace(second=0, microsecond=0)),  # noqa: E731
                                         lambda: top_posts(conn, now))  # fmt: skip
            data = overview(conn, now, self.hosts, self.backlog, top)
            data["panels"] = self._panels(conn, "overview", data)
        return self.render(
            request, "overview.html", data, charts={"activity": activity_chart(data["activity"])}
        )

    def page_accounts(self, request: Request) -> Response:
        q, now = request.args, self.clock()
        sel = params.selection(q, now, 30)
        kinds = params.words(q, "kind")
        sort = params.choice(q, "sort", accounts_view.ACCOUNT_SORTS, "handle")
        descending = params.choice(q, "order", ("asc", "desc"), "asc") == "desc"
        with reading(self.engine) as conn:
            summary = self.cache.get(
                ("summary", sel, now.replace(second=0, microsecond=0)),
                lambda: summarise(conn, sel, "account", overperformance=False),
            )
            rows = accounts_view.account_rows(conn, sel, kinds, sort, descending, summary)
            choices = self._choices(conn)
        data = {
            "period": sel.period.label,
            "accounts": rows,
            "sort": sort,
            "order": "desc" if descending else "asc",
        }
        return self.render(request, "accounts.html", data, charts={"choices": choices, "kinds": KINDS})

    def page_account(self, request: Request, platform: str, handle: str) -> Response:
        now = self.clock()
        period = params.period(request.args, now, 90)
        with reading(self.engine) as conn:
            account = accounts_view.find_account(conn, platform, handle)
            if account is None:
                raise NotFound()
            page = accounts_view.account_page(conn, account, period)
            sel = Selection(period, handles=(account["handle"],), platforms=(platform,))
            recent = post_page(conn, sel, "newest", 1, 20)
            panels = self._panels(conn, "account", {"account": account, "period": period})
        account.pop("id")
        data = {
            "account": account,
            "period": period.label,
            **page,
            "recent": recent["posts"],
            "panels": panels,
        }
        return self.render(
            request, "account.html", data, charts=weekly_charts(page["weeks"], page["followers"])
        )

    def page_posts(self, request: Request) -> Response:
        q, now = request.args, self.clock()
        sel = params.selection(q, now, 7)
        if q.get("format") == "csv":
            return self._csv(sel)
        sort = params.choice(q, "sort", params.POST_SORTS, "newest")
        page = params.number(q, "page", 1, 1, 10_000)
        with reading(self.engine) as conn:
            found = post_page(conn, sel, sort, page, self.settings.page_size)
            choices = self._choices(conn)
        data = {"period": sel.period.label, "sort": sort, **found}
        return self.render(request, "posts.html", data, charts={"choices": choices})

    def page_alerts(self, request: Request) -> Response:
        q, now = request.args, self.clock()
        page = params.number(q, "page", 1, 1, 10_000)
        with reading(self.engine) as conn:
            data = alerts_page(conn, now, self.rules, self.actions, rule=q.get("rule", ""),
                               scope=q.get("scope", ""), page=page, size=self.settings.page_size)  # fmt: skip
        data["now"] = now
        return self.render(request, "alerts.html", data)

    def page_mute(self, request: Request) -> Response:
        form = self._form(request)
        rule, scope = form.get("rule", ""), form.get("scope", "").strip()
        if rule not in self.rules:
            return self._back(request, f"unknown rule '{rule[:60]}'", 400)
        try:
            hours = float(form.get("hours", ""))
        except ValueError:
            hours = 0
        if not 0 < hours <= 24 * 366:
            return self._back(request, "hours must be a number above 0 and at most a year", 400)
        until = self.actions.mute(
            rule, scope, hours, self._user(request), form.get("reason", "")[:500] or None
        )
        log.info(
            "dashboard: %s muted %s %s until %s", self._user(request), rule, scope or "(all scopes)", until
        )
        return self._back(request)

    def page_unmute(self, request: Request) -> Response:
        form = self._form(request)
        self.actions.unmute(form.get("rule", ""), form.get("scope", ""))
        return self._back(request)

    def page_ack(self, request: Request, event_id: int) -> Response:
        self._form(request)
        self.actions.acknowledge(event_id, self._user(request))
        return self._back(request)

    def page_reports(self, request: Request) -> Response:
        with reading(self.engine) as conn:
            first, last = conn.execute(
                select(func.min(posts.c.created_at), func.max(posts.c.created_at))
            ).one()
            choices = self._choices(conn)
        months = _months(first, last) if first and last else []
        data = {"months": months, "countries": choices["countries"], "groups": choices["groups"]}
        return self.render(request, "reports.html", data)

    def page_report(self, request: Request) -> Response:
        q, now = request.args, self.clock()
        sel = Selection(params.period(q, now, 30), params.words(q, "country"), params.words(q, "group"))
        with reading(self.engine) as conn:
            document = render_report(gather_report(conn, sel, now=now))
        return Response(
            document, mimetype="text/html", headers={"Content-Security-Policy": policy_of(document)}
        )

    def page_static(self, request: Request, name: str) -> Response:
        package, kinds = ("monitor.reporting.dashboard", STATIC) if name in STATIC else (
            "monitor.reporting", REPORT_STATIC)  # fmt: skip
        if name not in kinds:
            raise NotFound()
        body = (
            resources.files(package).joinpath("static" if kinds is STATIC else "templates", name).read_bytes()
        )
        return Response(body, mimetype=kinds[name], headers={"Cache-Control": "max-age=300"})

    # -- helpers -----------------------------------------------------------------------------

    def _choices(self, conn: Connection) -> dict[str, list[str]]:
        rows = conn.execute(select(accounts.c.country, accounts.c.groups, accounts.c.platform)).all()
        return {
            "countries": sorted({r.country for r in rows}),
            "groups": sorted({g for r in rows for g in (r.groups or ())}),
            "platforms": sorted({r.platform for r in rows}),
        }

    def _form(self, request: Request) -> dict[str, str]:
        if request.environ.get("diplomonitor.role") != "admin":
            from werkzeug.exceptions import Forbidden

            raise Forbidden("this needs the admin role")
        form = request.environ.get("diplomonitor.form") or {}
        return {k: v[0] for k, v in form.items() if v}

    def _user(self, request: Request) -> str:
        return str(request.environ.get("diplomonitor.user") or "dashboard")[:128]

    def _back(self, request: Request, problem: str = "", status: int = 303) -> Response:
        if problem:
            return self.render(request, "error.html", {"status": status, "message": problem}, status)
        return Response("", 303, headers={"Location": "/alerts"})

    def _csv(self, sel: Selection) -> Response:
        name = f"posts-{sel.period.start:%Y%m%d}-{sel.period.end:%Y%m%d}.csv"
        headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
        return Response(stream_export(self.engine, sel), mimetype="text/csv", headers=headers)


def _months(first: datetime, last: datetime) -> list[str]:
    out, y, m = [], last.year, last.month
    while (y, m) >= (first.year, first.month) and len(out) < 120:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out


class _Pipe:
    """A text stream `export_posts` writes into; the response reads what it wrote, in chunks."""

    CHUNK = 64 * 1024

    def __init__(self) -> None:
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self.closed = threading.Event()
        self.buffer: list[str] = []
        self.size = 0

    def write(self, text: str) -> int:
        self.buffer.append(text)
        self.size += len(text)
        if self.size >= self.CHUNK:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self.buffer:
            self.put("".join(self.buffer).encode("utf-8"))
            self.buffer, self.size = [], 0

    def put(self, item: bytes | None) -> None:
        while True:
            if self.closed.is_set():
                raise BrokenPipeError("the client went away")
            try:
                self.chunks.put(item, timeout=1)
                return
            except queue.Full:
                continue


def stream_export(engine: Engine, sel: Selection) -> Iterator[bytes]:
    """The posts CSV of `sel`, written by `export_posts` on a thread of its own, as it is written."""
    pipe = _Pipe()

    def produce() -> None:
        try:
            with reading(engine) as conn:
                export_posts(conn, sel, pipe)  # type: ignore[arg-type]
            pipe.flush()
        except BrokenPipeError:
            return
        except Exception:
            log.exception("dashboard: posts CSV failed")
        with contextlib.suppress(BrokenPipeError):
            pipe.put(None)

    threading.Thread(target=produce, name="csv-export", daemon=True).start()
    try:
        while (chunk := pipe.chunks.get()) is not None:
            yield chunk
    finally:
        pipe.closed.set()
