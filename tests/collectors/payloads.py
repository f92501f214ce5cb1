"""Payloads for the local servers, made from answers the reference peers gave (tests/fixtures).

Each builder starts from a recorded entity of the same kind (a postView, a feed item with a
repost reason, an embed view, a profile, a Mastodon status or account) and sets only what a
test names, so every other key is the one the real server sends: a collector that trips over a
key the peers send trips in the fast tests too.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
from datetime import UTC, datetime
from typing import Any

from tests.fixtures import WORLD, body


def iso(t: datetime) -> str:
    """A time as both platforms write it: UTC, milliseconds, `Z`."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def cid_for(uri: str) -> str:
    """A CID-shaped stand-in for the record at `uri` (as tests/fixtures/normalise.py makes them)."""
    digest = base64.b32encode(hashlib.sha256(uri.encode()).digest()).decode().lower().rstrip("=")
    return "bafyrei" + digest[:52]


@functools.cache
def _recorded_item(key: str, item: str) -> dict[str, Any]:
    uri = WORLD.uri("bluesky", key, item)
    for entry in body("bluesky", f"getAuthorFeed.{key}")["feed"]:
        if (entry.get("reason") or {}).get("uri", entry["post"]["uri"]) == uri:
            return dict(entry)
    raise LookupError(f"{key}:{item} is not in the recorded feed")


@functools.cache
def _recorded_status(key: str, item: str) -> dict[str, Any]:
    status_id = WORLD.native_id("mastodon", key, item)
    for entry in body("mastodon", f"statuses.{key}"):
        if entry["id"] == status_id:
            return dict(entry)
    raise LookupError(f"{key}:{item} is not in the recorded statuses")


def _copy(template: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(template)


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
    """An app.bsky.feed.defs#postView (recorded: a plain post of ministry_de's feed)."""
    view = _copy(_recorded_item("ministry_de", "de7")["post"])
    uri = f"at://{did}/app.bsky.feed.post/{rkey}"
    record: dict[str, Any] = {**view["record"], "text": text, "createdAt": iso(created), "langs": list(langs)}
    if facets:
        record["facets"] = facets
    if reply:
        record["reply"] = {
            "parent": {"cid": cid_for(reply[0]), "uri": reply[0]},
            "root": {"cid": cid_for(reply[1]), "uri": reply[1]},
        }
    if record_embed:
        record["embed"] = record_embed
    view["author"].update(did=did, handle=handle, displayName=handle.split(".")[0])
    view.update(
        uri=uri,
        cid=cid_for(uri),
        record=record,
        replyCount=replies,
        repostCount=reposts,
        likeCount=likes,
        quoteCount=quotes,
        indexedAt=iso(indexed or created),
    )
    if embed:
        view["embed"] = embed
    return view


def repost_item(view: dict[str, Any], by_did: str, by_handle: str, at: datetime, rkey: str) -> dict[str, Any]:
    """A feed item: the account reposting someone else's post (recorded: ministry_de reposting ci1)."""
    reason = _copy(_recorded_item("ministry_de", "repost:ci1")["reason"])
    uri = f"at://{by_did}/app.bsky.feed.repost/{rkey}"
    reason["by"].update(did=by_did, handle=by_handle, displayName=by_handle.split(".")[0])
    reason.update(uri=uri, cid=cid_for(uri), indexedAt=iso(at))
    return {"post": view, "reason": reason}


def quote_embed(uri: str) -> dict[str, Any]:
    """An app.bsky.embed.record#view of the post at `uri` (recorded: de6 quoting es1)."""
    embed = _copy(_recorded_item("ministry_de", "de6")["post"]["embed"])
    record = embed["record"]
    record["author"].update(did="did:plc:other", handle="other.example", displayName="other")
    record.update(uri=uri, cid=cid_for(uri), indexedAt="2026-01-01T00:00:00.000Z")
    record["value"] = {
        "$type": "app.bsky.feed.post",
        "text": "quoted",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "langs": ["en"],
    }
    return embed


def external_embed(uri: str) -> dict[str, Any]:
    """An app.bsky.embed.external#view, a link card (recorded: de1's)."""
    embed = _copy(_recorded_item("ministry_de", "de1")["post"]["embed"])
    embed["external"].update(uri=uri, title="A page", description="About it")
    return embed


def profile_view(
    did: str, handle: str, *, followers: int = 10, follows: int = 2, posts: int = 0
) -> dict[str, Any]:
    """An app.bsky.actor.defs#profileViewDetailed (recorded: ministry_de's getProfile)."""
    profile = body("bluesky", "getProfile.ministry_de")
    profile.update(
        did=did,
        handle=handle,
        displayName=handle.split(".")[0].title(),
        followersCount=followers,
        followsCount=follows,
        postsCount=posts,
    )
    return dict(profile)


def account_entity(domain: str, account_id: str, username: str, **extra: Any) -> dict[str, Any]:
    """A Mastodon Account entity (recorded: ministry_de's, from accounts/:id)."""
    out = body("mastodon", "account.ministry_de")
    for key in ("avatar", "avatar_static", "header", "header_static"):
        out[key] = f"https://{domain}/{key.split('_')[0]}s/generated/{username}.svg"
    out.update(
        id=account_id,
        username=username,
        acct=username,
        display_name=username.title(),
        url=f"https://{domain}/@{username}",
        uri=f"https://{domain}/users/{username}",
        followers_count=extra.pop("followers", 100),
        following_count=5,
        statuses_count=0,
        created_at="2020-01-01T00:00:00.000Z",
        last_status_at=None,
        **extra,
    )
    return dict(out)


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
    """A Mastodon Status entity (recorded: a plain status of ministry_de's).

    `quotes_count` is left out unless given, as servers before Mastodon 4.5 (and the mock) do.
    """
    out = _copy(_recorded_status("ministry_de", "de7"))
    domain = account["url"].split("/")[2]
    out.update(
        id=status_id,
        uri=f"https://{domain}/users/{account['username']}/statuses/{status_id}",
        url=f"https://{domain}/@{account['username']}/{status_id}",
        account=account,
        content=html if reblog is None else "",
        created_at=iso(created),
        edited_at=iso(edited) if edited else None,
        in_reply_to_id=reply_to,
        in_reply_to_account_id=account["id"] if reply_to else None,
        reblog=reblog,
        language=language,
        favourites_count=favourites,
        reblogs_count=reblogs,
        replies_count=replies,
        tags=[{"name": t, "url": f"https://{domain}/tags/{t}"} for t in tags],
        mentions=[
            {"id": "9", "username": m.split("@")[0], "acct": m, "url": f"https://x/@{m}"} for m in mentions
        ],
        card={**_recorded_status("ministry_de", "de1")["card"], "url": card_url} if card_url else None,
    )
    if quotes is not None:
        out["quotes_count"] = quotes
    if quote is not None:
        out["quote"] = {**_recorded_status("ministry_de", "de6")["quote"], "quoted_status": quote}
    return out
