"""How texts and keywords become words: normalised the same way, split the same way.

NFKC, case-folded; Arabic and Persian letter variants and diacritics folded; Greek accents
and Turkish dotted/dotless i folded; Hebrew points dropped. Words are letters and digits (the
vowel signs of the Indic scripts included), joined by ' or -; Han, kana and Hangul are cut off
from the letters around them; underscores separate words; CamelCase hashtags are also read as
words. Each word comes with the forms it is also tried as (`variants`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640\u0591-\u05c7\u0307]")
_FOLD = str.maketrans(
    {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ی": "ي", "ک": "ك", "ۀ": "ه",
     "’": "'", "‘": "'", "ʼ": "'", "ı": "i", "‐": "-", "‑": "-"}
)  # fmt: skip
_GREEK = re.compile("[\u0370-\u03ff\u1f00-\u1fff]")
ARABIC = re.compile("[\u0600-\u06ff]")
_HEBREW = re.compile("[\u05d0-\u05ea]")
UNSPACED = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")  # kana and Han
# Letters, digits and the vowel signs of the Indic scripts (combining marks, which \w leaves out).
LETTER = r"[^\W_]|[\u0900-\u0963\u0966-\u0dff]"
WORD = re.compile(rf"\*?(?:{LETTER})+(?:['\-](?:{LETTER})+)*\*?")
KEYWORD = re.compile(
    rf"\*?(?:{LETTER})+(?:['\-](?:{LETTER})+)*(?:-?\*)?"
)  # "deutsch-*": words starting "deutsch-"
_HANGUL = "[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]"
_SCRIPT_RUNS = re.compile(f"{UNSPACED.pattern}+|{_HANGUL}+|(?:(?!{UNSPACED.pattern}|{_HANGUL})[^\\s])+")
_MIXED = re.compile(f"{UNSPACED.pattern}|{_HANGUL}")
_HASHTAG = re.compile(r"#(\w*[a-z]\w*[A-Z]\w*)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# wa/fa, then bi/ka/li, then the article (li + al is written lil): longest first.
_AR_PROCLITICS = sorted(
    {c + p + a for c in ("", "و", "ف") for p in ("", "ب", "ك", "ل") for a in ("", "ال")}
    | {"لل", "ولل", "فلل"},
    key=len,
    reverse=True,
)
# ve/she, then be/le/mi/ke, then the article ha: longest first.
_HE_PROCLITICS = sorted(
    {c + p + a for c in ("", "ו", "ש", "וש") for p in ("", "ב", "ל", "מ", "כ") for a in ("", "ה")} - {""},
    key=len,
    reverse=True,
)


def normalise(text: str) -> str:
    """Case-folded NFKC text with letter variants folded; what rules are matched against."""
    if "#" in text:
        text = _HASHTAG.sub(lambda m: f"#{m[1]} {_CAMEL.sub(' ', m[1])}", text)
    text = unicodedata.normalize("NFKC", text).casefold()
    if _GREEK.search(text):
        text = unicodedata.normalize(
            "NFC", "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
        )
    return _MARKS.sub("", text).translate(_FOLD)


@lru_cache(maxsize=100_000)
def variants(word: str) -> tuple[str, ...]:
    """The word and the forms it is also tried as: parts around ' and -, without proclitics."""
    out = [word]
    if "'" in word or "-" in word:
        parts = [p for p in re.split(r"['\-]", word) if p]
        out += parts
        if "'" in word:  # l'exposition -> exposition; embassy's -> embassy
            head, _, tail = word.partition("'")
            out += [tail, head]
    if ARABIC.match(word):
        out += [word[len(p) :] for p in _AR_PROCLITICS if word.startswith(p) and len(word) - len(p) >= 2]
    elif _HEBREW.match(word):
        out += [word[len(p) :] for p in _HE_PROCLITICS if word.startswith(p) and len(word) - len(p) >= 2]
    return tuple(dict.fromkeys(w for w in out if w))


def letters(text: str) -> int:
    """Length, a Hangul syllable counting as the two or three letters it is made of."""
    return sum(2 if "\uac00" <= c <= "\ud7a3" else 1 for c in text)


def tokenise(norm: str) -> list[tuple[str, ...]]:
    """The words of a normalised text, each with the forms it is also tried as.

    Han, kana and Hangul are cut off from the letters around them ("g7広島aiプロセス": g7, 広島,
    ai, プロセス; "koica를": koica, 를), so Latin keywords of those lists find whole words too.
    Underscores separate words (#حقوق_المرأة).
    """
    words = [w.strip("*") for w in WORD.findall(norm)]
    if _MIXED.search(norm):
        words = [part for w in words for part in (_SCRIPT_RUNS.findall(w) if _MIXED.search(w) else [w])]
    return [variants(w) for w in words if w]
