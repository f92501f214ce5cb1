"""The dashboard over real HTTP on loopback: pages, JSON forms, the CSV, roles, CSRF and policies."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from monitor.alerting.mutes import active_mutes
from monitor.cli.main import cli
from monitor.compose import build_dashboard
from monitor.errors import DashboardExposed
from tests.dashboard.conftest import NOW

READ, ADMIN = "read-token-1234567890", "admin-token-0987654321"
TOKENS = {"DIPLOMONITOR_DASHBOARD_TOKEN": READ, "DIPLOMONITOR_DASHBOARD_ADMIN_TOKEN": ADMIN}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def call(url: str, data: dict[str, str] | None = None, **headers: str) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of one request; redirects and errors are returned, not followed."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers)
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


PAGES = ["/", "/accounts", "/accounts/bluesky/diplomatie.gouv.fr", "/posts", "/alerts", "/reports"]


def test_every_page_and_its_json_form(serve: Callable[..., str], dashboard_settings: Any) -> None:
    url = serve(dashboard_settings())
    for path in PAGES:
        status, headers, body = call(url + path)
        assert status == 200, (path, body[:500])
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        sep = "&" if "?" in path else "?"
        status, headers, text = call(url + path + sep + "format=json")
        assert status == 200 and headers["Content-Type"].startswith("application/json"), path
        json.loads(text)


def test_posts_json_is_the_filtered_page(serve: Callable[..., str], dashboard_settings: Any) -> None:
    url = serve(dashboard_settings())
    _, _, text = call(url + "/posts?month=2026-10&country=DE&format=json")
    data = json.loads(text)
    assert (data["total"], data["more"], data["page"]) == (2, False, 1)
    assert data["posts"][1] == {
        "id": 4, "url": "https://example.org/4", "text": 'Wir fördern Austausch. Grüße, "alle"',
        "created_at": "2026-10-05T09:00:00+00:00", "is_reply": False, "is_repost": False, "is_quote": False,
        "repost_of_author": None, "deleted_at": None, "edited_at": None, "platform": "mastodon",
        "handle": "auswaertiges@social.bund.de", "display_name": "Auswärtiges Amt", "country": "DE",
        "language": "de", "sentiment_label": "neutral", "sentiment_score": 0.1, "likes": 30, "reposts": 5,
        "replies": 3, "quotes": None, "engagement": 38, "topics": ["education"],
    }  # fmt: skip
    assert [p["id"] for p in data["posts"]] == [5, 4]
    page2 = json.loads(call(url + "/posts?month=2026-10&sort=oldest&page=2&format=json")[2])
    assert page2["posts"] == [] and page2["total"] == 7
    searched = json.loads(call(url + "/posts?month=2026-10&q=CULTURE+bonjour&format=json")[2])
    assert [p["id"] for p in searched["posts"]] == [1]


def test_csv_download_is_export_posts_with_the_same_filters(
    serve: Callable[..., str], dashboard_settings: Any, world: Engine, db_url: str, write_config: Any
) -> None:
    url = serve(dashboard_settings())
    query = "month=2026-10&country=FR&topic=culture&tone=positive&reposts=exclude"
    status, headers, body = call(url + "/posts?" + query + "&format=csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    config = write_config(f'[database]\nurl = "{db_url}"\n', "cli.toml")
    args = ["--month", "2026-10", "--country", "FR", "--topic", "culture", "--tone", "positive"]
    result = CliRunner().invoke(cli, ["-c", str(config), "export", "posts", *args, "--reposts", "exclude"])
    assert result.exit_code == 0, result.output
    assert body == result.stdout_bytes.decode("utf-8")
    assert [line.split(",")[0] for line in body.splitlines()[1:]] == [
        "https://example.org/1", "https://example.org/7", "https://example.org/8"]  # fmt: skip


def test_a_non_loopback_address_needs_a_token_or_a_proxy(dashboard_settings: Any, world: Engine) -> None:
    with pytest.raises(DashboardExposed, match=r"^the dashboard would listen on 0\.0\.0\.0:9465 without"):
        build_dashboard(dashboard_settings(), world, "0.0.0.0:9465")
    build_dashboard(dashboard_settings(TOKENS), world, "0.0.0.0:9465")
    build_dashboard(
        dashboard_settings(dashboard='proxy_user_header = "X-Forwarded-User"'), world, "0.0.0.0:1"
    )


def test_serve_refuses_a_public_address_without_a_token(
    world: Engine, db_url: str, write_config: Any
) -> None:
    config = write_config(f'[database]\nurl = "{db_url}"\n', "cli.toml")
    result = CliRunner().invoke(cli, ["-c", str(config), "serve", "--address", "0.0.0.0:0"], env={})
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "DIPLOMONITOR_DASHBOARD_TOKEN" in result.output


def test_roles_tokens_and_csrf(serve: Callable[..., str], dashboard_settings: Any, world: Engine) -> None:
    url = serve(dashboard_settings(TOKENS), "0.0.0.0:9465")
    assert call(url + "/posts")[0] == 401
    assert call(url + "/posts?format=json")[0] == 401
    status, headers, _ = call(url + "/alerts", Accept="text/html")
    assert (status, headers["Location"]) == (303, "/login?next=%2Falerts")
    assert call(url + "/posts", Authorization="Bearer wrong")[0] == 401
    assert call(url + "/posts", Authorization=f"Bearer {READ}")[0] == 200
    mute = {"rule": "negative-storm", "scope": "all", "hours": "2", "reason": "press week"}
    status, _, body = call(url + "/alerts/mute", mute, Authorization=f"Bearer {READ}")
    assert status == 403 and "admin role" in body
    # A browser signed in as admin: the session cookie alone is not enough, the form needs its token.
    status, headers, _ = call(url + "/login")
    csrf = headers["Set-Cookie"].split("dm_csrf=")[1].split(";")[0]
    cookie = f"dm_csrf={csrf}"
    status, headers, _ = call(
        url + "/login", {"token": ADMIN, "csrf": csrf, "next": "/alerts"}, Cookie=cookie
    )
    assert (status, headers["Location"]) == (303, "/alerts")
    session = headers["Set-Cookie"].split(";")[0]
    assert (
        ADMIN not in session
        and "HttpOnly" in headers["Set-Cookie"]
        and "SameSite=Strict" in headers["Set-Cookie"]
    )
    cookies = f"{cookie}; {session}"
    assert call(url + "/alerts", Cookie=cookies)[0] == 200
    status, _, body = call(url + "/alerts/mute", mute, Cookie=cookies)
    assert status == 403 and "CSRF" in body
    status, _, body = call(url + "/alerts/mute", {**mute, "csrf": "x" * 43}, Cookie=cookies)
    assert status == 403 and "CSRF" in body
    status, _, body = call(
        url + "/alerts/mute", {**mute, "csrf": csrf}, Cookie=cookies, Origin="https://evil.example"
    )
    assert status == 403 and "another site" in body
    with world.connect() as conn:
        assert active_mutes(conn, NOW) == []
    assert call(url + "/alerts/mute", {**mute, "csrf": csrf}, Cookie=cookies)[0] == 303
    with world.connect() as conn:
        (m,) = active_mutes(conn, NOW)
    assert (m.rule, m.scope, m.by, m.reason) == (
        "negative-storm",
        "all",
        "dashboard (admin token)",
        "press week",
    )
    assert call(url + "/alerts/1/ack", {}, Authorization=f"Bearer {ADMIN}")[0] == 303
    alerts = json.loads(call(url + "/alerts?format=json", Authorization=f"Bearer {READ}")[2])
    assert alerts["firing"][0]["acknowledged_by"] == "dashboard (admin token)"
    assert [(x["rule"], x["scope"]) for x in alerts["mutes"]] == [("negative-storm", "all")]


def test_a_trusted_proxy_names_the_user(serve: Callable[..., str], dashboard_settings: Any) -> None:
    proxy = 'proxy_user_header = "X-Forwarded-User"\nproxy_admins = ["alice"]'
    url = serve(dashboard_settings(dashboard=proxy), "0.0.0.0:9465")
    assert call(url + "/posts")[0] == 401
    assert call(url + "/posts", **{"X-Forwarded-User": "bob"})[0] == 200
    status, _, body = call(url + "/alerts/1/ack", {}, **{"X-Forwarded-User": "bob"})
    assert status == 403 and "admin role" in body
    status, _, body = call(url + "/alerts/1/ack", {}, **{"X-Forwarded-User": "alice"})
    assert status == 403 and "CSRF" in body  # a proxied browser needs the form's token too


def test_open_loopback_answers_only_to_loopback_names(
    serve: Callable[..., str], dashboard_settings: Any
) -> None:
    url = serve(dashboard_settings())
    assert call(url + "/")[0] == 200
    status, _, body = call(url + "/", Host="evil.example")  # DNS rebinding
    assert status == 403 and "localhost only" in body


def test_the_report_page_has_a_policy_without_unsafe_inline(
    serve: Callable[..., str], dashboard_settings: Any
) -> None:
    url = serve(dashboard_settings())
    status, headers, body = call(url + "/reports/view?month=2026-10&country=FR")
    assert status == 200 and "Digital diplomacy in October 2026" in body
    policy = headers["Content-Security-Policy"]
    assert (
        "unsafe-inline" not in policy and "script-src 'sha256-" in policy and "style-src 'sha256-" in policy
    )
    assert f'content="{policy}"' in body


def test_bad_filters_say_why(serve: Callable[..., str], dashboard_settings: Any) -> None:
    url = serve(dashboard_settings())
    status, _, body = call(url + "/posts?tone=angry")
    assert status == 400 and "tone must be one of negative, neutral, positive" in body
    assert call(url + "/accounts/bluesky/nobody.example")[0] == 404
    assert call(url + "/posts?month=2026-13")[0] == 400
