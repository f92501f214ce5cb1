"""What the peers themselves report, read over their public APIs with plain HTTP.

These readers are deliberately not diplomonitor's collectors: they are what the tests compare
diplomonitor's database with. Each returns, per feed item of an account, newest first:
(uri, is_repost, counts) where counts are (likes, reposts, replies, quotes) of an own post and
None for a repost, whose counts belong to the original.
"""

from __future__ import annotations

from typing import Any

import httpx

Item = tuple[str, bool, tuple[int | None, ...] | None]


def bluesky_feed(appview: str, did: str, feed_filter: str = "posts_with_replies") -> list[Item]:
    """Every item of getAuthorFeed (all pages), with replies unless another filter is named."""
    items: list[Item] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"actor": did, "filter": feed_filter, "limit": 100}
        if cursor:
            params["cursor"] = cursor
        body = httpx.get(f"{appview}/xrpc/app.bsky.feed.getAuthorFeed", params=params, timeout=30).json()
        for item in body["feed"]:
            post, reason = item["post"], item.get("reason")
            if reason:
                items.append((reason["uri"], True, None))
            else:
                counts = tuple(post.get(k) for k in ("likeCount", "repostCount", "replyCount", "quoteCount"))
                items.append((post["uri"], False, counts))
        cursor = body.get("cursor")
        if not cursor:
            return items


def mastodon_statuses(url: str, account_id: str) -> list[Item]:
    """Every status of the account (all pages, following the Link header)."""
    items: list[Item] = []
    next_url: str | None = f"{url}/api/v1/accounts/{account_id}/statuses?limit=40"
    while next_url:
        response = httpx.get(next_url, timeout=30)
        response.raise_for_status()
        page = response.json()
        for status in page:
            if status.get("reblog"):
                items.append((status["uri"], True, None))
            else:
                counts = (status["favourites_count"], status["reblogs_count"], status["replies_count"],
                          status.get("quotes_count"))  # fmt: skip
                items.append((status["uri"], False, counts))
        next_url = response.links.get("next", {}).get("url") if page else None
    return items


def created_times(appview: str, mastodon: str, did: str, account_id: str) -> dict[str, str]:
    """Own posts' creation times exactly as each peer writes them, by URI."""
    out: dict[str, str] = {}
    body = httpx.get(f"{appview}/xrpc/app.bsky.feed.getAuthorFeed", params={"actor": did, "limit": 100},
                     timeout=30).json()  # fmt: skip
    out.update(
        (i["post"]["uri"], i["post"]["record"]["createdAt"]) for i in body["feed"] if not i.get("reason")
    )
    page = httpx.get(f"{mastodon}/api/v1/accounts/{account_id}/statuses?limit=40", timeout=30).json()
    out.update((s["uri"], s["created_at"]) for s in page if not s.get("reblog"))
    return out
