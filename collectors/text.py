"""Post text as people read it: Mastodon HTML to plain text, Bluesky facets to links and tags,
and every string a collector returns made safe to store, the same on every backend."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

# NUL and the other C0/C1 controls but tab and newline; CR and CRLF (newlines); lone surrogates.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]|\r\n?")
_BLOCKS = frozenset({"p", "div", "blockquote", "li", "ul", "ol", "pre", "h1", "h2", "h3", "h4", "h5", "h6"})


@dataclass(frozen=True, slots=True)
class PlainText:
    """Text with the links (hrefs that are neither mentions nor hashtags) found in it."""

    text: str
    links: tuple[str, ...]


class _Flattener(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[list[str]] = [[]]
        self.links: list[str] = []
        self.skip_depth = 0  # inside an element we drop (Mastodon's quote-inline fallback)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        if self.skip_depth:
            self.skip_depth += tag not in ("br", "img")
            return
        if "quote-inline" in classes:
            self.skip_depth = 1
            return
        if tag in _BLOCKS:
            self._new_paragraph()
        elif tag == "br":
            self.paragraphs[-1].append("\n")
        elif tag == "a":
            href = dict(attrs).get("href")
            rel = dict(attrs).get("rel") or ""
            if href and not classes & {"mention", "hashtag", "u-url"} and "tag" not in rel.split():
                self.links.append(href)
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.paragraphs[-1].append(alt)

    def handle_endtag(self, tag: str) -> None:
        if self.skip_depth:
            self.skip_depth -= 1
            return
        if tag in _BLOCKS:
            self._new_paragraph()

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.paragraphs[-1].append(data)

    def _new_paragraph(self) -> None:
        if self.paragraphs[-1]:
            self.paragraphs.append([])


def html_to_text(html: str) -> PlainText:
    """Mastodon status HTML as plain text: paragraphs split by a blank line, line breaks kept.

    Mentions and hashtags keep their visible form (@user, #tag); links keep their full URL
    (Mastodon hides parts of long URLs in invisible spans, which are text all the same).
    """
    parser = _Flattener()
    parser.feed(html or "")
    parser.close()
    paragraphs = []
    for parts in parser.paragraphs:
        lines = [" ".join(line.split()) for line in "".join(parts).split("\n")]
        text = "\n".join(lines).strip("\n ")
        if text:
            paragraphs.append(text)
    return PlainText("\n\n".join(paragraphs), tuple(dict.fromkeys(parser.links)))


@dataclass(frozen=True, slots=True)
class Facets:
    """Links, mentions (handles where the text shows them, else DIDs) and hashtags of a record."""

    links: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()


def read_facets(text: str, facets: Sequence[Any] | None, tags: Iterable[Any] = ()) -> Facets:
    """Resolve Bluesky rich-text facets (UTF-8 byte ranges) to links, mentions and hashtags."""
    data = text.encode("utf-8")
    links: list[str] = []
    mentions: list[str] = []
    hashtags: list[str] = [str(t).lstrip("#") for t in tags if isinstance(t, str) and t.strip("#")]
    for facet in facets or ():
        if not isinstance(facet, Mapping):
            continue
        for feature in facet.get("features") or ():
            if not isinstance(feature, Mapping):
                continue
            kind = str(feature.get("$type", "")).rsplit("#", 1)[-1]
            if kind == "link" and feature.get("uri"):
                links.append(str(feature["uri"]))
            elif kind == "tag" and feature.get("tag"):
                hashtags.append(str(feature["tag"]).lstrip("#"))
            elif kind == "mention" and feature.get("did"):
                mentions.append(_slice(data, facet.get("index")).lstrip("@") or str(feature["did"]))
    return Facets(*(tuple(dict.fromkeys(x)) for x in (links, mentions, hashtags)))


def _slice(data: bytes, index: Any) -> str:
    if not isinstance(index, Mapping):
        return ""
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(data):
        return ""
    return data[start:end].decode("utf-8", errors="replace").strip()


def clean_text(value: str) -> str:
    """`value` safe to store anywhere: controls removed (tab and newline kept, CR and CRLF become
    newlines), lone surrogates replaced by U+FFFD. PostgreSQL refuses NUL in text and JSON, SQLite
    keeps it: cleaning at the collector boundary makes a post store the same on both."""
    return _UNSAFE.sub(_fix, value) if _UNSAFE.search(value) else value


def _fix(found: re.Match[str]) -> str:
    c = found.group()
    if c[0] == "\r":
        return "\n"
    return "\ufffd" if "\ud800" <= c <= "\udfff" else ""


def clean_data(value: Any) -> Any:
    """`clean_text` applied to every string (keys included) of a JSON-like value."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): clean_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_data(v) for v in value]
    return value
