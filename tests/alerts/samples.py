"""Messages with hostile post text, shared by the channel tests and the fuzz tests."""

from __future__ import annotations

from alerts.compose import AlertInfo, alert_message
from alerts.messages import Message, PostRef
from tests.alerts.conftest import rule
from tests.conftest import NOW

SCRIPT = "<script>alert(1)</script>"
MARKDOWN_LINK = "[your invoice](https://evil.example/pay)"
PINGS = "@everyone @room @channel <!channel> <at>Minister</at>"
RTL = "\u202egpj.exe"  # shows as "exe.jpg" where the override is honoured
SLACK_LINK = "<https://evil.example|click here>"
HOSTILE_POST = (
    f"Culture week {SCRIPT} {MARKDOWN_LINK} {PINGS} & {RTL} **bold** {{{{DATE(2017-02-14T06:00:00Z)}}}}"
)
HOSTILE = (SCRIPT, MARKDOWN_LINK, "@everyone", "@room", "<!channel>", "<at>", "\u202e", SLACK_LINK)

POST = PostRef(
    "fr.bsky.social", HOSTILE_POST, "https://bsky.app/profile/fr.bsky.social/post/3kabc", NOW.isoformat(), 12,
    "most negative", name="France Diplomatie", country="FR", account_kind="ministry",
    profile_url="https://bsky.app/profile/fr.bsky.social", matched=("culture",),
)  # fmt: skip
FORGED = PostRef("evil|author", SLACK_LINK + " " + RTL, "javascript:alert(1)")


def alert(
    severity: str = "warning", posts: tuple[PostRef, ...] = (POST, FORGED), **fields: object
) -> Message:
    """A per-account alert in Paris time, with the dashboard configured, quoting `posts`."""
    r = rule(name="storm <b>", metric="negative_share", threshold=0.4, severity=severity,
             timezone="Europe/Paris", per_member=True, **fields)  # fmt: skip
    info = AlertInfo(7, "bluesky:fr.bsky.social", 0.62, 0.62, None, NOW.replace(hour=6), NOW, NOW)
    return alert_message(r, info, posts, kind="fire", key="fire:7", dashboard_url="https://dash.example.org/")
