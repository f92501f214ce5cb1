"""The Collector contract (collectors/protocol.py), one suite over both collectors.

Every test runs once per platform, against that platform's local server holding the world
recorded from the reference peers (tests/fixtures: the same accounts, posts, replies, quotes,
reposts and closed account on Bluesky and on Mastodon), so each promise is written once, in the
world's terms ("ministry_de's items, newest first"), and must hold for both. What only one
platform does (feed filters, pinned posts, logins, since_id, tokens) is tested in
test_bluesky.py and test_mastodon.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from collectors.bluesky import BlueskyCollector
from collectors.errors import BadResponse, CollectorError, Gone, HostUnavailable, RateLimited
from collectors.http import HostRegistry
from collectors.mastodon import MastodonCollector
from collectors.protocol import Collector
from collectors.records import UNAVAILABLE, Floor, Identity, KnownPost, Page, Post
from collectors.settings import BlueskySettings, CollectSettings, MastodonSettings
from tests.collectors.conftest import FAST, FakeClock
from tests.collectors.payloads import post_view, quote_embed, status
from tests.collectors.servers import FakeBluesky, FakeMastodon, FakeServer, Fault
from tests.fixtures import WORLD, exchange, names

WATCHED = [k for k in WORLD.people() if k != "gone"]
PAGE_SIZE = 5  # ministry_de's 13 items make three pages
NEWER = datetime(2026, 3, 3, tzinfo=UTC)  # after everything recorded (tests/fixtures/normalise.py)
NOW = datetime(2026, 3, 4, tzinfo=UTC)


class BlueskyWorld:
    """The recorded world on a local AppView, and what a test may change in it."""

    name = "bluesky"
    recorded_gone = "deactivated"  # the closed account: deactivated on the PDS
    ways_to_go: ClassVar[dict[str, str]] = {
        "deactivated": "AccountDeactivated",
        "suspended": "AccountTakedown",
    }
    quote_page = 100

    def __init__(self) -> None:
        self.server = FakeBluesky().load_recorded().start()

    def collector(self, collect: CollectSettings, registry: HostRegistry) -> BlueskyCollector:
        settings = BlueskySettings(
            appview_url=self.server.url, login_url=self.server.url, page_size=PAGE_SIZE
        )
        return BlueskyCollector(settings, collect, registry)

    def identity(self, key: str) -> Identity:
        return Identity(
            self.name,
            WORLD.handle(self.name, key),
            WORLD.account(self.name, key),
            display_name=WORLD.name(key),
        )

    def fault_path(self, method: str) -> str:
        return (
            "/xrpc/"
            + {
                "resolve": "app.bsky.actor.getProfile",
                "pages": "app.bsky.feed.getAuthorFeed",
                "refresh": "app.bsky.feed.getPosts",
                "profiles": "app.bsky.actor.getProfiles",
                "reception": "app.bsky.feed.getPostThread",
            }[method]
        )

    def page_of(self, items: list[Any]) -> Any:
        return {"feed": items}

    def leave(self, key: str, how: str) -> None:
        self.server.errors[WORLD.account(self.name, key)] = (400, self.ways_to_go[how], f"Account {how}")

    def add_post(self, key: str) -> str:
        did, handle = WORLD.account(self.name, key), WORLD.handle(self.name, key)
        view = post_view(did, handle, "3mgzzzzzzzz22", "Neu", NEWER, langs=("de",))
        self.server.feeds[did].insert(0, {"post": view})
        return str(view["uri"])

    def _view(self, key: str, item: str) -> dict[str, Any]:
        uri = WORLD.uri(self.name, key, item)
        (view,) = [
            i["post"]
            for i in self.server.feeds[WORLD.account(self.name, key)]
            if i["post"]["uri"] == uri and "reason" not in i
        ]
        return view

    def delete(self, key: str, item: str) -> None:
        did, uri = WORLD.account(self.name, key), WORLD.uri(self.name, key, item)
        self.server.feeds[did] = [i for i in self.server.feeds[did] if i["post"]["uri"] != uri]

    def set_likes(self, key: str, item: str, likes: int) -> None:
        self._view(key, item)["likeCount"] = likes

    def set_followers(self, key: str, followers: int) -> None:
        self.server.profiles[WORLD.account(self.name, key)]["followersCount"] = followers

    def add_quotes(self, key: str, item: str, count: int) -> None:
        uri = WORLD.uri(self.name, key, item)
        self.server.quoting[uri] = [
            post_view("did:plc:quoter", "quoter.test", f"q{n}", f"quote {n}", NEWER, embed=quote_embed(uri))
            for n in range(count)
        ]


class MastodonWorld:
    """The recorded world on a local Mastodon instance, and what a test may change in it."""

    name = "mastodon"
    recorded_gone = "suspended"  # the closed account: suspended by a moderator
    quote_page = 40

    def __init__(self) -> None:
        self.server = FakeMastodon(WORLD.mastodon_domain).load_recorded().start()

    def collector(self, collect: CollectSettings, registry: HostRegistry) -> MastodonCollector:
        settings = MastodonSettings(
            instance_urls={WORLD.mastodon_domain: self.server.url}, page_size=PAGE_SIZE
        )
        return MastodonCollector(settings, collect, registry)

    def identity(self, key: str) -> Identity:
        return Identity(
            self.name,
            WORLD.handle(self.name, key),
            WORLD.account(self.name, key),
            instance=WORLD.mastodon_domain,
            display_name=WORLD.name(key),
        )

    def fault_path(self, method: str) -> str:
        account, status_id = (
            WORLD.account(self.name, "ministry_de"),
            WORLD.native_id(self.name, "ministry_de", "de1"),
        )
        return {
            "resolve": "/api/v1/accounts/lookup",
            "pages": f"/api/v1/accounts/{account}/statuses",
            "refresh": f"/api/v1/accounts/{account}/statuses",
            "profiles": f"/api/v1/accounts/{account}",
            "reception": f"/api/v1/statuses/{status_id}/context",
        }[method]

    def page_of(self, items: list[Any]) -> Any:
        return items

    def leave(self, key: str, how: str) -> None:
        account = WORLD.account(self.name, key)
        if how == "suspended":
            self.server.suspended.add(account)
        elif how == "gone":
            self.server.gone[account] = 410
        else:
            self.server.accounts[account]["moved"] = {"id": "1", "acct": f"new@other.{WORLD.mastodon_domain}"}

    def add_post(self, key: str) -> str:
        account = WORLD.account(self.name, key)
        newest = max(int(s["id"]) for s in self.server.statuses[account])
        made = status(str(newest + 1000), self.server.accounts[account], "<p>Neu</p>", NEWER, language="de")
        self.server.statuses[account].insert(0, made)
        return str(made["uri"])

    def _status(self, key: str, item: str) -> dict[str, Any]:
        status_id = WORLD.native_id(self.name, key, item)
        (found,) = [s for s in self.server.statuses[WORLD.account(self.name, key)] if s["id"] == status_id]
        return found

    def delete(self, key: str, item: str) -> None:
        account, status_id = WORLD.account(self.name, key), WORLD.native_id(self.name, key, item)
        self.server.statuses[account] = [s for s in self.server.statuses[account] if s["id"] != status_id]

    def set_likes(self, key: str, item: str, likes: int) -> None:
        self._status(key, item)["favourites_count"] = likes

    def set_followers(self, key: str, followers: int) -> None:
        self.server.accounts[WORLD.account(self.name, key)]["followers_count"] = followers

    def add_quotes(self, key: str, item: str, count: int) -> None:
        status_id = WORLD.native_id(self.name, key, item)
        quoter = self.server.add_account("1790000000000", "quoter")
        assert self.server.quoting is not None
        self.server.quoting[status_id] = [
            status(str(1_790_000_000_000 + count - n), quoter, f"<p>quote {n}</p>", NEWER)
            for n in range(count)
        ]


World = BlueskyWorld | MastodonWorld


@pytest.fixture(params=["bluesky", "mastodon"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    made: World = BlueskyWorld() if request.param == "bluesky" else MastodonWorld()
    yield made
    made.server.stop()


@pytest.fixture
def make(world: World, fast: CollectSettings, clock: FakeClock) -> Iterator[Callable[..., Collector]]:
    """A collector for the world's server: fast settings, a fake clock, `collect` overrides."""
    made: list[Collector] = []

    def build(**collect: Any) -> Collector:
        settings = replace(fast, **collect)
        made.append(world.collector(settings, HostRegistry(settings, clock)))
        return made[-1]

    yield build
    for c in made:
        c.close()


def newest_first(platform: str, key: str) -> list[str]:
    return [WORLD.uri(platform, key, item) for item in reversed(WORLD.items_of(key))]


def uris(posts: Any) -> list[str]:
    return [p.uri for p in posts]


def walk(c: Collector, identity: Identity, floor: Floor, cursor: str | None = None) -> list[Any]:
    return list(c.pages(identity, floor, cursor))


def everything(c: Collector, world: World, key: str) -> list[Post]:
    return [
        p
        for page in walk(c, world.identity(key), Floor(time=NEWER - timedelta(days=365)))
        for p in page.posts
    ]


# --- resolve -------------------------------------------------------------------------------------


def test_resolve_finds_each_account_by_handle_then_by_id(world: World, make) -> None:
    c = make()
    for key in WATCHED:
        handle = WORLD.handle(world.name, key)
        assert c.resolve(handle) == world.identity(key), key
        assert c.resolve(handle, WORLD.account(world.name, key)) == world.identity(key), key


def test_resolve_an_unknown_handle_is_gone_not_found(world: World, make) -> None:
    unknown = "nobody-here.test" if world.name == "bluesky" else f"nobody@{WORLD.mastodon_domain}"
    with pytest.raises(Gone) as gone:
        make().resolve(unknown)
    assert gone.value.status == "not_found"


def test_resolve_the_recorded_closed_account_is_gone(world: World, make) -> None:
    """Deactivated on the Bluesky PDS, suspended on Mastodon: as the peers answered."""
    with pytest.raises(Gone) as gone:
        make().resolve(WORLD.handle(world.name, "gone"), WORLD.account(world.name, "gone"))
    assert gone.value.status == world.recorded_gone


@pytest.mark.parametrize(
    ("world", "how"),
    [
        ("bluesky", "deactivated"),
        ("bluesky", "suspended"),
        ("mastodon", "suspended"),
        ("mastodon", "gone"),
        ("mastodon", "moved"),
    ],
    indirect=["world"],
)
def test_resolve_an_account_that_went_says_how(world: World, make, how: str) -> None:
    c = make()
    identity = c.resolve(WORLD.handle(world.name, "embassy"))
    world.leave("embassy", how)
    with pytest.raises(Gone) as gone:
        c.resolve(identity.handle, identity.platform_id)
    assert (gone.value.status, gone.value.status in UNAVAILABLE) == (how, True)


# --- pages ---------------------------------------------------------------------------------------


def test_pages_walk_each_history_newest_first_in_page_size_pages(world: World, make) -> None:
    c = make()
    for key in WATCHED:
        pages = walk(c, world.identity(key), Floor(time=NEWER - timedelta(days=365)))
        posts = [p for page in pages for p in page.posts]
        assert uris(posts) == newest_first(world.name, key), key
        assert [page.done for page in pages] == [False] * (len(pages) - 1) + [True], key
        # page_size posts a page; Mastodon may end with an empty page (no `next` link after a short one)
        full = [min(PAGE_SIZE, len(posts) - n) for n in range(0, len(posts), PAGE_SIZE)]
        sizes = [len(page.posts) for page in pages]
        assert (sizes[: len(full)], any(sizes[len(full) :])) == (full, False), key
        assert pages[0].top is not None and all(p.author_id == WORLD.account(world.name, key) for p in posts)


def test_pages_carry_what_the_world_made(world: World, make) -> None:
    """Reposts point at the original, quotes at the quoted post; counts are the script's."""
    c = make()
    for key in WATCHED:
        for item, post in zip(reversed(WORLD.items_of(key)), everything(c, world, key), strict=True):
            if item.startswith("repost:"):
                original = item.removeprefix("repost:")
                assert (post.is_repost, post.repost_of_uri) == (
                    True,
                    WORLD.uri(world.name, WORLD.post(original)["by"], original),
                )
                assert post.engagement.total == 0  # the original's counts belong to its author
                continue
            script = WORLD.post(item)
            quoted = script["quote"] and WORLD.uri(
                world.name, WORLD.post(script["quote"])["by"], script["quote"]
            )
            engagement = (post.engagement.likes, post.engagement.reposts, post.engagement.replies)
            assert (post.is_repost, post.quote_of_uri, post.is_reply, post.languages, engagement) == (
                False,
                quoted or None,
                script["reply"] is not None,
                (script["lang"],),
                WORLD.counts(item)[:3],
            ), item


def test_pages_stop_at_a_floor_time(world: World, make) -> None:
    c = make()
    full = everything(c, world, "ministry_de")
    for k in (0, 4, 5, len(full) - 1):  # the newest, the last of page one, the first of page two, the oldest
        pages = walk(c, world.identity("ministry_de"), Floor(time=full[k].created_at))
        assert uris(p for page in pages for p in page.posts) == uris(full[: k + 1]), k
        assert pages[-1].done


def test_pages_stop_at_the_last_walks_marker(world: World, make) -> None:
    """A walk from the top of the last one brings what is new (and at most the post at the marker)."""
    c = make()
    identity = world.identity("ministry_de")
    first = walk(c, identity, Floor(time=NEWER - timedelta(days=365)))
    newest = first[0].posts[0].uri
    again = walk(c, identity, Floor(marker=first[0].top))
    assert uris(p for page in again for p in page.posts) in ([], [newest]) and again[-1].done
    added = world.add_post("ministry_de")
    later = walk(c, identity, Floor(marker=first[0].top))
    assert uris(p for page in later for p in page.posts) in ([added], [added, newest])
    assert later[-1].done and later[0].top != first[0].top


def test_a_walk_resumed_from_a_page_cursor_continues_exactly(world: World, make) -> None:
    c = make()
    identity, floor = world.identity("ministry_de"), Floor(time=NEWER - timedelta(days=365))
    pages = walk(c, identity, floor)
    assert len(pages) >= 3
    for n, page in enumerate(pages[:-1]):
        assert page.cursor is not None
        resumed = walk(c, identity, floor, page.cursor)
        assert [uris(p.posts) for p in resumed] == [uris(p.posts) for p in pages[n + 1 :]], n
        assert [p.done for p in resumed] == [p.done for p in pages[n + 1 :]], n


def test_a_walk_broken_by_a_fault_resumes_from_the_last_pages_cursor(world: World, make) -> None:
    c = make()
    identity, floor = world.identity("ministry_de"), Floor(time=NEWER - timedelta(days=365))
    whole = walk(c, identity, floor)
    broken = c.pages(identity, floor)
    first = next(broken)
    world.server.fail(world.fault_path("pages"), *[Fault(status=503)] * (FAST["max_retries"] + 1))
    with pytest.raises(HostUnavailable):
        next(broken)
    rest = walk(c, identity, floor, first.cursor)
    assert [uris(p.posts) for p in [first, *rest]] == [uris(p.posts) for p in whole]


def test_a_page_of_items_that_are_not_posts_ends_the_walk_without_posts(world: World, make) -> None:
    """One odd item never fails a page; a page of nothing but odd items has no posts and no next page."""
    odd = [1, "two", None, [], {"no": "post"}]
    world.server.fail(world.fault_path("pages"), Fault(body=json.dumps(world.page_of(odd)).encode()))
    pages = walk(make(), world.identity("ministry_de"), Floor(time=NEWER - timedelta(days=365)))
    assert pages == [Page(posts=(), cursor=None, top=None, done=True)]


# --- refresh -------------------------------------------------------------------------------------


def test_refresh_returns_current_counts_and_reports_gone_posts(world: World, make) -> None:
    c = make()
    identity = world.identity("ministry_de")
    known = [
        KnownPost(p.uri, p.native_id, p.created_at, p.is_repost) for p in everything(c, world, "ministry_de")
    ]
    world.set_likes("ministry_de", "de1", 42)
    world.delete("ministry_de", "de11")
    fresh = c.refresh(identity, known, NOW)
    expected = {
        WORLD.uri(world.name, "ministry_de", item): 42 if item == "de1" else WORLD.counts(item)[0]
        for item in WORLD.items_of("ministry_de")
        if not item.startswith("repost:") and item != "de11"
    }
    assert {p.uri: p.engagement.likes for p in fresh.posts if not p.is_repost} == expected
    assert fresh.gone == (WORLD.uri(world.name, "ministry_de", "de11"),)


def test_refresh_of_nothing_known_asks_nothing(world: World, make) -> None:
    c = make()
    before = len(world.server.seen)
    assert (c.refresh(world.identity("ministry_de"), [], NOW).posts, len(world.server.seen)) == ((), before)


# --- profiles ------------------------------------------------------------------------------------


def test_profiles_of_served_accounts_and_none_of_the_others(world: World, make) -> None:
    for n, key in enumerate(WATCHED):
        world.set_followers(key, 1000 + n)
    found = make().profiles([world.identity(key) for key in [*WATCHED, "gone"]], NOW)
    assert {
        pid: (p.platform, p.handle, p.display_name, p.followers, p.observed_at) for pid, p in found.items()
    } == {
        WORLD.account(world.name, key): (
            world.name,
            WORLD.handle(world.name, key),
            WORLD.name(key),
            1000 + n,
            NOW,
        )
        for n, key in enumerate(WATCHED)
    }


# --- reception -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        (1, {"ci2": "de1"}),
        (2, {"ci2": "de1", "ci4": "ci2"}),
        (3, {"ci2": "de1", "ci4": "ci2"}),  # de12, at depth 3, is ministry_de's own: left out
        (4, {"ci2": "de1", "ci4": "ci2", "es3": "de12"}),  # an answer to its own reply is kept
    ],
)
def test_reception_replies_down_to_depth(world: World, make, depth: int, expected: dict[str, str]) -> None:
    got = make().reception(
        world.identity("ministry_de"),
        known(world, "ministry_de", "de1"),
        replies=True,
        quotes=False,
        depth=depth,
        max_pages=1,
    )
    assert {(p.uri, p.reply_parent_uri) for p in got.replies} == {
        (item_uri(world, reply), item_uri(world, parent)) for reply, parent in expected.items()
    }
    assert (got.replies_read, got.quotes, got.quotes_read) == (True, (), False)


@pytest.mark.parametrize(
    ("key", "item", "quoted_by"), [("ministry_de", "de1", "ef3"), ("ministry_es", "es1", "de6")]
)
def test_reception_quotes_by_others(world: World, make, key: str, item: str, quoted_by: str) -> None:
    got = make().reception(
        world.identity(key), known(world, key, item), replies=False, quotes=True, depth=6, max_pages=2
    )
    assert (uris(got.quotes), got.quotes_read, got.replies, got.replies_read) == (
        [item_uri(world, quoted_by)],
        True,
        (),
        False,
    )


@pytest.mark.parametrize("max_pages", [1, 2])
def test_reception_reads_quotes_for_at_most_max_pages(world: World, make, max_pages: int) -> None:
    world.add_quotes("ministry_de", "de1", world.quote_page + 1)
    got = make().reception(
        world.identity("ministry_de"),
        known(world, "ministry_de", "de1"),
        replies=False,
        quotes=True,
        depth=1,
        max_pages=max_pages,
    )
    read_all = max_pages == 2
    assert (len(got.quotes), got.quotes_read) == (
        world.quote_page + 1 if read_all else world.quote_page,
        read_all,
    )


def known(world: World, key: str, item: str) -> KnownPost:
    return KnownPost(WORLD.uri(world.name, key, item), WORLD.native_id(world.name, key, item), NOW)


def item_uri(world: World, name: str) -> str:
    return WORLD.uri(world.name, WORLD.post(name)["by"], name)


# --- faults --------------------------------------------------------------------------------------

FAULTS: dict[str, tuple[Callable[[int], list[Fault]], type[CollectorError]]] = {
    "5xx": (lambda attempts: [Fault(status=503)] * attempts, HostUnavailable),
    "429": (lambda _: [Fault(status=429, headers={"Retry-After": "3600"})], RateLimited),
    "malformed": (lambda _: [Fault(body=b'{"feed": [{"post": ')], BadResponse),
    "not an object": (lambda _: [Fault(body=b'"busy"')], BadResponse),
    "timeout": (lambda attempts: [Fault(hang=threading.Event())] * attempts, HostUnavailable),
}
METHODS = ["resolve", "pages", "refresh", "profiles", "reception"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_faults_escape_only_as_collector_errors(world: World, make, method: str, fault: str) -> None:
    """Whatever the server does, a call raises a CollectorError of the right kind (profiles may
    instead leave the account out, as it does any account it was not served)."""
    identity = world.identity("ministry_de")
    seen = [KnownPost(p.uri, p.native_id, p.created_at) for p in everything(make(), world, "ministry_de")]
    retries = 1 if fault == "timeout" else FAST["max_retries"]
    c = make(timeout_seconds=0.1, max_retries=retries) if fault == "timeout" else make()
    calls: dict[str, Callable[[], object]] = {
        "resolve": lambda: c.resolve(identity.handle),
        "pages": lambda: walk(c, identity, Floor(time=NEWER - timedelta(days=365))),
        "refresh": lambda: c.refresh(identity, seen, NOW),
        "profiles": lambda: c.profiles([identity], NOW),
        "reception": lambda: c.reception(
            identity, known(world, "ministry_de", "de1"), replies=True, quotes=True, depth=6, max_pages=1
        ),
    }
    planned, expected = FAULTS[fault]
    faults = planned(int(retries) + 1)
    world.server.fail(world.fault_path(method), *faults)
    try:
        got: object = calls[method]()
    except CollectorError as exc:
        got = exc
    finally:
        for f in faults:
            if f.hang:
                f.hang.set()
    if not isinstance(got, CollectorError):
        assert (method, got) == ("profiles", {})
        return
    assert isinstance(got, expected), repr(got)
    if fault == "429":
        assert isinstance(got, RateLimited) and got.retry_after == 3600.0


# --- host and close ------------------------------------------------------------------------------


def test_host_is_the_accounts_server_every_time_and_close_is_idempotent(world: World, make) -> None:
    c = make()
    identities = [world.identity(key) for key in WATCHED]
    before = {c.host(i) for i in identities}
    for key in WATCHED:
        c.resolve(WORLD.handle(world.name, key))
    assert before == {c.host(i) for i in identities} == {world.server.host}
    c.close()
    c.close()
    make().close()  # never used


# --- the local servers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("platform", "name"), [(p, n) for p in ("bluesky", "mastodon") for n in names(p)])
def test_the_local_servers_answer_every_recorded_request_as_the_peers_did(platform: str, name: str) -> None:
    """Loaded with the recorded world, each local server gives the recorded answer, byte for byte
    once parsed: the fast tests read what the reference servers write."""
    server: FakeServer = FakeBluesky() if platform == "bluesky" else FakeMastodon(WORLD.mastodon_domain)
    try:
        server.load_recorded()  # type: ignore[attr-defined]
        recorded = exchange(platform, name)
        request = recorded["request"]
        status_code, _, answer = server.route(request["method"], request["path"], request["query"], {}, b"")
        assert (status_code, answer) == (recorded["status"], recorded["body"])
    finally:
        server.httpd.server_close()
