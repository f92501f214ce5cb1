"""The world both peers are seeded with, written once: accounts, posts and who did what to them.

The same script runs on Bluesky (through the PDS with AtpAgent, tests/interop/peers/
bluesky_peer.mjs) and on Mastodon (through mastodon-mock's REST API with Mastodon.py, each
account with its own token), as real clients would. `expected_counts` derives the like,
repost, reply and quote counts from the script itself; the tests check that each peer reports
exactly those, then that diplomonitor stored what the peer reports.

`seed()` writes what it made (DIDs, account ids, post URIs and ids, expected counts) to a
JSON file the tests read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.interop.peers import BlueskyPeer, MastodonPeer

MASTODON_DOMAIN = "peer.localhost"  # a made-up host with a dot, mapped to the mock by instance_urls
PAGE_SIZE = 5  # small pages: the busiest account needs three


@dataclass(frozen=True)
class Who:
    """A person or office with an account on both platforms."""

    key: str
    bluesky: str  # handle on the PDS (.test resolves inside dev-env)
    mastodon: str  # username on the mock
    country: str
    kind: str
    name: str
    host_country: str | None = None

    def handle(self, platform: str) -> str:
        return self.bluesky if platform == "bluesky" else f"{self.mastodon}@{MASTODON_DOMAIN}"


PEOPLE = {
    w.key: w
    for w in (
        Who("embassy", "embassy-fr.test", "ambafrance", "FR", "embassy", "Ambassade de France", "DE"),
        Who("ministry_de", "ministry-de.test", "auswaertiges", "DE", "ministry", "Auswärtiges Amt"),
        Who("ministry_es", "ministry-es.test", "exteriores", "ES", "ministry", "Ministerio de Exteriores"),
        Who("ministry_ar", "ministry-ar.test", "mofa", "AE", "ministry", "وزارة الخارجية"),
        Who("citizen", "citizen.test", "citizen", "DE", "other", "A citizen"),
        Who("gone", "gone-embassy.test", "closedembassy", "IT", "embassy", "Closed embassy"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Post:
    name: str
    by: str
    text: str  # "{@key}" becomes a mention of that account on each platform
    lang: str
    reply: str | None = None
    quote: str | None = None
    card: str | None = None  # a link card (Bluesky: external embed; the mock makes one from the link)


@dataclass(frozen=True)
class Like:
    by: str
    post: str


@dataclass(frozen=True)
class Repost:
    by: str
    post: str


@dataclass(frozen=True)
class Leave:
    """The account goes: deactivated on Bluesky, suspended by an admin on Mastodon."""

    by: str


Action = Post | Like | Repost | Leave
LINK = "https://example.org/woche-der-diplomatie"
SCRIPT: tuple[Action, ...] = (
    Post("ci1", "citizen", "When can I renew my passport at the embassy?", "en"),
    Post("ef1", "embassy", "Bonjour Berlin ! La semaine de la culture française commence. #Kultur", "fr"),
    Post("ef2", "embassy", "Visa appointments open on Monday.", "en"),
    Post("es1", "ministry_es", "Declaración conjunta sobre cooperación cultural. #UE", "es"),
    Post("de1", "ministry_de", f"Heute beginnt die Woche der Diplomatie. #Diplomatie mit {{@embassy}} {LINK}",
         "de", card=LINK),
    Post("de2", "ministry_de", "Ein Thread zur Außenpolitik 🧵", "de"),
    Post("de3", "ministry_de", "1/ Erstens: Dialog.", "de", reply="de2"),
    Post("de4", "ministry_de", "2/ Zweitens: Zusammenarbeit.", "de", reply="de3"),
    Post("de5", "ministry_de", "Danke für Ihre Frage! Termine gibt es online.", "de", reply="ci1"),
    Post("de6", "ministry_de", "Wir begrüßen die Erklärung aus Madrid.", "de", quote="es1"),
    Repost("ministry_de", "ci1"),
    *(Post(f"de{n}", "ministry_de", f"Pressemitteilung Nr. {n}", "de") for n in range(7, 12)),
    Post("es2", "ministry_es", "¡Enhorabuena por la semana cultural!", "es", reply="ef1"),
    Repost("ministry_es", "de1"),
    Post("ar1", "ministry_ar", "بيان صحفي حول التعاون الثقافي", "ar"),
    Post("ar2", "ministry_ar", "التفاصيل على موقع الوزارة", "ar", reply="ar1"),
    Post("ef3", "embassy", "Nous saluons cette annonce. {@ministry_de}", "fr", quote="de1"),
    Post("ci2", "citizen", "Great initiative!", "en", reply="de1"),
    Post("ci3", "citizen", "¡Muy bien!", "es", reply="es1"),
    Like("citizen", "de1"), Like("embassy", "de1"), Like("ministry_es", "de1"), Like("ministry_ar", "de1"),
    Like("citizen", "es1"), Like("ministry_de", "es1"), Like("citizen", "ef1"), Like("citizen", "de2"),
    Repost("citizen", "de1"), Repost("embassy", "de1"), Repost("citizen", "ar1"),
    Post("go1", "gone", "Our last post before this account closes.", "it"),
    Leave("gone"),
)  # fmt: skip


@dataclass
class Counts:
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0


def expected_counts(script: Iterable[Action] = SCRIPT) -> dict[str, Counts]:
    """What each post's counts must be once the script has run."""
    counts: dict[str, Counts] = {}
    for action in script:
        if isinstance(action, Post):
            counts[action.name] = Counts()
            if action.reply:
                counts[action.reply].replies += 1
            if action.quote:
                counts[action.quote].quotes += 1
        elif isinstance(action, Like):
            counts[action.post].likes += 1
        elif isinstance(action, Repost):
            counts[action.post].reposts += 1
    return counts


def items_of(who: str, script: Iterable[Action] = SCRIPT) -> list[str]:
    """The account's own feed items, oldest first: post names, and `repost:<post>` for its reposts."""
    out = []
    for action in script:
        if isinstance(action, Post) and action.by == who:
            out.append(action.name)
        elif isinstance(action, Repost) and action.by == who:
            out.append(f"repost:{action.post}")
    return out


@dataclass
class Seeded:
    """What one peer made of the script: account ids, and each item's URI (and native id)."""

    accounts: dict[str, str] = field(default_factory=dict)  # key -> DID / account id
    items: dict[str, dict[str, str]] = field(default_factory=dict)  # "<key>:<item>" -> {uri, id}
    tokens: dict[str, str] = field(default_factory=dict)  # Mastodon: key -> access token

    def uri(self, who: str, item: str) -> str:
        return self.items[f"{who}:{item}"]["uri"]


def _text(post: Post, platform: str) -> str:
    for key, who in PEOPLE.items():
        mention = f"@{who.bluesky}" if platform == "bluesky" else f"@{who.mastodon}"
        post = Post(**{**asdict(post), "text": post.text.replace(f"{{@{key}}}", mention)})
    return post.text


def seed_bluesky(peer: BlueskyPeer, script: Iterable[Action] = SCRIPT) -> Seeded:
    """Run the script on the PDS (accounts first), then wait until the AppView has it all."""
    out = Seeded()
    made = peer.ops(*({"op": "account", "handle": w.bluesky, "displayName": w.name} for w in PEOPLE.values()))
    out.accounts = {key: m["did"] for key, m in zip(PEOPLE, made, strict=True)}
    ops: list[dict[str, Any]] = []
    keys: list[str | None] = []
    for action in script:
        handle = PEOPLE[action.by].bluesky
        if isinstance(action, Post):
            op: dict[str, Any] = {"op": "post", "as": handle, "name": action.name,
                                  "text": _text(action, "bluesky"), "langs": [action.lang]}  # fmt: skip
            if action.reply:
                op["reply"] = action.reply
            if action.quote:
                op["quote"] = action.quote
            if action.card:
                op["card"] = {"uri": action.card, "title": "Woche der Diplomatie"}
            ops.append(op)
            keys.append(f"{action.by}:{action.name}")
        elif isinstance(action, Like):
            ops.append({"op": "like", "as": handle, "post": action.post})
            keys.append(None)
        elif isinstance(action, Repost):
            ops.append({"op": "repost", "as": handle, "post": action.post})
            keys.append(f"{action.by}:repost:{action.post}")
        else:
            ops.append({"op": "deactivate", "as": handle})
            keys.append(None)
    for key, result in zip(keys, peer.ops(*ops), strict=True):
        if key:
            out.items[key] = {"uri": result["uri"], "id": result.get("cid", "")}
    return out


def mastodon_config(domain: str = MASTODON_DOMAIN) -> str:
    """mastodon-mock's config: loopback, any free port, the people with their tokens, an admin."""
    lines = [f'domain = "{domain}"', 'url_scheme = "http"', "[server]", 'host = "127.0.0.1"', "port = 0"]
    for key, who in PEOPLE.items():
        name = json.dumps(who.name, ensure_ascii=False)
        lines += ["[[seed.accounts]]", f'username = "{who.mastodon}"', f"display_name = {name}"]
        lines.append(f'access_token = "token-{key}"')
    lines += [
        "[[seed.accounts]]",
        'username = "moderator"',
        'access_token = "token-moderator"',
        'role = "admin"',
    ]
    return "\n".join(lines) + "\n"


def client(peer: MastodonPeer, token: str) -> Any:
    """Mastodon.py as a user of the mock (version checks off: it reports 4.6.0 anyway)."""
    from mastodon import Mastodon

    return Mastodon(access_token=token, api_base_url=peer.url, version_check_mode="none", request_timeout=30)


def seed_mastodon(peer: MastodonPeer, script: Iterable[Action] = SCRIPT) -> Seeded:
    """Run the script through the REST API, each account with its own token."""
    out = Seeded(tokens={key: f"token-{key}" for key in PEOPLE})
    apis = {key: client(peer, token) for key, token in out.tokens.items()}
    for key, who in PEOPLE.items():
        out.accounts[key] = str(apis[key].account_lookup(who.mastodon)["id"])
    ids: dict[str, str] = {}
    for action in script:
        api = apis[action.by]
        if isinstance(action, Post):
            status = api.status_post(
                _text(action, "mastodon"), language=action.lang,
                in_reply_to_id=ids.get(action.reply or ""), quoted_status_id=ids.get(action.quote or ""),
            )  # fmt: skip
            ids[action.name] = str(status["id"])
            out.items[f"{action.by}:{action.name}"] = {"uri": str(status["uri"]), "id": ids[action.name]}
        elif isinstance(action, Like):
            api.status_favourite(ids[action.post])
        elif isinstance(action, Repost):
            boost = api.status_reblog(ids[action.post])
            out.items[f"{action.by}:repost:{action.post}"] = {
                "uri": str(boost["uri"]),
                "id": str(boost["id"]),
            }
        else:
            client(peer, "token-moderator").admin_account_moderate(out.accounts[action.by], action="suspend")
    return out


@dataclass
class World:
    """Both peers, seeded; what the seed made, as the tests read it back from seed.json."""

    bluesky: BlueskyPeer
    mastodon: MastodonPeer
    made: dict[str, Seeded]
    counts: dict[str, Counts]

    def seeded(self, platform: str) -> Seeded:
        return self.made[platform]


def seed(bluesky: BlueskyPeer, mastodon: MastodonPeer, out: Path) -> World:
    """Seed both peers and write seed.json (accounts, items and expected counts)."""
    made = {"bluesky": seed_bluesky(bluesky), "mastodon": seed_mastodon(mastodon)}
    counts = expected_counts()
    record = {
        "page_size": PAGE_SIZE,
        "people": {key: asdict(w) for key, w in PEOPLE.items()},
        "platforms": {p: asdict(s) for p, s in made.items()},
        "expected": {name: asdict(c) for name, c in counts.items()},
        "items_of": {key: items_of(key) for key in PEOPLE},
    }
    out.write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    saved = json.loads(out.read_text(encoding="utf-8"))
    return World(
        bluesky,
        mastodon,
        {p: Seeded(**s) for p, s in saved["platforms"].items()},
        {n: Counts(**c) for n, c in saved["expected"].items()},
    )
