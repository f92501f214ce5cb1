"""Keyword and phrase rules per language: topic hits in any script, with no model at all.

Texts and keywords are normalised and split into words the same way (models.words). A rule is
one keyword of one topic in one language:

    word        the whole word ("art" does not match "article")
    word*       a word starting with it ("cultur*": culture, cultural, culturel)
    *word       a word ending with it, or the word itself: the head of a compound
                ("*pflicht": Visumpflicht, Pflicht)
    *word*      a word containing it ("*angriff*": Drohnenangriffe, Angriffs)
    two words   the phrase, word after word, each word with its own syntax
    !word       an exception: a word or phrase matching it (same syntax) never counts for
                this topic ("!kompass" beside "*pass", "!security council" beside "security")
    ~word       a weak keyword: counts half, so it needs a second keyword to make a topic
                ("~invest*": investment is trade when something else says so)

Chinese and Japanese write no spaces between words, so keywords in Han or kana match anywhere
in the text, and an exception masks its text for that topic ("!大使館" beside "大使"). Words
with an apostrophe or a hyphen are also tried in parts ("l'exposition", "embassy's",
"EU-Gipfel"); Arabic words without the attached و ف ب ل ك and ال, Hebrew words without the
attached ו ה ב ל מ ש כ. CamelCase hashtags are also read as words ("#NationalDay").

Rules are gated by language: a post is read only with the lists of the languages it is in
(`LanguageRules.hits(text, languages)`), so the German "uno" (UN) never fires on Spanish
"uno". Matching is a dictionary look-up per word (and per position inside a word for the
compound forms), not a regular expression per keyword.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from models.words import ARABIC, KEYWORD, UNSPACED, letters, normalise, tokenise

MIN_INFIX = 3  # letters of a part found anywhere in a word (*word*): shorter ones hit inside anything
MIN_SUFFIX = 2  # letters of a compound head (*word)
MEMO = 100_000  # words remembered per language with the rules their form matches
WEAK = 0.5  # what a weak keyword (~word) counts: alone it is evidence, not a topic


@dataclass(frozen=True, slots=True)
class Pattern:
    """One word of a keyword: the letters and where in a word they must stand."""

    text: str
    start: bool  # must start the word
    end: bool  # must end the word

    @classmethod
    def parse(cls, word: str) -> Pattern:
        return cls(word.strip("*"), not word.startswith("*"), not word.endswith("*"))

    def matches(self, token: str) -> bool:
        if self.start and self.end:
            return token == self.text
        if self.start:
            return token.startswith(self.text)
        if self.end:
            return token.endswith(self.text)
        return self.text in token


@dataclass(frozen=True, slots=True)
class _Rule:
    topic: str
    keyword: str  # normalised: the same keyword counts once, whichever list found it
    words: tuple[Pattern, ...]


class KeywordError(ValueError):
    """A keyword that cannot be used as written."""


class KeywordRules:
    """Compiled rules of one language; `hits(text)` counts the distinct keywords found per topic."""

    def __init__(self, keywords: Mapping[str, Iterable[str]]):
        self.exact: dict[str, list[_Rule]] = defaultdict(list)  # word
        self.prefix: dict[str, list[_Rule]] = defaultdict(list)  # word*: by the prefix
        self.suffix: dict[str, list[_Rule]] = defaultdict(list)  # *word: by the ending
        self.infix: dict[str, list[_Rule]] = defaultdict(list)  # *word*: by its first 3 letters
        self.unspaced: list[tuple[str, str, str]] = []  # (text, topic, keyword)
        self.exceptions: dict[str, list[tuple[Pattern, ...]]] = defaultdict(list)
        self.unspaced_exceptions: dict[str, list[str]] = defaultdict(list)
        self._memo: dict[str, tuple[_Rule, ...]] = {}  # word -> rules whose first word it matches
        seen: set[tuple[str, str]] = set()
        for topic, words in keywords.items():
            for keyword in words:
                kw = normalise(keyword.strip())
                if kw.startswith("!"):
                    self._except(topic, keyword, kw[1:].strip())
                elif (topic, kw) not in seen:
                    seen.add((topic, kw))
                    self._add(topic, keyword, kw.lstrip("~").strip(), weak=kw.startswith("~"))
        self._prefix_lengths = sorted({len(k) for k in self.prefix})
        self._suffix_lengths = sorted({len(k) for k in self.suffix})
        self._short_infix = any(len(k) < 3 for k in self.infix)  # two Hangul syllables

    def _except(self, topic: str, keyword: str, kw: str) -> None:
        if UNSPACED.search(kw):
            self.unspaced_exceptions[topic].append(kw.strip("*"))
            return
        words = tuple(Pattern.parse(w) for w in KEYWORD.findall(kw))
        if not words:
            raise KeywordError(f"exception {keyword!r} has no letters")
        self.exceptions[topic].append(words)

    def _add(self, topic: str, keyword: str, kw: str, *, weak: bool) -> None:
        key = ("~" if weak else "") + kw  # what `found` reports: the weight travels with it
        if UNSPACED.search(kw):
            self.unspaced.append((kw.strip("*"), topic, key))
            return
        words = [Pattern.parse(w) for w in KEYWORD.findall(kw)]
        if not words:
            raise KeywordError(f"keyword {keyword!r} has no letters")
        for p in words:
            if not p.start and letters(p.text) < (MIN_SUFFIX if p.end else MIN_INFIX):
                raise KeywordError(f"keyword {keyword!r}: too short a part to find inside words")
            if not p.end and letters(p.text) < 2:
                raise KeywordError(f"keyword {keyword!r}: a prefix needs 2+ letters")
        first = words[0]
        if ARABIC.match(first.text) and first.text.startswith("ال") and len(first.text) > 3:
            words[0] = Pattern(first.text[2:], first.start, first.end)  # the article is tried off the text
        rule = _Rule(topic, key, tuple(words))
        head = words[0]
        if head.start and head.end:
            self.exact[head.text].append(rule)
        elif head.start:
            self.prefix[head.text].append(rule)
        elif head.end:
            self.suffix[head.text].append(rule)
        else:
            self.infix[head.text[:3]].append(rule)

    def hits(self, text: str) -> dict[str, float]:
        """Topic -> distinct keywords found (a weak one counts half); topics with none left out."""
        norm = normalise(text)
        return _count(self.found(norm, tokenise(norm)))

    def found(self, norm: str, tokens: Sequence[tuple[str, ...]]) -> set[tuple[str, str, int]]:
        """(topic, keyword, where) of every rule matching the normalised text and its tokens.

        where: the word's position, or for unspaced keywords minus one minus the character offset.
        """
        found: set[tuple[str, str, int]] = set()
        if self.unspaced and UNSPACED.search(norm):
            masked: dict[str, str] = {}  # topic -> the text with its exceptions blanked out
            for text, topic, key in self.unspaced:
                if text not in norm:
                    continue
                if topic not in masked:
                    masked[topic] = norm
                    for exception in self.unspaced_exceptions.get(topic, ()):
                        masked[topic] = masked[topic].replace(exception, " ")
                at = masked[topic].find(text)
                if at >= 0:
                    found.add((topic, key, -1 - at))
        memo = self._memo
        for at, forms in enumerate(tokens):
            for word in forms:
                rules = memo.get(word)
                if rules is None:
                    rules = self._first(word)
                for rule in rules:
                    if len(rule.words) > 1 and not _rest_matches(rule.words, tokens, at):
                        continue
                    if rule.topic in self.exceptions and self._excepted(rule, tokens, at):
                        continue
                    found.add((rule.topic, rule.keyword, at))
        return found

    def _first(self, word: str) -> tuple[_Rule, ...]:
        """The rules whose first word matches this word (remembered: words recur)."""
        memo = self._memo.get(word)
        if memo is not None:
            return memo
        out = list(self.exact.get(word, ()))
        for n in self._prefix_lengths:
            if n > len(word):
                break
            out += self.prefix.get(word[:n], ())
        for n in self._suffix_lengths:
            if n > len(word):
                break
            out += self.suffix.get(word[-n:], ())
        if self.infix:
            for i in range(len(word) - 1):
                for key in (word[i : i + 3], word[i : i + 2]) if self._short_infix else (word[i : i + 3],):
                    out += [r for r in self.infix.get(key, ()) if word.startswith(r.words[0].text, i)]
        if len(self._memo) > MEMO:
            self._memo.clear()
        self._memo[word] = memo = tuple(out)
        return memo

    def _excepted(self, rule: _Rule, tokens: Sequence[tuple[str, ...]], at: int) -> bool:
        """Whether one of the topic's exceptions covers a word the rule matched."""
        span = range(at, at + len(rule.words))
        for words in self.exceptions[rule.topic]:
            for start in range(max(0, at - len(words) + 1), span.stop):
                if any(words[0].matches(f) for f in tokens[start]) and _rest_matches(words, tokens, start):
                    return True
        return False


def _rest_matches(words: Sequence[Pattern], tokens: Sequence[tuple[str, ...]], at: int) -> bool:
    """Whether the words after the first match the tokens after position `at`."""
    if at + len(words) > len(tokens):
        return False
    return all(
        any(pattern.matches(f) for f in tokens[at + offset]) for offset, pattern in enumerate(words[1:], 1)
    )


def _count(found: Iterable[tuple[str, str, int]]) -> dict[str, float]:
    """Per topic: distinct keywords (weak ones half), at most one per place they were found at.

    A keyword found twice counts once, and so does a word two keywords found ("export*" and
    "*export*" in "Exportkontrollen").
    """
    keywords: dict[str, dict[str, float]] = defaultdict(dict)
    places: dict[str, set[int]] = defaultdict(set)
    for topic, keyword, where in found:
        keywords[topic][keyword] = WEAK if keyword.startswith("~") else 1.0
        places[topic].add(where)
    out = {}
    for topic, weights in keywords.items():
        ranked = sorted(weights.values(), reverse=True)[: len(places[topic])]
        out[topic] = sum(ranked)
    return out


_FLAG = re.compile("[\U0001f1e6-\U0001f1ff]{2}")
NOT_STATES = {"🇪🇺", "🇺🇳"}
SIGNALS = ("two_flags",)  # names a taxonomy can give a topic in its [signals] table


def signals(text: str) -> set[str]:
    """Language-independent evidence in a text: two_flags = exactly two national flag emoji."""
    flags = set(_FLAG.findall(text)) - NOT_STATES
    return {"two_flags"} if len(flags) == 2 else set()


class LanguageRules:
    """Keyword rules per language; a text is read with the lists of the languages it is in."""

    def __init__(
        self,
        keywords: Mapping[str, Mapping[str, Iterable[str]]],
        signal_topics: Mapping[str, str] | None = None,
    ):
        """keywords: language -> topic -> keywords; signal_topics: signal -> the topic it weakly supports."""
        self.by_language = {lang: KeywordRules(topics) for lang, topics in keywords.items()}
        self.signal_topics = dict(signal_topics or {})

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.by_language))

    def covers(self, languages: Iterable[str | None]) -> bool:
        """Whether any of these languages has rules."""
        return any(lang in self.by_language for lang in languages)

    def hits(self, text: str, languages: Iterable[str | None]) -> dict[str, float]:
        """Topic -> distinct keywords found (weak ones count half), read with each language's list."""
        rules = [self.by_language[lang] for lang in dict.fromkeys(languages) if lang in self.by_language]
        if not rules:
            return {}
        norm = normalise(text)
        tokens = tokenise(norm)
        found: set[tuple[str, str, int]] = set()
        for r in rules:
            found |= r.found(norm, tokens)
        if self.signal_topics:
            found |= {
                (self.signal_topics[x], f"~<{x}>", -1_000_000)
                for x in signals(text)
                if x in self.signal_topics
            }
        return _count(found)
