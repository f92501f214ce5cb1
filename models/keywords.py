"""Keyword and phrase rules: topic hits in any script, with no model at all.

Texts and keywords are normalised the same way (NFKC, case-folded, Arabic spelling variants
folded: hamza forms of alef, taa marbuta, alef maqsura, diacritics, tatweel) and split into
words; a keyword matches whole words (`word*`: words starting with it; `two words`: the
phrase). Chinese and Japanese write no spaces between words, so their keywords match anywhere
in the text. Arabic attaches the conjunctions و ف, the prepositions ب ل ك and the article ال
to the next word, so Arabic words are also tried without them (and keywords without ال).
Matching is a dictionary look-up per word, not a regular expression per keyword.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "’": "'", "‘": "'"})
_ARABIC = re.compile("[\u0600-\u06ff]")
_UNSPACED = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")  # kana and Han
_WORD = re.compile(r"\w+(?:['\-]\w+)*\*?")
# wa/fa, then bi/ka/li, then the article (li + al is written lil): longest first.
_PROCLITICS = sorted(
    {c + p + a for c in ("", "و", "ف") for p in ("", "ب", "ك", "ل") for a in ("", "ال")}
    | {"لل", "ولل", "فلل"},
    key=len,
    reverse=True,
)


def normalise(text: str) -> str:
    """Case-folded NFKC text with Arabic variants folded; what rules are matched against."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _ARABIC_MARKS.sub("", text).translate(_FOLD)


def _variants(word: str) -> list[str]:
    """The word, and for Arabic the word without each attached prefix that leaves 2+ letters."""
    if not _ARABIC.match(word):
        return [word]
    return [word] + [
        word[len(p) :] for p in _PROCLITICS if p and word.startswith(p) and len(word) - len(p) >= 2
    ]


@dataclass(frozen=True, slots=True)
class _Rule:
    topic: str
    index: int  # distinct keywords count once
    words: tuple[tuple[str, bool], ...]  # (word, is a prefix)


class KeywordRules:
    """Compiled rules of every topic; `hits(text)` counts the distinct keywords found."""

    def __init__(self, keywords: Mapping[str, Iterable[str]]):
        self.exact: dict[str, list[_Rule]] = defaultdict(list)
        self.prefix: dict[str, list[_Rule]] = defaultdict(list)  # by the prefix's first 2 letters
        self.unspaced: list[tuple[str, str, int]] = []  # (keyword, topic, index)
        seen: dict[tuple[str, str], int] = {}
        for topic, words in keywords.items():
            for keyword in words:
                kw = normalise(keyword.strip())
                if (topic, kw) not in seen:  # the same word listed for two languages counts once
                    seen[topic, kw] = len(seen)
                    self._add(topic, seen[topic, kw], kw)

    def _add(self, topic: str, index: int, kw: str) -> None:
        if _UNSPACED.search(kw):
            self.unspaced.append((kw.rstrip("*"), topic, index))
            return
        words = [(w.rstrip("*"), w.endswith("*")) for w in _WORD.findall(kw)]
        if _ARABIC.match(words[0][0]) and words[0][0].startswith("ال") and len(words[0][0]) > 3:
            words[0] = (words[0][0][2:], words[0][1])  # the article is tried off the text's word
        rule = _Rule(topic, index, tuple(words))
        first, is_prefix = words[0]
        (self.prefix[first[:2]] if is_prefix else self.exact[first]).append(rule)

    def hits(self, text: str) -> dict[str, int]:
        """Topic -> number of distinct keywords found in the text (topics with none left out)."""
        norm = normalise(text)
        found: set[tuple[str, int]] = set()
        if self.unspaced and _UNSPACED.search(norm):
            found.update((topic, i) for kw, topic, i in self.unspaced if kw in norm)
        tokens = [w.rstrip("*") for w in _WORD.findall(norm)]
        for at, token in enumerate(tokens):
            for word in _variants(token):
                for rule in self.exact.get(word, ()):
                    if _rest_matches(rule, tokens, at):
                        found.add((rule.topic, rule.index))
                for rule in self.prefix.get(word[:2], ()):
                    if word.startswith(rule.words[0][0]) and _rest_matches(rule, tokens, at):
                        found.add((rule.topic, rule.index))
        counts: dict[str, int] = defaultdict(int)
        for topic, _ in found:
            counts[topic] += 1
        return dict(counts)


def _rest_matches(rule: _Rule, tokens: list[str], at: int) -> bool:
    rest = rule.words[1:]
    if at + len(rest) >= len(tokens):
        return False
    for offset, (word, is_prefix) in enumerate(rest, start=1):
        token = tokens[at + offset]
        if not (token.startswith(word) if is_prefix else token == word):
            return False
    return True
