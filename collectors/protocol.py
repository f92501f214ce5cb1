"""The contract every platform adapter keeps (Bluesky and Mastodon implement it)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol

from collectors.records import Floor, Identity, KnownPost, Page, Profile, Reception, Refreshed


class Collector(Protocol):
    """Reads one platform. Every method raises only collectors.errors.CollectorError subclasses.

    Methods are thread-safe: the pipeline calls them for many accounts at once, and the
    collector's HTTP layer bounds what reaches each host.
    """

    platform: str

    def host(self, identity: Identity) -> str:
        """The host (host:port) the account's reads go to, for scheduling across hosts."""
        ...

    def close(self) -> None:
        """Close the collector's HTTP connections."""
        ...

    def resolve(self, handle: str, platform_id: str | None = None) -> Identity:
        """The account behind a handle (or, once known, behind its id); raises Gone if unavailable."""
        ...

    def pages(self, identity: Identity, floor: Floor, cursor: str | None = None) -> Iterator[Page]:
        """The account's history, newest first, from `cursor` (or the top) down to `floor`.

        Each page holds only posts above the floor; the last page has `done` set. A walk
        resumed from a page's `cursor` continues exactly where that page ended.
        """
        ...

    def refresh(self, identity: Identity, known: Sequence[KnownPost], now: datetime) -> Refreshed:
        """Current versions (text, counts) of the account's known posts, and those gone upstream."""
        ...

    def profiles(self, identities: Sequence[Identity], now: datetime) -> dict[str, Profile]:
        """Follower numbers by platform id; accounts the platform did not serve are left out."""
        ...

    def reception(
        self, identity: Identity, post: KnownPost, *, replies: bool, quotes: bool, depth: int, max_pages: int
    ) -> Reception:
        """The replies (the thread, `depth` levels deep) and quotes (at most `max_pages` pages) of
        one of the account's posts, as asked; no login needed."""
        ...
