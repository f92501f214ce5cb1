"""Mastodon statuses and accounts (as Mastodon.py returns them) to records: pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from collectors.records import Engagement, Post, Profile
from collectors.text import html_to_text

PLATFORM = "mastodon"


def as_time(value: Any) -> datetime | None:
    """A status time as aware UTC (Mastodon.py already parses most of them)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, str) and value:
        try:
            return as_time(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def status_to_post(status: Mapping[str, Any], instance: str) -> Post:
    """A status of the account (its own, or its boost of someone else's) as a Post."""
    account = status.get("account") or {}
    handle = account_handle(account, instance)
    boosted = status.get("reblog")
    if isinstance(boosted, Mapping):
        original = status_to_post(boosted, instance)
        at = as_time(status.get("created_at")) or original.created_at
        return original.shared_by(
            uri=str(status.get("uri")),
            author_id=str(account.get("id")),
            author_handle=handle,
            at=at,
            native_id=str(status.get("id")),
            url=status.get("url") or original.url,
            raw={"reblog_of": original.uri, "id": str(status.get("id"))},
        )
    plain = html_to_text(str(status.get("content") or ""))
    spoiler = str(status.get("spoiler_text") or "").strip()
    text = f"{spoiler}\n\n{plain.text}" if spoiler else plain.text
    card: Mapping[str, Any] = status["card"] if isinstance(status.get("card"), Mapping) else {}
    links = [*plain.links, *([card["url"]] if card.get("url") else [])]
    language = status.get("language")
    return Post(
        platform=PLATFORM,
        uri=str(status.get("uri")),
        author_id=str(account.get("id")),
        author_handle=handle,
        text=text,
        created_at=as_time(status.get("created_at")) or datetime.fromtimestamp(0, UTC),
        native_id=str(status.get("id")),
        url=status.get("url") or None,
        languages=(str(language),) if language else (),
        reply_parent_uri=_reply_uri(status, instance),
        quote_of_uri=_quote_uri(status.get("quote"), instance),
        links=tuple(dict.fromkeys(links)),
        hashtags=tuple(dict.fromkeys(str(t.get("name")) for t in status.get("tags") or () if t.get("name"))),
        mentions=tuple(
            dict.fromkeys(str(m.get("acct")) for m in status.get("mentions") or () if m.get("acct"))
        ),
        edited_at=as_time(status.get("edited_at")),
        engagement=Engagement(
            _int(status.get("favourites_count")),
            _int(status.get("reblogs_count")),
            _int(status.get("replies_count")),
            _int(status.get("quotes_count")),
        ),
        raw=_jsonable({k: v for k, v in status.items() if k not in ("account", "content")}),
    )


def account_to_profile(account: Mapping[str, Any], instance: str, observed_at: datetime) -> Profile:
    """A Mastodon account's follower numbers."""
    return Profile(
        platform=PLATFORM,
        platform_id=str(account.get("id")),
        handle=account_handle(account, instance),
        display_name=account.get("display_name") or None,
        followers=_int(account.get("followers_count")),
        following=_int(account.get("following_count")),
        posts_count=_int(account.get("statuses_count")),
        observed_at=observed_at,
    )


def account_handle(account: Mapping[str, Any], instance: str) -> str:
    """user@instance, lower-case, for an account of `instance` (acct is bare for local accounts)."""
    acct = str(account.get("acct") or account.get("username") or "")
    return (acct if "@" in acct else f"{acct}@{instance}").lower()


def _reply_uri(status: Mapping[str, Any], instance: str) -> str | None:
    # The API gives the parent's id, not its URI; an id on this instance is still a stable key.
    parent = status.get("in_reply_to_id")
    return f"https://{instance}/api/v1/statuses/{parent}" if parent is not None else None


def _quote_uri(quote: Any, instance: str) -> str | None:
    if not isinstance(quote, Mapping):
        return None
    quoted = quote.get("quoted_status")
    if isinstance(quoted, Mapping) and quoted.get("uri"):
        return str(quoted["uri"])
    if quote.get("quoted_status_id") is not None:  # a shallow quote names only the id
        return f"https://{instance}/api/v1/statuses/{quote['quoted_status_id']}"
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
