"""The local test servers (tests/collectors/servers.py) answer as the reference peers do.

The collectors' fast tests run against those local servers; these tests load what the real
peers hold into them and ask both the same questions, so the local servers cannot drift from
the reference again (they once served every reply whatever the filter, and hid the default
filter's loss of replies from every collector test).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.collectors.servers import FakeBluesky, FakeMastodon
from tests.interop.world import MASTODON_DOMAIN, PEOPLE, World

# The first test's setup may install the peers (minutes) when `make peers` has not run.
pytestmark = [pytest.mark.interop, pytest.mark.timeout(900)]
WATCHED = [k for k in PEOPLE if k != "gone"]
FEED = "/xrpc/app.bsky.feed.getAuthorFeed"


def real_bluesky(world: World, path: str, query: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{world.bluesky.appview}{path}", params=query, timeout=30)
    return response.status_code, response.json()


def local_bluesky(server: FakeBluesky, path: str, query: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    as_lists = {k: v if isinstance(v, list) else [str(v).lower() if isinstance(v, bool) else str(v)]
                for k, v in query.items()}  # fmt: skip
    status, _, body = server.route("GET", path, as_lists, {}, b"")
    return status, body


def walk(ask: Any, did: str, feed_filter: str, limit: int) -> list[list[str]]:
    """Pages of item keys (the repost record for a repost), following each server's own cursor."""
    pages, cursor = [], None
    while True:
        query = {"actor": did, "filter": feed_filter, "limit": limit, "includePins": False}
        status, body = ask(FEED, {**query, **({"cursor": cursor} if cursor else {})})
        assert status == 200, body
        pages.append([i.get("reason", {}).get("uri") or i["post"]["uri"] for i in body["feed"]])
        cursor = body.get("cursor")
        if not cursor:
            return pages


@contextmanager
def unstarted(server: Any) -> Iterator[Any]:
    """A local server asked directly through `route` (its socket is made, never served)."""
    try:
        yield server
    finally:
        server.httpd.server_close()


def loaded_bluesky(world: World) -> FakeBluesky:
    """A local AppView holding what the real one serves for every seeded account."""
    server = FakeBluesky()
    for key, did in world.seeded("bluesky").accounts.items():
        status, profile = real_bluesky(world, "/xrpc/app.bsky.actor.getProfile", {"actor": did})
        if status != 200:
            server.errors[did] = (status, profile["error"], profile["message"])
            server.handles[PEOPLE[key].bluesky] = did
            continue
        server.add_account(did, profile["handle"])
        status, body = real_bluesky(world, FEED, {"actor": did, "filter": "posts_with_replies", "limit": 100})
        server.feeds[did] = body["feed"]
    return server


@pytest.mark.parametrize(
    "feed_filter", ["posts_with_replies", "posts_and_author_threads", "posts_no_replies"]
)
@pytest.mark.parametrize("limit", [3, 5, 100])
def test_author_feeds_are_filtered_and_paged_alike(world: World, feed_filter: str, limit: int) -> None:
    with unstarted(loaded_bluesky(world)) as server:
        assert_feeds_alike(world, server, feed_filter, limit)


def assert_feeds_alike(world: World, server: FakeBluesky, feed_filter: str, limit: int) -> None:
    for key in WATCHED:
        did = world.seeded("bluesky").accounts[key]
        real = walk(lambda p, q: real_bluesky(world, p, q), did, feed_filter, limit)
        local = walk(lambda p, q: local_bluesky(server, p, q), did, feed_filter, limit)
        assert local == real, (key, feed_filter, limit)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/xrpc/app.bsky.actor.getProfile", {"actor": "gone"}),
        (FEED, {"actor": "gone"}),
        ("/xrpc/app.bsky.actor.getProfile", {"actor": "nobody-here.test"}),
        (FEED, {"actor": "nobody-here.test"}),
        (FEED, {"actor": "ministry_de", "limit": 101}),
        (FEED, {"actor": "ministry_de", "limit": 0}),
    ],
)
def test_gone_unknown_and_refused_alike(world: World, path: str, query: dict[str, Any]) -> None:
    dids = world.seeded("bluesky").accounts
    query = {**query, "actor": dids.get(query["actor"], query["actor"])}
    with unstarted(loaded_bluesky(world)) as server:
        assert local_bluesky(server, path, query) == real_bluesky(world, path, query)


def statuses(ask: Any, account_id: str, params: dict[str, str]) -> list[list[str]]:
    """Pages of status ids, following each server's Link header down."""
    pages, query = [], dict(params)
    while True:
        status, headers, body = ask(f"/api/v1/accounts/{account_id}/statuses", query)
        assert status == 200, body
        pages.append([s["id"] for s in body])
        nxt = httpx.Response(200, headers={"Link": httpx.Headers(headers).get("Link", "")}).links.get("next")
        if not body or not nxt:
            return pages
        query = {**params, "max_id": httpx.URL(nxt["url"]).params["max_id"]}


@pytest.mark.parametrize("limit", ["3", "40"])
@pytest.mark.parametrize("filters", [{}, {"exclude_replies": "true"}, {"exclude_reblogs": "true"}])
def test_mastodon_statuses_are_filtered_and_paged_alike(
    world: World, limit: str, filters: dict[str, str]
) -> None:
    with unstarted(FakeMastodon(MASTODON_DOMAIN)) as server:
        assert_statuses_alike(world, server, limit, filters)


def assert_statuses_alike(world: World, server: FakeMastodon, limit: str, filters: dict[str, str]) -> None:
    for account_id in world.seeded("mastodon").accounts.values():
        found = [s for page in statuses(lambda p, q: _real_mastodon(world, p, q), account_id, {"limit": "40"})
                 for s in page]  # fmt: skip
        server.statuses[account_id] = [_status(world, s) for s in found]
    for key in WATCHED:
        account_id = world.seeded("mastodon").accounts[key]
        params = {"limit": limit, **filters}
        real = statuses(lambda p, q: _real_mastodon(world, p, q), account_id, params)
        local = statuses(lambda p, q: local_mastodon(server, p, q), account_id, params)
        assert local == real, (key, filters, limit)


def local_mastodon(server: FakeMastodon, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    return server.route("GET", path, {k: [v] for k, v in query.items()}, {}, b"")


def _real_mastodon(world: World, path: str, query: dict[str, str]) -> tuple[int, httpx.Headers, Any]:
    response = httpx.get(f"{world.mastodon.url}{path}", params=query, timeout=30)
    return response.status_code, response.headers, response.json()


def _status(world: World, status_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{world.mastodon.url}/api/v1/statuses/{status_id}", timeout=30).json())


def test_a_suspended_mastodon_account_alike(world: World) -> None:
    account_id = world.seeded("mastodon").accounts["gone"]
    _, _, account = _real_mastodon(world, f"/api/v1/accounts/{account_id}", {})
    with unstarted(FakeMastodon(MASTODON_DOMAIN)) as server:
        server.add_account(account_id, account["username"])
        server.suspended.add(account_id)
        for path, query in [
            ("/api/v1/accounts/lookup", {"acct": account["username"]}),
            (f"/api/v1/accounts/{account_id}/statuses", {"limit": "40"}),
        ]:
            real, local = _real_mastodon(world, path, query), local_mastodon(server, path, query)
            assert (local[0], local[2]) == (real[0], real[2]), path
        real, local = (
            _real_mastodon(world, f"/api/v1/accounts/{account_id}", {}),
            local_mastodon(server, f"/api/v1/accounts/{account_id}", {}),
        )
        assert (local[0], local[2]["id"], local[2]["suspended"]) == (
            real[0],
            real[2]["id"],
            real[2]["suspended"],
        )
