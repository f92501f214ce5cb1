"""The dashboard in headless Chromium (Debian's, driven by Playwright), on SQLite and PostgreSQL:
every page loads without a console error, charts draw, filters and paging change what is shown,
a mute takes effect, and a hostile post's script never runs.

Needs /usr/bin/chromium (`make test` installs it as root) and the `playwright` package (never
`playwright install`: the system browser is used); otherwise skipped with the reason.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from monitor.alerting.mutes import active_mutes, muted_until
from tests.dashboard.conftest import NOW

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright (make install does)"
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed: `apt-get install chromium`"),
]
CHARTS = {"/": 1, "/accounts/bluesky/diplomatie.gouv.fr?month=2026-10": 3}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, serve: Callable[..., str], dashboard_settings: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    tab = context.new_page()
    tab.problems = []  # console errors, uncaught exceptions, refused loads
    tab.on("console", lambda m: tab.problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: tab.problems.append(str(e)))
    tab.base = serve(dashboard_settings())
    yield tab
    context.close()


def visit(page: Any, path: str) -> Any:
    page.goto(page.base + path)
    page.wait_for_selector("body[data-report-ready='yes'][data-dashboard-ready='yes']")
    return page


def test_every_page_loads_clean_and_draws_its_charts(page: Any, tmp_path: Path) -> None:
    paths = ["/", "/accounts", "/accounts/bluesky/diplomatie.gouv.fr?month=2026-10", "/posts?month=2026-10",
             "/alerts", "/reports"]  # fmt: skip
    for path in paths:
        visit(page, path)
        body = page.locator("body")
        charts, drawn = int(body.get_attribute("data-charts")), int(body.get_attribute("data-charts-drawn"))
        assert (charts, drawn) == (CHARTS.get(path, 0),) * 2, path
        shot = tmp_path / f"{path.strip('/').split('?')[0].replace('/', '-') or 'overview'}.png"
        page.screenshot(path=str(shot), full_page=True)
        png = shot.read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        if charts:  # bars and lines draw in colour: the picture is far from blank
            assert len(png) > 40_000, (path, len(png))
    assert page.problems == []


def test_the_hostile_post_is_text_and_never_runs(page: Any) -> None:
    for path in ("/posts?month=2026-10", "/accounts/bluesky/franceinusa.bsky.social?month=2026-10"):
        visit(page, path)
        assert page.locator("body").get_attribute("data-pwned") is None
        assert page.locator("td.post", has_text="<script>document.body.setAttribute").count() == 1
        assert page.locator("td.post img").count() == 0
    assert page.problems == []


def test_filters_and_paging_change_the_results(page: Any, dashboard_settings: Any) -> None:
    visit(page, "/posts?month=2026-10")
    assert page.locator("tr.post-row").count() == 7
    page.select_option("select[name=country]", "DE")  # applies at once
    page.wait_for_url("**country=DE**")
    page.wait_for_selector("body[data-dashboard-ready='yes']")
    assert page.locator("tr.post-row").count() == 2
    assert "month=2026-10" in page.url and "q=" not in page.url  # empty fields stay out of the link
    page.fill("input[name=q]", "Austausch")
    page.click("form.filters button")
    page.wait_for_url("**q=Austausch**")
    assert page.locator("tr.post-row").count() == 1
    # Paging: a small page size shows the month three posts at a time.
    page.goto(page.base.replace("", "") + "/posts?month=2026-10")
    assert page.problems == []


def test_paging_walks_through_the_month(
    browser: Any, serve: Callable[..., str], dashboard_settings: Any
) -> None:
    url = serve(dashboard_settings(dashboard="page_size = 3"))
    tab = browser.new_page()
    try:
        tab.goto(url + "/posts?month=2026-10&sort=oldest")
        first = tab.locator("tr.post-row td.nowrap").all_inner_texts()
        tab.click("a[rel=next]")
        tab.wait_for_url("**page=2**")
        second = tab.locator("tr.post-row td.nowrap").all_inner_texts()
        tab.click("a[rel=next]")
        third = tab.locator("tr.post-row td.nowrap").all_inner_texts()
        assert (len(first), len(second), len(third)) == (3, 3, 1)
        assert first + second + third == sorted(first + second + third)
        assert tab.locator("a[rel=next]").count() == 0
    finally:
        tab.close()


def test_accounts_sort_and_filter(page: Any) -> None:
    visit(page, "/accounts?month=2026-10")
    handles = page.locator("#accounts-table tbody td:first-child a").all_inner_texts()
    assert handles == ["Auswärtiges Amt", "France Diplomatie", "=France in the US"]  # by handle
    page.click("#accounts-table th a:has-text('Posts')")
    page.wait_for_url("**sort=posts**")
    assert page.locator("#accounts-table tbody td:first-child a").all_inner_texts()[0] == "France Diplomatie"
    page.select_option("select[name=kind]", "embassy")
    page.wait_for_url("**kind=embassy**")
    assert page.locator("#accounts-table tbody tr").count() == 1
    assert page.problems == []


def test_mute_from_the_alerts_page_takes_effect(page: Any, world: Engine) -> None:
    visit(page, "/alerts")
    assert page.locator("#mutes-table").count() == 0
    page.select_option("#mute-form select[name=rule]", "embassy-silent")
    page.fill("#mute-form input[name=scope]", "bluesky:franceinusa.bsky.social")
    page.fill("#mute-form input[name=hours]", "6")
    page.fill("#mute-form input[name=reason]", "<b>press</b> week")
    page.click("#mute-form button")
    page.wait_for_selector("#mutes-table")
    row = page.locator("#mutes-table tbody tr").inner_text()
    assert "embassy-silent" in row and "bluesky:franceinusa.bsky.social" in row and "<b>press</b> week" in row
    with world.connect() as conn:
        mutes = active_mutes(conn, NOW)
    # What the evaluator asks before sending: this scope is muted for six hours, the others are not.
    assert muted_until(mutes, "embassy-silent", "bluesky:franceinusa.bsky.social") is not None
    assert muted_until(mutes, "embassy-silent", "bluesky:diplomatie.gouv.fr") is None
    page.click("#firing button.ack")
    page.wait_for_selector("#firing >> text=acknowledged by local")
    page.click("#mutes-table button")
    page.wait_for_selector("#mutes .empty-note")
    assert page.problems == []
