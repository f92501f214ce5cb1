"""Where a reader of an alert looks next: the post under the account's handle, the account's
recent posts on its platform. Pure functions of what the database holds."""

from __future__ import annotations

import re
from urllib.parse import quote

_BSKY_POST = re.compile(
    r"^https://bsky\.app/profile/(did:[a-z]+:[A-Za-z0-9._:%-]+)/post/([A-Za-z0-9._~:-]+)$"
)
_HANDLE = re.compile(r"^[a-z0-9.-]+\.[a-z0-9-]+$")
_MASTODON = re.compile(r"^([a-z0-9_][a-z0-9_.-]*)@([a-z0-9.-]+\.[a-z0-9-]+)$")


def profile_url(platform: str, handle: str | None, instance: str | None = None) -> str | None:
    """The account's page listing its recent posts, or None for a handle that is not usable.

    Mastodon: on its home `instance` when known (a handle's domain may differ from the server
    that hosts it), else on the handle's domain.
    """
    h = (handle or "").strip().lstrip("@").lower()
    if platform == "bluesky" and _HANDLE.match(h) and h != "handle.invalid":
        return f"https://bsky.app/profile/{h}"
    found = _MASTODON.match(h) if platform == "mastodon" else None
    if not found:
        return None
    host = (instance or "").lower() if _HANDLE.match((instance or "").lower()) else found.group(2)
    return f"https://{host}/@{quote(found.group(1))}"


def post_url(url: str | None, did: str | None, handle: str | None) -> str | None:
    """A Bluesky post link under the account's handle instead of its DID, where both are known.

    `bsky.app/profile/<did>/post/<rkey>` becomes `bsky.app/profile/<handle>/post/<rkey>` when
    <did> is the account's own DID (a repost's original keeps its author's DID); any other URL
    is returned unchanged.
    """
    found = _BSKY_POST.match(url or "")
    h = (handle or "").strip().lstrip("@").lower()
    if not found or found.group(1) != did or not _HANDLE.match(h) or h == "handle.invalid":
        return url
    return f"https://bsky.app/profile/{h}/post/{found.group(2)}"
