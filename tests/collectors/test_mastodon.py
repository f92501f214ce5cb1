"""What only the Mastodon collector does: lookups on the home instance, since_id, statuses
to posts, tokens, refresh by walking pages.

What both collectors promise (collectors/protocol.py) is tested once, in test_contract.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from collectors.errors import AuthRequired, Gone
from collectors.http import HostRegistry
from collectors.mastodon import MastodonCollector
from collectors.records import Floor, KnownPost
from collectors.settings import CollectSettings
from tests.collectors.conftest import MASTO_DOMAIN, mastodon_settings
from tests.collectors.payloads import status
from tests.collectors.servers import FakeMastodon
from tests.conftest import NOW

HANDLE = f"amb@{MASTO_DOMAIN}"


@pytest.fixture
def make(
    masto: FakeMastodon, fast: CollectSettings, registry: HostRegistry
) -> Iterator[Callable[..., MastodonCollector]]:
    made: list[MastodonCollector] = []

    def build(tokens: dict[str, str] | None = None, **kw: object) -> MastodonCollector:
        made.append(MastodonCollector(mastodon_settings(masto, **kw), fast, registry, tokens))
        return made[-1]

    yield build
    for c in made:
        c.close()


def _history(masto: FakeMastodon, n: int) -> dict:
    account = masto.add_account("42", "amb")
    masto.statuses["42"] = [
        status(str(1000 - i), account, f"<p>toot {i}</p>", NOW - timedelta(hours=i)) for i in range(n)
    ]
    return account


def test_lookup_asks_the_home_instance_for_the_bare_username(masto: FakeMastodon, make) -> None:
    """Found, unknown, gone and moved accounts are in test_contract.py."""
    masto.add_account("42", "Amb")
    identity = make().resolve(HANDLE)
    assert (identity.platform_id, identity.instance, identity.handle) == ("42", MASTO_DOMAIN, HANDLE)
    assert [s.query for s in masto.seen] == [{"acct": ["amb"]}]
    assert [s.path for s in masto.seen] == ["/api/v1/accounts/lookup"]


def test_an_account_suspended_after_resolution_is_found_out(masto: FakeMastodon, make) -> None:
    """As mastodon-mock (and Mastodon) serve it: no statuses, no lookup, `suspended` by id."""
    masto.add_account("42", "Amb")
    c = make()
    identity = c.resolve(HANDLE)
    masto.suspended.add("42")
    pages = list(c.pages(identity, Floor(time=NOW - timedelta(days=1))))
    assert [p.posts for p in pages] == [()]  # the walk alone cannot tell: an empty history
    with pytest.raises(Gone) as by_handle:
        c.resolve(HANDLE)
    assert by_handle.value.status == "not_found"  # by id it says "suspended" (test_contract.py)


def test_pages_keep_since_id_on_every_page(masto: FakeMastodon, make) -> None:
    masto.page_size = 4
    _history(masto, 10)
    c = make(page_size=4)
    identity = c.resolve(HANDLE)
    pages = list(c.pages(identity, Floor(marker="993")))
    assert [p.native_id for page in pages for p in page.posts] == [
        "1000",
        "999",
        "998",
        "997",
        "996",
        "995",
        "994",
    ]
    assert pages[0].top == "1000" and pages[-1].done
    queries = [s.query for s in masto.calls("/api/v1/accounts/42/statuses")]
    assert all(q["since_id"] == ["993"] for q in queries)
    assert [q.get("max_id") for q in queries] == [None, ["997"]]  # a short page is the last: no empty one


def test_statuses_edits_boosts_quotes_replies_and_scripts(masto: FakeMastodon, make) -> None:
    account = _history(masto, 0)
    other = {"id": "5", "username": "fm", "acct": "fm@other.example", "url": "https://other.example/@fm"}
    original = status("77", other, "<p>Their news</p>", NOW - timedelta(days=3), favourites=500)
    quoted = status("66", other, "<p>quoted</p>", NOW - timedelta(days=4))
    masto.statuses["42"] = [
        status(
            "105",
            account,
            '<p>مرحبا 🇸🇦 <a href="https://x/tags/culture" class="mention hashtag" rel="tag">'
            "#<span>culture</span></a></p><p>文化交流</p>",
            NOW,
            favourites=3,
            reblogs=2,
            replies=1,
            quotes=4,
            language="ar",
            edited=NOW + timedelta(minutes=1),
            tags=("culture",),
            mentions=("fm@other.example",),
            card_url="https://www.example.gov/card",
        ),
        status("104", account, "", NOW - timedelta(hours=1), reblog=original),
        status("103", account, "<p>see this</p>", NOW - timedelta(hours=2), quote=quoted),
        status("102", account, "<p>reply</p>", NOW - timedelta(hours=3), reply_to="55"),
    ]
    c = make()
    (page,) = [p for p in c.pages(c.resolve(HANDLE), Floor(time=NOW - timedelta(days=1))) if p.posts]
    edited, boost, quote, reply = page.posts
    assert edited.text == "مرحبا 🇸🇦 #culture\n\n文化交流" and edited.languages == ("ar",)
    assert (edited.edited_at, edited.hashtags, edited.mentions) == (
        NOW + timedelta(minutes=1),
        ("culture",),
        ("fm@other.example",),
    )
    assert edited.links == ("https://www.example.gov/card",)
    assert (
        edited.engagement.likes,
        edited.engagement.reposts,
        edited.engagement.replies,
        edited.engagement.quotes,
    ) == (3, 2, 1, 4)
    assert (boost.is_repost, boost.repost_of_uri, boost.repost_of_author, boost.text) == (
        True,
        original["uri"],
        "fm@other.example",
        "Their news",
    )
    assert boost.engagement.likes is None and boost.created_at == NOW - timedelta(hours=1)
    assert quote.quote_of_uri == quoted["uri"] and reply.is_reply
    assert reply.engagement.quotes is None  # a server without quotes_count


def test_token_required_is_one_clear_message(masto: FakeMastodon, make) -> None:
    masto.add_account("42", "amb")
    masto.require_token = "s3cret"
    env = "DIPLOMONITOR_MASTODON_TOKEN_SOCIAL_EXAMPLE_GOV"
    with pytest.raises(AuthRequired, match=f"{MASTO_DOMAIN} requires an access token for reads: set {env}"):
        make().resolve(HANDLE)
    assert make(tokens={env: "s3cret"}).resolve(HANDLE).platform_id == "42"


def test_refresh_walks_pages_then_asks_for_each_missing_status(masto: FakeMastodon, make) -> None:
    _history(masto, 5)
    c = make()
    identity = c.resolve(HANDLE)
    known = [
        KnownPost(s["uri"], s["id"], NOW - timedelta(hours=i)) for i, s in enumerate(masto.statuses["42"])
    ]
    del masto.statuses["42"][2]
    before = len(masto.seen)
    assert c.refresh(identity, known, NOW).gone == (known[2].uri,)
    paths = [s.path for s in masto.seen[before:]]
    assert (set(paths[:-1]), paths[-1]) == ({"/api/v1/accounts/42/statuses"}, "/api/v1/statuses/998")
