from __future__ import annotations

from collectors.text import html_to_text, read_facets
from tests.collectors.payloads import facet


def test_mastodon_html_keeps_paragraphs_links_mentions_and_hashtags() -> None:
    html = (
        '<p>Bonjour <span class="h-card"><a href="https://x.example/@amb" class="u-url mention">'
        "@<span>amb</span></a></span> &amp; merci!<br>Voir "
        '<a href="https://www.diplomatie.gouv.fr/fr/long/path" rel="nofollow">'
        '<span class="invisible">https://www.</span><span class="ellipsis">diplomatie.gouv.fr/fr/</span>'
        '<span class="invisible">long/path</span></a></p>'
        '<p><a href="https://x.example/tags/Culture" class="mention hashtag" rel="tag">'
        "#<span>Culture</span></a></p>"
        '<p class="quote-inline">RE: <a href="https://other.example/@a/1">https://other.example/@a/1</a></p>'
    )
    plain = html_to_text(html)
    assert plain.text == (
        "Bonjour @amb & merci!\nVoir https://www.diplomatie.gouv.fr/fr/long/path\n\n#Culture"
    )
    assert plain.links == ("https://www.diplomatie.gouv.fr/fr/long/path",)


def test_emoji_rtl_and_cjk_text_survive() -> None:
    plain = html_to_text("<p>🇫🇷🤝🇯🇵 友好 日本 — مرحبا بكم في السفارة</p><p>שלום</p>")
    assert plain.text == "🇫🇷🤝🇯🇵 友好 日本 — مرحبا بكم في السفارة\n\nשלום"


def test_facets_use_utf8_byte_offsets() -> None:
    text = "🎌 友好 @amb.example.org see example.com/x… #Kultur مرحبا"
    facets = [
        facet(text, "@amb.example.org", {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:amb"}),
        facet(
            text,
            "example.com/x…",
            {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/x/y"},
        ),
        facet(text, "#Kultur", {"$type": "app.bsky.richtext.facet#tag", "tag": "Kultur"}),
        {
            "index": {"byteStart": 999, "byteEnd": 1005},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:broken"}],
        },
        {"index": {}, "features": [{"$type": "app.bsky.richtext.facet#unknownThing"}]},
    ]
    got = read_facets(text, facets, ["diplomacy"])
    assert got.mentions == ("amb.example.org", "did:plc:broken")
    assert got.links == ("https://example.com/x/y",)
    assert got.hashtags == ("diplomacy", "Kultur")
