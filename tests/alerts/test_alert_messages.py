"""What an alert says, from the database to the message stored in the outbox: which keyword each
post matched, authors as configured, Bluesky links under the handle, times in the rule's zone,
silence without a window, links to look next and the mute hint (issue 10, item 10)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, select, update

from alerts.links import post_url, profile_url
from alerts.messages import Message
from alerts.settings import ChannelSettings
from monitor.alerting.evaluate import evaluate_rules
from monitor.config import Account
from monitor.schema import accounts, deliveries, posts
from tests.alerts.conftest import rule, settings
from tests.conftest import NOW

HOOK = ChannelSettings(name="hook", kind="webhook", url_env="HOOK_URL")
FR = "https://bsky.app/profile/diplomatie.gouv.fr"
CONFIGURED = (
    Account("bluesky", "fr.bsky.social", "FR", "ministry", name="France Diplomatie"),
    Account("mastodon", "de@social.bund.de", "DE", "ministry"),
    Account("bluesky", "us.bsky.social", "US", "ministry", name="US Embassy"),
)  # fmt: skip


def identities(engine: Engine) -> None:
    """What resolving the accounts stored: account 1 now goes by diplomatie.gouv.fr (DID known)
    and shows a platform name that is not the configured one; its posts link by DID, as the
    collector writes them, but post 104 is a repost of someone else's post."""
    with engine.begin() as conn:
        conn.execute(
            update(accounts)
            .where(accounts.c.id == 1)
            .values(
                platform_id="did:plc:fr1",
                current_handle="diplomatie.gouv.fr",
                display_name="🇫🇷 FR (platform)",
            )
        )
        conn.execute(update(accounts).where(accounts.c.id == 2).values(display_name="Auswärtiges Amt"))
        for pid in (101, 102, 103):
            conn.execute(
                update(posts)
                .where(posts.c.id == pid)
                .values(url=f"https://bsky.app/profile/did:plc:fr1/post/3k{pid}")
            )
        conn.execute(
            update(posts)
            .where(posts.c.id == 104)
            .values(
                url="https://bsky.app/profile/did:plc:other/post/3kzz",
                is_repost=True,
                repost_of_author="other.bsky.social",
            )
        )


def fired(engine: Engine, **fields: Any) -> Message:
    s = replace(settings((rule(channels=("hook",), **fields),), (HOOK,), {"HOOK_URL": "http://127.0.0.1:9/"},
                         dashboard_url="https://monitor.example.org/"), accounts=CONFIGURED)  # fmt: skip
    assert evaluate_rules(engine, s.alerts, now=NOW, accounts=s.accounts).fired >= 1
    with engine.connect() as conn:
        payload = conn.execute(select(deliveries.c.payload).order_by(deliveries.c.id)).scalars().first()
    return Message.from_dict(payload)


def test_keyword_alert_says_which_keyword_each_post_matched(world: Engine) -> None:
    identities(world)
    m = fired(world, name="kw", metric="keyword", keywords=("austausch", "#diplomacy", "science", "Culture"),
              threshold=1, top_posts=5, timezone="Asia/Tehran")  # fmt: skip
    shown = [(p.author, p.name, p.country, p.account_kind, p.url, p.matched, p.created_at) for p in m.posts()]
    assert shown == [
        ("de@social.bund.de", "Auswärtiges Amt", "DE", "ministry", "https://example.org/de@social.bund.de/201",
         ("austausch",), "2026-10-15T10:00:00+00:00"),
        ("diplomatie.gouv.fr", "France Diplomatie", "FR", "ministry",
         "https://bsky.app/profile/diplomatie.gouv.fr/post/3k101", ("Culture",), "2026-10-15T11:00:00+00:00"),
        ("diplomatie.gouv.fr", "France Diplomatie", "FR", "ministry",
         "https://bsky.app/profile/diplomatie.gouv.fr/post/3k102", ("science",), "2026-10-15T10:00:00+00:00"),
        ("diplomatie.gouv.fr", "France Diplomatie", "FR", "ministry",
         "https://bsky.app/profile/diplomatie.gouv.fr/post/3k103", ("#diplomacy",),
         "2026-10-15T09:00:00+00:00"),
    ]  # fmt: skip
    assert m.sections[0].heading == "Matching posts"
    assert m.posts()[1].details(m.timezone) == [
        "2026-10-15 14:30 +0330 (11:00 UTC)", "12 interactions", "keyword: Culture",
    ]  # fmt: skip
    assert dict(m.facts)["Window"] == "2026-10-15 09:30 – 2026-10-15 15:30 +0330 (06:00 – 12:00 UTC)"
    assert m.links == (
        ("The post", "https://example.org/de@social.bund.de/201"),
        ("Recent posts of Auswärtiges Amt", "https://social.bund.de/@de"),
        ("Recent posts of France Diplomatie", FR),
        ("Dashboard", "https://monitor.example.org/"),
    )
    assert m.mute == "diplomonitor alerts mute kw --hours 24"
    assert (m.severity, m.timezone) == ("warning", "Asia/Tehran")


def test_per_account_alert_names_the_account_and_keeps_a_reposts_author(world: Engine) -> None:
    identities(world)
    m = fired(world, name="fr busy", threshold=1, scope="account", scope_value="fr.bsky.social",
              per_member=True, top_posts=4, severity="critical")  # fmt: skip
    assert [(p.byline(), p.url, p.note) for p in m.posts()] == [
        ("France Diplomatie (FR, ministry) @diplomatie.gouv.fr",
         "https://bsky.app/profile/diplomatie.gouv.fr/post/3k101", None),
        # a repost: its link keeps the original author's DID, and it says whose words they are
        ("France Diplomatie (FR, ministry) @diplomatie.gouv.fr", "https://bsky.app/profile/did:plc:other/post/3kzz",
         "repost of @other.bsky.social"),
        ("France Diplomatie (FR, ministry) @diplomatie.gouv.fr",
         "https://bsky.app/profile/diplomatie.gouv.fr/post/3k102", None),
        ("France Diplomatie (FR, ministry) @diplomatie.gouv.fr",
         "https://bsky.app/profile/diplomatie.gouv.fr/post/3k103", None),
    ]  # fmt: skip
    assert {p.profile_url for p in m.posts()} == {FR}
    assert m.mute == "diplomonitor alerts mute 'fr busy' --scope bluesky:fr.bsky.social --hours 24"
    assert m.headline() == "Critical: fr busy: posts 4 >= 1 (bluesky:fr.bsky.social)"
    assert m.symbol() == "🚨"


def test_silence_alert_has_no_window_but_the_last_post(world: Engine) -> None:
    """us.bsky.social last posted 80 hours before NOW (2026-10-12 04:00 UTC)."""
    m = fired(world, name="quiet", metric="silence", threshold=48, scope="account",
              scope_value="us.bsky.social", timezone="America/New_York", severity="info")  # fmt: skip
    assert m.facts == (
        ("Rule", "quiet"),
        ("Scope", "account us.bsky.social"),
        ("Condition", "hours since the last post 80.0 h >= 48.0 h"),
        ("Last post", "2026-10-12 00:00 EDT (04:00 UTC)"),
        ("Checked", "2026-10-15 08:00 EDT (12:00 UTC)"),
        ("Severity", "info"),
    )
    (post,) = m.posts()
    assert (post.byline(), post.note, post.url) == (
        "US Embassy (US, ministry) @us.bsky.social", "the last post", "https://example.org/us.bsky.social/301",
    )  # fmt: skip
    assert m.headline() == "Info: quiet: hours since the last post 80.0 h >= 48.0 h (account us.bsky.social)"


def test_links_to_look_next() -> None:
    assert [profile_url(*args) for args in [
        ("bluesky", "diplomatie.gouv.fr"), ("bluesky", "handle.invalid"), ("bluesky", "did:plc:fr1"),
        ("mastodon", "de@social.bund.de"), ("mastodon", "bmi@bund.de", "social.bund.de"), ("mastodon", "bmi"),
    ]] == [
        "https://bsky.app/profile/diplomatie.gouv.fr", None, None, "https://social.bund.de/@de",
        "https://social.bund.de/@bmi", None,
    ]  # fmt: skip
    did = "https://bsky.app/profile/did:plc:fr1/post/3kabc"
    assert [post_url(*args) for args in [
        (did, "did:plc:fr1", "diplomatie.gouv.fr"), (did, "did:plc:other", "diplomatie.gouv.fr"),
        (did, "did:plc:fr1", "handle.invalid"), (did, "did:plc:fr1", None),
        ("https://social.bund.de/@de/1", "did:plc:fr1", "diplomatie.gouv.fr"), (None, None, None),
    ]] == [
        "https://bsky.app/profile/diplomatie.gouv.fr/post/3kabc", did, did, did, "https://social.bund.de/@de/1",
        None,
    ]  # fmt: skip
