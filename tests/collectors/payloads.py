"""Documented payload shapes (app.bsky.feed.defs, Mastodon entities), built for tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.collectors.servers import iso


def facet(text: str, fragment: str, feature: dict[str, Any]) -> dict[str, Any]:
    """A rich-text facet over the first occurrence of `fragment` (UTF-8 byte offsets)."""
    start = text.encode().index(fragment.encode())
    return {"index": {"byteStart": start, "byteEnd": start + len(fragment.encode())}, "features": [feature]}


def post_view(
    did: str,
    handle: str,
    rkey: str,
    text: str,
    created: datetime,
    *,
    likes: int = 0,
    reposts: int = 0,
    replies: int = 0,
    quotes: int = 0,
    langs: tuple[str, ...] = ("en",),
    facets: list[dict[str, Any]] | None = None,
    reply: tuple[str, str] | None = None,
    embed: dict[str, Any] | None = None,
    record_embed: dict[str, Any] | None = None,
    indexed: datetime | None = None,
) -> dict[str, Any]:
    """An app.bsky.feed.defs#postView."""
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": iso(created),
        "langs": list(langs),
    }
    if facets:
        record["facets"] = facets
    if reply:
        record["reply"] = {
            "parent": {"uri": reply[0], "cid": "bafyparent"},
            "root": {"uri": reply[1], "cid": "bafyroot"},
        }
    if record_embed:
        record["embed"] = record_embed
    view: dict[str, Any] = {
        "uri": f"at://{did}/app.bsky.feed.post/{rkey}",
        "cid": f"bafy{rkey}",
        "author": {"did": did, "handle": handle, "displayName": handle.split(".")[0]},
        "record": record,
        "replyCount": replies,
        "repostCount": reposts,
        "likeCount": likes,
        "quoteCount": quotes,
        "indexedAt": iso(indexed or created),
        "labels": [],
    }
    if embed:
        view["embed"] = embed
    return view


def repost_item(view: dict[str, Any], by_did: str, by_handle: str, at: datetime, rkey: str) -> dict[str, Any]:
    """A feed item: the account reposting someone else's post (reasonRepost with its record uri)."""
    return {
        "post": view,
        "reason": {
            "$type": "app.bsky.feed.defs#reasonRepost",
            "by": {"did": by_did, "handle": by_handle},
            "uri": f"at://{by_did}/app.bsky.feed.repost/{rkey}",
            "cid": f"bafyr{rkey}",
            "indexedAt": iso(at),
        },
    }


def quote_embed(uri: str) -> dict[str, Any]:
    return {
        "$type": "app.bsky.embed.record#view",
        "record": {
            "$type": "app.bsky.embed.record#viewRecord",
            "uri": uri,
            "cid": "bafyq",
            "author": {"did": "did:plc:other", "handle": "other.example"},
            "value": {"text": "quoted", "createdAt": "2026-01-01T00:00:00Z"},
            "indexedAt": "2026-01-01T00:00:00Z",
        },
    }


def external_embed(uri: str) -> dict[str, Any]:
    return {
        "$type": "app.bsky.embed.external#view",
        "external": {"uri": uri, "title": "A page", "description": "About it", "thumb": None},
    }


def status(
    status_id: str,
    account: dict[str, Any],
    html: str,
    created: datetime,
    *,
    favourites: int = 0,
    reblogs: int = 0,
    replies: int = 0,
    quotes: int | None = None,
    language: str | None = "en",
    edited: datetime | None = None,
    reply_to: str | None = None,
    reblog: dict[str, Any] | None = None,
    quote: dict[str, Any] | None = None,
    tags: tuple[str, ...] = (),
    mentions: tuple[str, ...] = (),
    card_url: str | None = None,
) -> dict[str, Any]:
    """A Mastodon Status entity as the REST API returns it."""
    domain = account["url"].split("/")[2]
    out: dict[str, Any] = {
        "id": status_id,
        "uri": f"https://{domain}/users/{account['username']}/statuses/{status_id}",
        "url": f"https://{domain}/@{account['username']}/{status_id}",
        "account": account,
        "content": html if reblog is None else "",
        "created_at": iso(created),
        "edited_at": iso(edited) if edited else None,
        "in_reply_to_id": reply_to,
        "in_reply_to_account_id": account["id"] if reply_to else None,
        "reblog": reblog,
        "language": language,
        "visibility": "public",
        "sensitive": False,
        "spoiler_text": "",
        "favourites_count": favourites,
        "reblogs_count": reblogs,
        "replies_count": replies,
        "tags": [{"name": t, "url": f"https://{domain}/tags/{t}"} for t in tags],
        "mentions": [
            {"id": "9", "username": m.split("@")[0], "acct": m, "url": f"https://x/@{m}"} for m in mentions
        ],
        "emojis": [],
        "media_attachments": [],
        "card": {"url": card_url, "title": "t"} if card_url else None,
        "poll": None,
    }
    if quotes is not None:
        out["quotes_count"] = quotes
    if quote is not None:
        out["quote"] = {"state": "accepted", "quoted_status": quote}
    return out
