"""What only the Bluesky collector does: feed filters, pinned posts, handles, batches, logins.

What both collectors promise (collectors/protocol.py) is tested once, in test_contract.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from collectors.bluesky import BlueskyCollector, author_feed_filter
from collectors.errors import Gone
from collectors.http import HostRegistry
from collectors.records import Floor, KnownPost
from collectors.settings import BlueskySettings, CollectSettings
from tests.collectors.conftest import bluesky_settings
from tests.collectors.payloads import external_embed, facet, post_view, quote_embed, repost_item
from tests.collectors.servers import FakeBluesky, Fault
from tests.conftest import NOW

DID, HANDLE = "did:plc:embassy", "embassy.example.org"


@pytest.fixture
def opened() -> Iterator[list[BlueskyCollector]]:
    made: list[BlueskyCollector] = []
    yield made
    for c in made:
        c.close()


@pytest.fixture
def make(
    bsky: FakeBluesky, fast: CollectSettings, registry: HostRegistry, opened
) -> Callable[..., BlueskyCollector]:
    def build(settings: BlueskySettings | None = None, **kw: object) -> BlueskyCollector:
        opened.append(BlueskyCollector(settings or bluesky_settings(bsky), fast, registry, **kw))  # type: ignore[arg-type]
        return opened[-1]

    return build


def _history(bsky: FakeBluesky, n: int) -> list[dict]:
    bsky.add_account(DID, HANDLE)
    views = [post_view(DID, HANDLE, f"p{i}", f"post {i}", NOW - timedelta(hours=i)) for i in range(n)]
    bsky.feeds[DID] = [{"post": v} for v in views]
    return views


def test_resolve_follows_a_changed_handle_by_did_and_flags_an_invalid_one(bsky: FakeBluesky, make) -> None:
    """Found, unknown and gone accounts are in test_contract.py; these two are Bluesky's own."""
    c = make()
    bsky.add_account(DID, HANDLE)
    bsky.profiles[DID]["handle"] = "new.example.org"  # handle changed: found again by DID
    assert c.resolve(HANDLE, DID).handle == "new.example.org"
    bsky.profiles[DID]["handle"] = "handle.invalid"
    assert (c.resolve(HANDLE, DID).handle, c.resolve(HANDLE, DID).status) == (HANDLE, "invalid_handle")


def test_pages_follow_cursors_past_short_pages(bsky: FakeBluesky, make) -> None:
    bsky.page_size = 3  # pages end early: 3 items while we ask for 100
    views = _history(bsky, 8)
    c = make()
    identity = c.resolve(HANDLE)
    pages = list(c.pages(identity, Floor(time=NOW - timedelta(days=30))))
    assert [p.done for p in pages] == [False, False, True]
    assert [p.uri for page in pages for p in page.posts] == [v["uri"] for v in views]
    # Incremental: stop at the watermark.
    again = list(c.pages(identity, Floor(marker=(NOW - timedelta(hours=2)).isoformat())))
    assert [p.uri for page in again for p in page.posts] == [v["uri"] for v in views[:3]]
    assert again[-1].done and not again[-1].posts  # a post at the watermark itself is read again
    assert [dict(s.query) for s in bsky.calls("/xrpc/app.bsky.feed.getAuthorFeed")[:2]] == [
        {"actor": [DID], "limit": ["100"], "filter": ["posts_with_replies"], "includePins": ["false"]},
        {
            "actor": [DID],
            "limit": ["100"],
            "filter": ["posts_with_replies"],
            "includePins": ["false"],
            "cursor": ["3"],
        },
    ]


def test_a_pinned_post_on_top_never_stops_a_walk_nor_moves_the_watermark(bsky: FakeBluesky, make) -> None:
    bsky.page_size = 3
    views = _history(bsky, 8)
    bsky.pinned[DID] = views[6]  # an older post, pinned
    # diplomonitor never asks for pins; an AppView that shows them anyway answers page one so:
    first = bsky._feed(DID, {"includePins": ["true"], "filter": ["posts_with_replies"]}, 100)
    assert first["feed"][0]["reason"]["$type"] == "app.bsky.feed.defs#reasonPin"
    bsky.fail("/xrpc/app.bsky.feed.getAuthorFeed", Fault(body=json.dumps(first).encode()))
    c = make()
    identity = c.resolve(HANDLE)
    pages = list(c.pages(identity, Floor(time=NOW - timedelta(days=30))))
    uris = [p.uri for page in pages for p in page.posts]
    assert uris.count(views[6]["uri"]) == 2  # on top, and in its place: the store dedupes
    assert set(uris) == {v["uri"] for v in views}
    assert pages[0].top == NOW.isoformat()  # the pinned post never moves the watermark
    bsky.fail("/xrpc/app.bsky.feed.getAuthorFeed", Fault(body=json.dumps(first).encode()))
    again = list(c.pages(identity, Floor(marker=(NOW - timedelta(hours=2)).isoformat())))
    assert [p.uri for page in again for p in page.posts] == [v["uri"] for v in views[:3]]


def _conversation(bsky: FakeBluesky) -> dict[str, str]:
    """Own posts, a self-thread, a reply to another account and a repost, newest first."""
    bsky.add_account(DID, HANDLE)
    other = "did:plc:citizen"
    theirs = post_view(other, "citizen.example", "c1", "a question", NOW - timedelta(hours=9))
    root = post_view(DID, HANDLE, "t0", "a thread", NOW - timedelta(hours=8))
    own = (f"at://{DID}/app.bsky.feed.post/t0",) * 2
    one = post_view(DID, HANDLE, "t1", "1/", NOW - timedelta(hours=7), reply=own)
    two = post_view(DID, HANDLE, "t2", "2/", NOW - timedelta(hours=6), reply=(one["uri"], root["uri"]))
    answer = post_view(DID, HANDLE, "r1", "an answer", NOW - timedelta(hours=5), reply=(theirs["uri"],) * 2)
    plain = post_view(DID, HANDLE, "p1", "news", NOW - timedelta(hours=4))
    bsky.feeds[DID] = [
        repost_item(theirs, DID, HANDLE, NOW - timedelta(hours=3), "rp"),
        {"post": plain},
        {"post": answer},
        {"post": two},
        {"post": one},
        {"post": root},
    ]
    return {"root": root["uri"], "one": one["uri"], "two": two["uri"], "answer": answer["uri"],
            "plain": plain["uri"], "repost": f"at://{DID}/app.bsky.feed.repost/rp"}  # fmt: skip


def _collected(c: BlueskyCollector) -> list[str]:
    pages = c.pages(c.resolve(HANDLE), Floor(time=NOW - timedelta(days=1)))
    return [p.uri for page in pages for p in page.posts]


def test_replies_to_other_accounts_are_collected_by_default(bsky: FakeBluesky, make) -> None:
    """Issue 10.1: the AppView's posts_and_author_threads leaves replies to others out."""
    uri = _conversation(bsky)
    assert _collected(make()) == [uri[k] for k in ("repost", "plain", "answer", "two", "one", "root")]
    assert bsky.calls("/xrpc/app.bsky.feed.getAuthorFeed")[0].query["filter"] == ["posts_with_replies"]


def test_without_replies_own_threads_stay_and_replies_to_others_go(
    bsky: FakeBluesky, fast: CollectSettings, registry: HostRegistry, opened
) -> None:
    uri = _conversation(bsky)
    c = BlueskyCollector(bluesky_settings(bsky), replace(fast, include_replies=False), registry)
    opened.append(c)
    assert _collected(c) == [uri[k] for k in ("repost", "plain", "two", "one", "root")]
    assert bsky.calls("/xrpc/app.bsky.feed.getAuthorFeed")[0].query["filter"] == ["posts_and_author_threads"]


@pytest.mark.parametrize(
    ("include_replies", "feed_filter", "sent"),
    [
        (True, None, "posts_with_replies"),
        (False, None, "posts_and_author_threads"),
        (True, "posts_and_author_threads", "posts_with_replies"),  # contradicts include_replies: overruled
        (True, "posts_no_replies", "posts_with_replies"),
        (False, "posts_no_replies", "posts_no_replies"),  # narrows: own threads left out too
        (False, "posts_with_replies", "posts_with_replies"),  # replies to others dropped here instead
    ],
)
def test_include_replies_decides_the_feed_filter(
    include_replies: bool, feed_filter: str | None, sent: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = BlueskySettings(feed_filter=feed_filter)  # type: ignore[arg-type]
    assert author_feed_filter(settings, CollectSettings(include_replies=include_replies)) == sent
    overruled = include_replies and feed_filter not in (None, "posts_with_replies")
    assert [r.levelname for r in caplog.records] == (["WARNING"] if overruled else [])


def test_the_local_appview_filters_as_the_reference_does(bsky: FakeBluesky) -> None:
    """posts_and_author_threads keeps a self-thread only when its whole chain is on the page."""
    uri = _conversation(bsky)
    bsky.page_size = 4  # the thread's root lands on page two: its replies on page one are dropped

    def served(wanted: str) -> list[str]:
        cursor, out = None, []
        while True:
            query = {"filter": [wanted], **({"cursor": [cursor]} if cursor else {})}
            body = bsky._feed(DID, query, 100)
            out += [i.get("reason", {}).get("uri") or i["post"]["uri"] for i in body["feed"]]
            if not (cursor := body.get("cursor")):
                return out

    assert served("posts_with_replies") == [
        uri[k] for k in ("repost", "plain", "answer", "two", "one", "root")
    ]
    assert served("posts_no_replies") == [uri[k] for k in ("repost", "plain", "root")]
    assert served("posts_and_author_threads") == [uri[k] for k in ("repost", "plain", "root")]
    bsky.page_size = 100
    assert served("posts_and_author_threads") == [uri[k] for k in ("repost", "plain", "two", "one", "root")]


def test_an_account_deactivated_after_resolution_is_flagged_deactivated(bsky: FakeBluesky, make) -> None:
    """getAuthorFeed says only "Profile not found"; getProfile says why."""
    _history(bsky, 2)
    c = make()
    identity = c.resolve(HANDLE)
    bsky.errors[DID] = (400, "AccountDeactivated", "Account is deactivated")
    with pytest.raises(Gone) as gone:
        list(c.pages(identity, Floor(time=NOW - timedelta(days=1))))
    assert gone.value.status == "deactivated"
    del bsky.errors[DID], bsky.profiles[DID]  # vanished entirely: not found
    with pytest.raises(Gone) as missing:
        list(c.pages(identity, Floor(time=NOW - timedelta(days=1))))
    assert missing.value.status == "not_found"


def test_posts_keep_facets_replies_quotes_cards_reposts_and_unknown_embeds(bsky, make) -> None:
    bsky.add_account(DID, HANDLE)
    text = "Японія 🇯🇵 友好 #Kultur مرحبا @amb.example.org"
    facets = [
        facet(text, "#Kultur", {"$type": "app.bsky.richtext.facet#tag", "tag": "Kultur"}),
        facet(text, "@amb.example.org", {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:a"}),
    ]
    other = post_view(
        "did:plc:other", "other.example", "o1", "their post", NOW - timedelta(days=2), likes=900
    )
    quoted = "at://did:plc:other/app.bsky.feed.post/q1"
    bsky.feeds[DID] = [
        {
            "post": post_view(
                DID, HANDLE, "a", text, NOW, likes=5, quotes=2, langs=("uk", "ja"), facets=facets
            )
        },
        repost_item(other, DID, HANDLE, NOW - timedelta(hours=1), "r1"),
        {"post": post_view(DID, HANDLE, "b", "quoting", NOW - timedelta(hours=2), embed=quote_embed(quoted))},
        {
            "post": post_view(
                DID,
                HANDLE,
                "c",
                "a reply",
                NOW - timedelta(hours=3),
                reply=("at://did:plc:x/app.bsky.feed.post/1", "at://did:plc:x/app.bsky.feed.post/0"),
            )
        },
        {
            "post": post_view(
                DID,
                HANDLE,
                "d",
                "card",
                NOW - timedelta(hours=4),
                embed=external_embed("https://www.example.gov/news"),
            )
        },
        {
            "post": post_view(
                DID,
                HANDLE,
                "e",
                "future",
                NOW - timedelta(hours=5),
                embed={"$type": "app.bsky.embed.hologram#view", "beam": {"x": 1}},
            )
        },
    ]
    c = make()
    (page,) = list(c.pages(c.resolve(HANDLE), Floor(time=NOW - timedelta(days=1))))
    a, r, b, reply, card, future = page.posts
    assert (a.text, a.languages, a.hashtags, a.mentions) == (
        text,
        ("uk", "ja"),
        ("Kultur",),
        ("amb.example.org",),
    )
    assert (a.engagement.likes, a.engagement.quotes, a.created_at) == (5, 2, NOW)
    assert (r.is_repost, r.repost_of_uri, r.repost_of_author, r.uri) == (
        True,
        other["uri"],
        "other.example",
        f"at://{DID}/app.bsky.feed.repost/r1",
    )
    assert (r.author_id, r.created_at, r.engagement.likes) == (DID, NOW - timedelta(hours=1), None)
    assert b.quote_of_uri == quoted and b.is_quote
    assert (reply.reply_parent_uri, reply.reply_root_uri) == (
        "at://did:plc:x/app.bsky.feed.post/1",
        "at://did:plc:x/app.bsky.feed.post/0",
    )
    assert card.links == ("https://www.example.gov/news",)
    assert future.raw["embed"] == {"$type": "app.bsky.embed.hologram#view", "beam": {"x": 1}}


def test_refresh_asks_getposts_25_at_a_time(bsky: FakeBluesky, make) -> None:
    views = _history(bsky, 30)
    c = make()
    known = [KnownPost(v["uri"], None, NOW) for v in views]
    known.append(KnownPost(f"at://{DID}/app.bsky.feed.post/deleted", None, NOW))
    fresh = c.refresh(c.resolve(HANDLE), known, NOW)
    assert (len(fresh.posts), fresh.gone) == (30, (f"at://{DID}/app.bsky.feed.post/deleted",))
    assert [len(s.query["uris"]) for s in bsky.calls("/xrpc/app.bsky.feed.getPosts")] == [25, 6]


def test_profiles_in_batches_of_25(bsky: FakeBluesky, make) -> None:
    for i in range(30):
        bsky.add_account(f"did:plc:{i}", f"a{i}.example.org", followers=i)
    c = make()
    ids = [c.resolve(f"a{i}.example.org") for i in range(30)]
    found = c.profiles(ids, NOW)
    assert {did: p.followers for did, p in found.items()} == {f"did:plc:{i}": i for i in range(30)}
    assert [len(s.query["actors"]) for s in bsky.calls("/xrpc/app.bsky.actor.getProfiles")] == [25, 5]


def test_login_once_then_session_reused_refreshed_and_kept(bsky: FakeBluesky, make, tmp_path: Path) -> None:
    _history(bsky, 1)
    session_file = tmp_path / "session"
    settings = bluesky_settings(bsky, login_handle="me.example", session_file=str(session_file))
    c = make(settings, password="app-pass", session_path=session_file)
    for _ in range(3):
        c.resolve(HANDLE)
    calls = bsky.calls("/xrpc/app.bsky.actor.getProfile")
    assert bsky.sessions == 1 and all(s.headers["Authorization"].startswith("Bearer ") for s in calls)
    assert session_file.stat().st_mode & 0o777 == 0o600
    bsky.access_ttl = timedelta(minutes=5)  # a token about to expire is refreshed, not replaced by a login
    c2 = make(settings, password="app-pass", session_path=session_file)
    c2.resolve(HANDLE)
    assert bsky.sessions == 1 and bsky.refreshes == 0  # the saved session was imported
    c2._authed._session.access_jwt = bsky._session("me.example")["accessJwt"]  # expiring soon
    c2.resolve(HANDLE)
    assert (bsky.sessions, bsky.refreshes) == (1, 1)
