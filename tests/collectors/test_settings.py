from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from collectors.bluesky import BlueskyCollector
from collectors.http import HostRegistry
from collectors.records import Floor
from collectors.settings import BlueskySettings, CollectSettings, MastodonSettings
from monitor.config import ConfigError, load_settings
from tests.collectors.payloads import post_view
from tests.collectors.servers import FakeBluesky
from tests.conftest import NOW


def test_mastodon_scheme_is_checked(tmp_path: Path) -> None:
    """Issue 10.13: the check sat after a `return` and never ran."""
    assert MastodonSettings(scheme="http").base_url("social.example.org") == "http://social.example.org"
    with pytest.raises(ValueError, match="scheme must be 'http' or 'https'"):
        MastodonSettings(scheme="ftp")
    path = tmp_path / "diplomonitor.toml"
    path.write_text('[mastodon]\nrequests_per_5min = 100\nscheme = "gopher"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(path, {})
    assert str(error.value) == f"{path}, line 3: mastodon.scheme: scheme must be 'http' or 'https'"


@pytest.mark.parametrize(
    "given",
    [
        "http://127.0.0.1:2583",
        "http://127.0.0.1:2583/",
        "http://127.0.0.1:2583/xrpc",
        "http://127.0.0.1:2583/xrpc/",
    ],
)
def test_bluesky_urls_take_the_server_with_or_without_xrpc(given: str) -> None:
    settings = BlueskySettings(appview_url=given, login_url=given)
    assert (settings.appview_url, settings.login_url) == ("http://127.0.0.1:2583",) * 2


def test_an_appview_url_ending_in_xrpc_reads_the_same(
    bsky: FakeBluesky, fast: CollectSettings, registry: HostRegistry
) -> None:
    did, handle = "did:plc:embassy", "embassy.example.org"
    bsky.add_account(did, handle)
    bsky.feeds[did] = [{"post": post_view(did, handle, "p1", "hello", NOW)}]
    collector = BlueskyCollector(BlueskySettings(appview_url=f"{bsky.url}/xrpc/"), fast, registry)
    try:
        identity = collector.resolve(handle)
        (page,) = list(collector.pages(identity, Floor(time=NOW - timedelta(days=1))))
    finally:
        collector.close()
    assert [p.text for p in page.posts] == ["hello"]
    assert {s.path for s in bsky.seen} == {
        "/xrpc/app.bsky.actor.getProfile",
        "/xrpc/app.bsky.feed.getAuthorFeed",
    }


@pytest.mark.parametrize("size", [0, 101])
def test_bluesky_page_size_is_what_the_appview_serves(size: int) -> None:
    with pytest.raises(ValueError, match="page_size must be between 1 and 100"):
        BlueskySettings(page_size=size)
