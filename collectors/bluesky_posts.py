"""Bluesky JSON (app.bsky.feed.defs) to records: pure functions, no I/O.

Payloads are read as plain JSON, item by item, so a post with an embed type this code has
never seen keeps its raw JSON and the rest of the page goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from collectors.records import Engagement, Post, Profile
from collectors.text import read_facets

PLATFORM = "bluesky"
REASON_REPOST = "app.bsky.feed.defs#reasonRepost"
REASON_PIN = "app.bsky.feed.defs#reasonPin"
_QUOTE_VIEWS = ("app.bsky.embed.record#view", "app.bsky.embed.recordWithMedia#view")


def parse_time(value: Any) -> datetime | None:
    """An atproto datetime (ISO 8601, any offset) as aware UTC; None if unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def is_pinned(item: Mapping[str, Any]) -> bool:
    """The AppView put this item on top because it is pinned (it also appears in its place)."""
    reason = item.get("reason")
    return isinstance(reason, Mapping) and reason.get("$type") == REASON_PIN


def sort_time(item: Mapping[str, Any]) -> datetime | None:
    """The time the author feed is ordered by: the repost time, else min(createdAt, indexedAt)."""
    reason = item.get("reason")
    if isinstance(reason, Mapping) and reason.get("$type") == REASON_REPOST:
        return parse_time(reason.get("indexedAt"))
    post = item.get("post") or {}
    times = [
        t
        for t in (parse_time((post.get("record") or {}).get("createdAt")), parse_time(post.get("indexedAt")))
        if t
    ]
    return min(times) if times else None


def feed_item_to_post(item: Mapping[str, Any]) -> Post | None:
    """A feed item as a Post by the account: its own post, or its repost of someone else's."""
    view = item.get("post")
    if not isinstance(view, Mapping) or not view.get("uri"):
        return None
    post = view_to_post(view)
    reason = item.get("reason")
    if not isinstance(reason, Mapping) or reason.get("$type") != REASON_REPOST:
        return post
    by = reason.get("by") or {}
    if not by.get("did"):
        return None
    # The repost record's own uri when the AppView sends it; else one key per (reposter, post).
    key = reason.get("uri") or f"{post.uri}#repost-by-{by['did']}"
    reposted_at = parse_time(reason.get("indexedAt")) or post.created_at
    return post.shared_by(
        uri=key,
        author_id=by["did"],
        author_handle=by.get("handle") or by["did"],
        at=reposted_at,
        native_id=reason.get("cid"),
        url=post.url,
        indexed_at=reposted_at,
        raw={"reason": dict(reason), "subject": dict(post.raw)},
    )


def view_to_post(view: Mapping[str, Any]) -> Post:
    """An app.bsky.feed.defs#postView as a Post (engagement included)."""
    record, author = _map(view.get("record")), _map(view.get("author"))
    text = str(record["text"]) if isinstance(record.get("text"), str) else ""
    facets = read_facets(text, record.get("facets"), record.get("tags") or ())
    reply = _map(record.get("reply"))
    quote, card = _quote_uri(view.get("embed"), record.get("embed")), _card_uri(view.get("embed"))
    indexed = parse_time(view.get("indexedAt"))
    created = parse_time(record.get("createdAt")) or indexed or datetime.fromtimestamp(0, UTC)
    langs = tuple(str(x) for x in record.get("langs") or () if isinstance(x, str))
    did, rkey = _did_rkey(view["uri"])
    handle = author.get("handle") or did
    return Post(
        platform=PLATFORM,
        uri=view["uri"],
        author_id=author.get("did") or did,
        author_handle=handle,
        text=text,
        created_at=created,
        native_id=view.get("cid"),
        url=f"https://bsky.app/profile/{author.get('did') or did}/post/{rkey}",
        indexed_at=indexed,
        languages=langs,
        reply_parent_uri=_uri(reply.get("parent")),
        reply_root_uri=_uri(reply.get("root")),
        quote_of_uri=quote,
        links=tuple(dict.fromkeys([*facets.links, *([card] if card else [])])),
        hashtags=facets.hashtags,
        mentions=facets.mentions,
        engagement=Engagement(
            _int(view.get("likeCount")),
            _int(view.get("repostCount")),
            _int(view.get("replyCount")),
            _int(view.get("quoteCount")),
        ),
        raw={"record": dict(record), "embed": view.get("embed"), "labels": view.get("labels") or []},
    )


def profile_to_record(data: Mapping[str, Any], observed_at: datetime) -> Profile:
    """An app.bsky.actor.defs#profileViewDetailed as a Profile."""
    return Profile(
        platform=PLATFORM,
        platform_id=str(data.get("did")),
        handle=_handle(data.get("handle")),
        display_name=data.get("displayName") or None,
        followers=_int(data.get("followersCount")),
        following=_int(data.get("followsCount")),
        posts_count=_int(data.get("postsCount")),
        observed_at=observed_at,
    )


def _handle(value: Any) -> str | None:
    # The AppView says "handle.invalid" when the DID's handle no longer verifies: no handle to trust.
    return value if isinstance(value, str) and value and value != "handle.invalid" else None


def _quote_uri(view_embed: Any, record_embed: Any) -> str | None:
    if isinstance(view_embed, Mapping) and view_embed.get("$type") in _QUOTE_VIEWS:
        inner = view_embed.get("record")
        if view_embed.get("$type") == _QUOTE_VIEWS[1] and isinstance(inner, Mapping):
            inner = inner.get("record")
        uri = _uri(inner)
        if uri and "/app.bsky.feed.post/" in uri:
            return uri
    if isinstance(record_embed, Mapping):
        inner = record_embed.get("record")
        if record_embed.get("$type") == "app.bsky.embed.recordWithMedia" and isinstance(inner, Mapping):
            inner = inner.get("record")
        uri = _uri(inner)
        if uri and "/app.bsky.feed.post/" in uri:
            return uri
    return None


def _card_uri(view_embed: Any) -> str | None:
    if not isinstance(view_embed, Mapping):
        return None
    media = view_embed.get("media") if view_embed.get("$type") == _QUOTE_VIEWS[1] else view_embed
    if isinstance(media, Mapping) and media.get("$type") == "app.bsky.embed.external#view":
        external = media.get("external")
        if isinstance(external, Mapping) and isinstance(external.get("uri"), str):
            return str(external["uri"])
    return None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _uri(ref: Any) -> str | None:
    return str(ref["uri"]) if isinstance(ref, Mapping) and isinstance(ref.get("uri"), str) else None


def _did_rkey(uri: str) -> tuple[str, str]:
    parts = uri.removeprefix("at://").split("/")
    return parts[0], parts[-1]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
