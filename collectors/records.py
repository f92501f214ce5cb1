"""The collectors' vocabulary: plain, immutable records produced from platform payloads.

Nothing here knows about the database or the schedule; `monitor.collection.store` saves these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from collectors.text import clean_data, clean_text

Platform = Literal["bluesky", "mastodon"]
PLATFORMS: tuple[str, ...] = ("bluesky", "mastodon")

AccountStatus = Literal["ok", "not_found", "invalid_handle", "deactivated", "suspended", "gone", "moved"]
# Accounts in these states are not collected; they are re-checked now and then.
UNAVAILABLE: frozenset[str] = frozenset({"not_found", "deactivated", "suspended", "gone", "moved"})
MAX_COUNT = 2**31 - 1


def _clean_strings(record: Any, names: tuple[str, ...]) -> None:
    """Every text a record holds passes collectors.text.clean_text once, when the record is made."""
    for name in names:
        value = getattr(record, name)
        if isinstance(value, str):
            object.__setattr__(record, name, clean_text(value))
        elif isinstance(value, tuple):
            object.__setattr__(record, name, tuple(clean_text(v) if isinstance(v, str) else v for v in value))


@dataclass(frozen=True, slots=True)
class Engagement:
    """Audience response counts at one moment; None where the server does not report it."""

    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None

    def __post_init__(self) -> None:
        # A count no server can mean (negative, beyond a 32-bit integer) is unknown, not stored.
        for name in ("likes", "reposts", "replies", "quotes"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_COUNT:
                object.__setattr__(self, name, None)

    @property
    def total(self) -> int:
        return sum(v or 0 for v in (self.likes, self.reposts, self.replies, self.quotes))


@dataclass(frozen=True, slots=True)
class Identity:
    """A handle resolved to the platform's stable id."""

    platform: str
    handle: str
    platform_id: str  # Bluesky DID; Mastodon account id on its home instance
    instance: str | None = None  # Mastodon home instance host
    display_name: str | None = None
    status: AccountStatus = "ok"

    def __post_init__(self) -> None:
        _clean_strings(self, ("handle", "platform_id", "instance", "display_name"))


@dataclass(frozen=True, slots=True)
class Profile:
    """Follower-side numbers of an account at one moment."""

    platform: str
    platform_id: str
    handle: str | None  # as the platform reports it now; None when it has none to trust
    display_name: str | None
    followers: int | None
    following: int | None
    posts_count: int | None
    observed_at: datetime

    def __post_init__(self) -> None:
        _clean_strings(self, ("handle", "platform_id", "display_name"))


@dataclass(frozen=True, slots=True)
class Post:
    """One post (or repost/boost) by a watched account, normalised across platforms.

    `uri` is the natural key together with `platform`: an AT-URI on Bluesky, the
    status URI on Mastodon. A repost is the account sharing someone else's post:
    `is_repost` is set and `repost_of_uri` names the original.
    """

    platform: str
    uri: str
    author_id: str
    author_handle: str
    text: str
    created_at: datetime
    native_id: str | None = None  # Bluesky CID, Mastodon status id
    url: str | None = None  # web address a human can open
    indexed_at: datetime | None = None
    languages: tuple[str, ...] = ()
    reply_parent_uri: str | None = None
    reply_root_uri: str | None = None
    is_repost: bool = False
    repost_of_uri: str | None = None
    repost_of_author: str | None = None
    quote_of_uri: str | None = None
    links: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    edited_at: datetime | None = None
    engagement: Engagement = field(default_factory=Engagement)
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _clean_strings(self, _POST_TEXT)
        object.__setattr__(self, "raw", clean_data(self.raw))

    def shared_by(
        self,
        *,
        uri: str,
        author_id: str,
        author_handle: str,
        at: datetime,
        native_id: str | None,
        url: str | None,
        raw: Mapping[str, Any],
        indexed_at: datetime | None = None,
    ) -> Post:
        """This post as reposted (boosted) by a watched account: flagged and linked to the original.

        The engagement stays empty: the original's likes belong to its author, not the reposter.
        """
        return replace(
            self,
            uri=uri,
            author_id=author_id,
            author_handle=author_handle,
            created_at=at,
            native_id=native_id,
            url=url,
            indexed_at=indexed_at,
            reply_parent_uri=None,
            reply_root_uri=None,
            is_repost=True,
            repost_of_uri=self.uri,
            repost_of_author=self.author_handle,
            edited_at=None,
            engagement=Engagement(),
            raw=raw,
        )

    @property
    def is_reply(self) -> bool:
        return self.reply_parent_uri is not None

    @property
    def is_quote(self) -> bool:
        return self.quote_of_uri is not None


_POST_TEXT = (
    "uri", "author_id", "author_handle", "text", "native_id", "url", "languages", "reply_parent_uri",
    "reply_root_uri", "repost_of_uri", "repost_of_author", "quote_of_uri", "links", "hashtags", "mentions",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Floor:
    """Where a walk down an account's history stops.

    `marker` is the newest position already stored (Bluesky: sort time in ISO format;
    Mastodon: status id); `time` is a date to go back to. A walk stops at whichever it has.
    """

    marker: str | None = None
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of an account's history, newest first, already cut at the floor.

    `top` is the newest position on the page (pinned posts excluded), the marker the next
    walk stops at; `cursor` fetches the next (older) page; `done` says the walk reached its floor.
    """

    posts: tuple[Post, ...]
    cursor: str | None
    top: str | None
    done: bool


@dataclass(frozen=True, slots=True)
class KnownPost:
    """A stored post whose engagement is re-counted."""

    uri: str
    native_id: str | None
    created_at: datetime
    is_repost: bool = False


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What re-counting an account's recent posts found: fresh posts, and uris gone upstream."""

    posts: tuple[Post, ...] = ()
    gone: tuple[str, ...] = ()
