"""Bluesky through the atproto SDK: public AppView reads, an optional reused login session.

The SDK's `Client` does transport, sessions and error types; responses are read as JSON
item by item (collectors.bluesky_posts), so one odd post never fails a whole page — the
SDK's all-or-nothing response models have failed on new embed types before
(MarshalX/atproto#354, #604, #677).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from atproto_client import Client, models
from atproto_client import exceptions as atx
from atproto_client.request import Request

from collectors.bluesky_posts import (
    feed_item_to_post,
    is_pinned,
    parse_time,
    profile_to_record,
    sort_time,
    thread_replies,
    view_to_post,
    written_by,
)
from collectors.errors import AuthRequired, BadResponse, CollectorError, Gone, HostUnavailable, RateLimited
from collectors.http import HostRegistry, PoliteTransport
from collectors.records import Floor, Identity, KnownPost, Page, Post, Profile, Reception, Refreshed
from collectors.settings import BlueskySettings, CollectSettings, FeedFilter

log = logging.getLogger(__name__)
BATCH = 25  # getPosts and getProfiles take at most 25 at once
LOGIN_RETRY_SECONDS = 900.0  # createSession is limited to 30 per 5 minutes per account
_GONE = {
    "AccountDeactivated": "deactivated",
    "AccountTakedown": "suspended",
    "RepoDeactivated": "deactivated",
    "RepoTakendown": "suspended",
    "RepoSuspended": "suspended",
}
_NOT_FOUND = ("profile not found", "unable to resolve handle", "could not find", "actor not found")
_DROPS_REPLIES: frozenset[str] = frozenset({"posts_and_author_threads", "posts_no_replies"})


def author_feed_filter(settings: BlueskySettings, collect: CollectSettings) -> FeedFilter:
    """The getAuthorFeed filter: `include_replies` decides, an explicit `feed_filter` may only narrow.

    `posts_and_author_threads` (the AppView's default view of a profile) leaves out replies to
    other accounts, so it is the filter only when replies are not wanted; `posts_with_replies`
    keeps everything. An explicit filter that would drop the replies `include_replies` asks
    for is overruled, with a warning, so the two settings never disagree silently.
    """
    derived: FeedFilter = "posts_with_replies" if collect.include_replies else "posts_and_author_threads"
    chosen = settings.feed_filter
    if chosen is None or chosen == derived:
        return derived
    if collect.include_replies and chosen in _DROPS_REPLIES:
        log.warning(
            "[bluesky] feed_filter = %r leaves out replies to other accounts while [collect] "
            "include_replies = true: reading %r (remove feed_filter; include_replies decides)",
            chosen,
            derived,
        )
        return derived
    return chosen


class BlueskyCollector:
    """Reads Bluesky accounts, posts, engagement and profiles."""

    platform = "bluesky"

    def __init__(
        self,
        settings: BlueskySettings,
        collect: CollectSettings,
        registry: HostRegistry,
        *,
        password: str | None = None,
        session_path: Path | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.settings, self.collect, self.registry = settings, collect, registry
        self._password, self._session_path, self._inner = password, session_path, transport
        self.feed_filter = author_feed_filter(settings, collect)
        self._public = Client(base_url=settings.appview_url, request=self._request())
        self._authed: Client | None = None
        self._login_lock = threading.Lock()
        self._login_after = 0.0

    def _request(self) -> Request:
        transport = PoliteTransport(self.registry, self.settings.requests_per_5min, self._inner)
        request = Request(transport=transport, timeout=self.collect.timeout_seconds)
        request.add_additional_header("User-Agent", self.collect.user_agent)
        return request

    def close(self) -> None:
        """Close the HTTP connections."""
        for client in (self._public, self._authed):
            if client is not None:
                client.request.close()

    def host(self, identity: Identity | None = None) -> str:
        """The host this collector's reads go to."""
        client = self._authed or self._public
        return urlsplit(client._base_url).netloc

    def resolve(self, handle: str, platform_id: str | None = None) -> Identity:
        """Handle (or, once known, DID) -> DID and the handle the network reports now."""
        data = self._query(
            "app.bsky.actor.getProfile", models.AppBskyActorGetProfile.Params(actor=platform_id or handle)
        )
        did, current = data.get("did"), data.get("handle")
        if not isinstance(did, str) or not did.startswith("did:"):
            raise BadResponse(f"getProfile for {handle} returned no DID")
        invalid = current == "handle.invalid"
        return Identity(
            self.platform,
            handle if invalid or not current else str(current).lower(),
            did,
            display_name=data.get("displayName") or None,
            status="invalid_handle" if invalid else "ok",
        )

    def pages(self, identity: Identity, floor: Floor, cursor: str | None = None) -> Iterator[Page]:
        """The account's feed from `cursor` (or the top) down to `floor`, a page at a time."""
        while True:
            params = models.AppBskyFeedGetAuthorFeed.Params(
                actor=identity.platform_id,
                limit=self.settings.page_size,
                filter=self.feed_filter,
                cursor=cursor,
            )
            page = self._cut(identity, self._author_feed(identity, params), floor, cursor)
            yield page
            if page.done:
                return
            cursor = page.cursor

    def _author_feed(self, identity: Identity, params: Any) -> dict[str, Any]:
        try:
            return self._query("app.bsky.feed.getAuthorFeed", params)
        except Gone as exc:
            # The AppView says "Profile not found" here for deactivated and taken-down accounts
            # too; only getProfile says which. A profile that still resolves keeps this error.
            if exc.status == "not_found":
                self.resolve(identity.handle, identity.platform_id)
            raise

    def _cut(self, identity: Identity, data: Mapping[str, Any], floor: Floor, cursor: str | None) -> Page:
        feed = data.get("feed")
        if not isinstance(feed, list):
            raise BadResponse("getAuthorFeed answered without a feed list")
        bottom = parse_time(floor.marker) or floor.time
        posts: list[Post] = []
        top, reached = None, False
        for item in feed:
            if not isinstance(item, Mapping):
                continue
            at, pinned = sort_time(item), is_pinned(item)
            if not pinned and at is not None:
                top = max(top, at) if top else at
                if bottom is not None and at < bottom:
                    reached = True
                    continue
            post = feed_item_to_post(item)
            if post is None or not self._wanted(identity, post):
                continue
            if pinned and bottom is not None and (at is None or at < bottom):
                continue  # an old pinned post, shown on top of page one
            posts.append(post)
        next_cursor = data.get("cursor") if isinstance(data.get("cursor"), str) else None
        done = reached or not next_cursor or next_cursor == cursor
        return Page(tuple(posts), next_cursor, top.isoformat() if top else None, done)

    def _wanted(self, identity: Identity, post: Post) -> bool:
        if post.author_id != identity.platform_id:
            return False
        if post.is_repost:
            return self.collect.include_reposts
        own_thread = (post.reply_root_uri or "").startswith(f"at://{identity.platform_id}/")
        return self.collect.include_replies or not post.is_reply or own_thread

    def refresh(self, identity: Identity, known: Sequence[KnownPost], now: datetime) -> Refreshed:
        """Re-read the account's own recent posts (25 per getPosts); missing ones are gone."""
        uris = [k.uri for k in known if not k.is_repost]
        found: dict[str, Post] = {}
        for i in range(0, len(uris), BATCH):
            params = models.AppBskyFeedGetPosts.Params(uris=uris[i : i + BATCH])
            views = self._query("app.bsky.feed.getPosts", params).get("posts")
            if not isinstance(views, list):
                raise BadResponse("getPosts answered without a posts list")
            for view in views:
                if isinstance(view, Mapping) and view.get("uri") in uris:
                    found[view["uri"]] = view_to_post(view)
        gone = tuple(u for u in uris if u not in found)
        if uris and len(gone) == len(uris):
            self.resolve(identity.handle, identity.platform_id)  # a gone account raises Gone here
        return Refreshed(tuple(found.values()), gone)

    def reception(
        self, identity: Identity, post: KnownPost, *, replies: bool, quotes: bool, depth: int, max_pages: int
    ) -> Reception:
        """The thread below the post (getPostThread, no parents) and its quotes (getQuotes)."""
        found, withheld, quoting = [], 0, []
        if replies:
            params = models.AppBskyFeedGetPostThread.Params(uri=post.uri, depth=depth, parent_height=0)
            found, withheld = thread_replies(self._query("app.bsky.feed.getPostThread", params).get("thread"),
                                             identity.platform_id)  # fmt: skip
        cursor: str | None = None
        for _ in range(max_pages if quotes else 0):
            params = models.AppBskyFeedGetQuotes.Params(uri=post.uri, limit=100, cursor=cursor)
            data = self._query("app.bsky.feed.getQuotes", params)
            views = [v for v in data.get("posts") or () if isinstance(v, Mapping) and v.get("uri")]
            quoting += [view_to_post(v) for v in views if not written_by(v, identity.platform_id)]
            cursor = data.get("cursor") if isinstance(data.get("cursor"), str) else None
            if not cursor or not views:
                break
        return Reception(tuple(found), tuple(quoting), replies, quotes and cursor is None, withheld)

    def profiles(self, identities: Sequence[Identity], now: datetime) -> dict[str, Profile]:
        """Follower numbers by DID (getProfiles, 25 at a time); accounts not served are left out."""
        out: dict[str, Profile] = {}
        dids = [i.platform_id for i in identities]
        for i in range(0, len(dids), BATCH):
            params = models.AppBskyActorGetProfiles.Params(actors=dids[i : i + BATCH])
            for data in self._query("app.bsky.actor.getProfiles", params).get("profiles") or ():
                if isinstance(data, Mapping) and data.get("did") in dids:
                    out[data["did"]] = profile_to_record(data, now)
        return out

    def _query(self, nsid: str, params: Any) -> dict[str, Any]:
        client = self._client()
        try:
            response = client.invoke_query(nsid, params=params)
        except CollectorError:
            raise
        except atx.AtProtocolError as exc:
            error = _translate(exc, nsid)
            if isinstance(error, AuthRequired) and client is self._authed:
                self._drop_session()
            raise error from exc
        except ValueError as exc:  # the body claimed JSON but was not
            raise BadResponse(f"{nsid}: malformed JSON ({exc})"[:300]) from exc
        if not isinstance(response.content, dict):
            raise BadResponse(f"{nsid}: expected a JSON object")
        return response.content

    def _client(self) -> Client:
        if not self.settings.login_handle or not self._password:
            return self._public
        with self._login_lock:
            if self._authed is None and self.registry.clock.monotonic() >= self._login_after:
                self._authed = self._login()
            return self._authed or self._public

    def _login(self) -> Client | None:
        client = Client(base_url=self.settings.login_url, request=self._request())
        client.on_session_change(lambda _event, session: self._save_session(session.export()))
        saved = self._load_session()
        try:
            if saved:
                client.login(session_string=saved, fetch_bsky_profile=False)
            else:
                client.login(self.settings.login_handle, self._password, fetch_bsky_profile=False)
            return client
        except (atx.AtProtocolError, CollectorError, ValueError) as exc:
            self._login_after = self.registry.clock.monotonic() + LOGIN_RETRY_SECONDS
            log.warning(
                "Bluesky login as %s failed (%s); reading the public AppView for now",
                self.settings.login_handle,
                exc.__class__.__name__,
            )
            return None

    def _drop_session(self) -> None:
        with self._login_lock:
            self._authed = None
            if self._session_path:
                self._session_path.unlink(missing_ok=True)

    def _load_session(self) -> str | None:
        try:
            text = self._session_path.read_text(encoding="utf-8").strip() if self._session_path else ""
        except OSError:
            return None
        return text or None

    def _save_session(self, value: str) -> None:
        if not self._session_path:
            return
        self._session_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._session_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(value)


def _translate(exc: atx.AtProtocolError, nsid: str) -> CollectorError:
    response = getattr(exc, "response", None)
    content = getattr(response, "content", None)
    name = getattr(content, "error", None) or ""
    message = getattr(content, "message", None) or ""
    where = f"{nsid}: {response.status_code if response else ''} {name} {message}".strip()
    if name in _GONE:
        return Gone(_GONE[name], where)
    if any(s in message.lower() for s in _NOT_FOUND):
        return Gone("not_found", where)
    if isinstance(exc, atx.UnauthorizedError) or name in (
        "ExpiredToken",
        "InvalidToken",
        "AuthenticationRequired",
    ):
        return AuthRequired(f"{where}: Bluesky wants a (new) login")
    if isinstance(exc, atx.RateLimitExceededError):
        return RateLimited(where)
    if isinstance(exc, atx.NetworkError) or (response is not None and response.status_code >= 500):
        return HostUnavailable(where if response is not None else f"{nsid}: {exc.__class__.__name__}")
    return BadResponse(where)
