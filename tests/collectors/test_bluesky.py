from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from collectors.bluesky import BlueskyCollector
from collectors.errors import BadResponse, Gone
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


def test_resolve_flags_gone_and_invalid_accounts(bsky: FakeBluesky, make) -> None:
    c = make()
    bsky.add_account(DID, HANDLE)
    assert (c.resolve(HANDLE).platform_id, c.resolve(HANDLE).status) == (DID, "ok")
    bsky.profiles[DID]["handle"] = "new.example.org"  # handle changed: found again by DID
    assert c.resolve(HANDLE, DID).handle == "new.example.org"
    bsky.profiles[DID]["handle"] = "handle.invalid"
    assert (c.resolve(HANDLE, DID).handle, c.resolve(HANDLE, DID).status) == (HANDLE, "invalid_handle")
    with pytest.raises(Gone) as missing:
        c.resolve("nobody.example.org")
    bsky.errors["did:plc:off"] = (400, "AccountDeactivated", "Account is deactivated")
    with pytest.raises(Gone) as off:
        c.resolve("off.example.org", "did:plc:off")
    bsky.errors["did:plc:down"] = (400, "AccountTakedown", "Account has been suspended")
    with pytest.raises(Gone) as down:
        c.resolve("down.example.org", "did:plc:down")
    assert (missing.value.status, off.value.status, down.value.status) == (
        "not_found",
        "deactivated",
        "suspended",
    )


def test_pages_follow_cursors_past_short_pages_and_the_pinned_post(bsky: FakeBluesky, make) -> None:
    bsky.page_size = 3  # pages end early: 3 items while we ask for 100
    views = _history(bsky, 8)
    bsky.pinned[DID] = views[6]  # an older post pinned on top of page one
    c = make()
    identity = c.resolve(HANDLE)
    pages = list(c.pages(identity, Floor(time=NOW - timedelta(days=30))))
    uris = [p.uri for page in pages for p in page.posts]
    assert len(pages) == 3 and [p.done for p in pages] == [False, False, True]
    assert uris.count(views[6]["uri"]) == 2  # kept where it was, and on top: the store dedupes
    assert set(uris) == {v["uri"] for v in views}
    assert pages[0].top == (NOW).isoformat()  # the pinned post never moves the watermark
    # Incremental: stop at the watermark even though the pinned (older) post comes first.
    again = list(c.pages(identity, Floor(marker=(NOW - timedelta(hours=2)).isoformat())))
    assert [p.uri for page in again for p in page.posts] == [v["uri"] for v in views[:3]]
    assert again[-1].done and not again[-1].posts  # a post at the watermark itself is read again
    assert bsky.calls("/xrpc/app.bsky.feed.getAuthorFeed")[0].query["limit"] == ["100"]
    assert bsky.calls("/xrpc/app.bsky.feed.getAuthorFeed")[0].query["filter"] == ["posts_and_author_threads"]


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


def test_malformed_json_is_a_bad_response(bsky: FakeBluesky, make) -> None:
    _history(bsky, 2)
    c = make()
    identity = c.resolve(HANDLE)
    bsky.fail("/xrpc/app.bsky.feed.getAuthorFeed", Fault(body=b'{"feed": [{"post": '))
    with pytest.raises(BadResponse):
        list(c.pages(identity, Floor(time=NOW - timedelta(days=1))))


def test_refresh_uses_getposts_by_25_and_reports_gone_posts(bsky: FakeBluesky, make) -> None:
    views = _history(bsky, 30)
    c = make()
    identity = c.resolve(HANDLE)
    known = [KnownPost(v["uri"], None, NOW) for v in views]
    known.append(KnownPost(f"at://{DID}/app.bsky.feed.post/deleted", None, NOW))
    views[0]["likeCount"] = 77
    fresh = c.refresh(identity, known, NOW)
    assert len(fresh.posts) == 30 and fresh.gone == (f"at://{DID}/app.bsky.feed.post/deleted",)
    assert {p.uri: p.engagement.likes for p in fresh.posts}[views[0]["uri"]] == 77
    assert [len(s.query["uris"]) for s in bsky.calls("/xrpc/app.bsky.feed.getPosts")] == [25, 6]


def test_profiles_in_batches_of_25(bsky: FakeBluesky, make) -> None:
    for i in range(30):
        bsky.add_account(f"did:plc:{i}", f"a{i}.example.org", followers=i)
    c = make()
    ids = [c.resolve(f"a{i}.example.org") for i in range(30)]
    bsky.errors["did:plc:3"] = (400, "AccountDeactivated", "gone")
    found = c.profiles(ids, NOW)
    assert len(found) == 29 and found["did:plc:7"].followers == 7
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
