"""Loopback servers that behave as a Teams Workflows webhook and a Matrix homeserver do.

Workflows ("When a Teams webhook request is received", then "Post card in a chat or
channel"): POST a `message` whose attachment is an Adaptive Card; 202 when accepted, 400 for
a body it cannot read, 401 without the right `sig`. It does not deduplicate by itself; this
one posts each `Idempotency-Key` once, as a flow with a dedup step would.

Matrix (client-server API, `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}`):
Bearer token, 401 `M_MISSING_TOKEN` / `M_UNKNOWN_TOKEN`, 403 `M_FORBIDDEN` outside the rooms
the bot joined, 400 `M_BAD_JSON` for content without a string `msgtype` and `body` (or with
`format` but no `formatted_body`), and the spec's transaction semantics: a request with the
same txnId and path from the same device is a retransmission, answered with the first
response and posting nothing.

Both take scripted answers (`answers`: status, JSON, headers) to play outages and rate
limits, and `lose`: commit the request, then answer 504 as a proxy that timed out would.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Answer = tuple[int, Any, dict[str, str]]
CARD_ELEMENTS = {"TextBlock", "FactSet", "RichTextBlock", "Container", "ColumnSet", "ActionSet", "Image"}
_SEND = re.compile(r"^/_matrix/client/v3/rooms/([^/]+)/send/([^/]+)/([^/]+)$")


@dataclass
class Scripted:
    """What both servers share: the requests seen, scripted answers, lost responses."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)  # played first, one per request
    lose: int = 0  # requests to commit and then answer 504
    lock: threading.Lock = field(default_factory=threading.Lock)

    def scripted(self) -> Answer | None:
        return self.answers.pop(0) if self.answers else None


@dataclass
class Workflows(Scripted):
    """A Teams channel behind a Workflows webhook: `posted` holds the cards it showed."""

    sig: str = "s3cr3t-signature"
    posted: list[dict[str, Any]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if parse_qs(urlsplit(path).query).get("sig") != [self.sig]:
            return 401, {"error": {"code": "DirectApiAuthorizationRequired"}}, {}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"error": {"code": "InvalidRequestContent", "message": "not JSON"}}, {}
        problems = card_problems(payload)
        if problems:
            return 400, {"error": {"code": "InvalidRequestContent", "message": "; ".join(problems)}}, {}
        key = headers.get("idempotency-key", "")
        if key not in self.keys:
            self.keys.add(key)
            self.posted.append(payload["attachments"][0]["content"])
        return 202, None, {}


def card_problems(payload: Any) -> list[str]:
    """What keeps `payload` from being a Workflows message with one Adaptive Card (empty: none)."""
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return ["type must be 'message'"]
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return ["attachments must hold one card"]
    a = attachments[0]
    if a.get("contentType") != "application/vnd.microsoft.card.adaptive":
        return ["contentType must be application/vnd.microsoft.card.adaptive"]
    card = a.get("content")
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return ["content must be an AdaptiveCard"]
    problems = [] if card.get("version") in ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5") else ["bad version"]
    for element in walk(card.get("body", [])):
        problems += _element_problems(element)
    for action in card.get("actions", []):
        if action.get("type") != "Action.OpenUrl" or not str(action.get("url", "")).startswith("http"):
            problems.append(f"bad action {action!r}")
    return problems


def walk(elements: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every element of a card body, containers' items included."""
    for e in elements:
        yield e
        yield from walk(e.get("items", []))


def _element_problems(e: dict[str, Any]) -> list[str]:
    kind = e.get("type")
    if kind not in CARD_ELEMENTS:
        return [f"unknown element {kind!r}"]
    if kind == "TextBlock" and not isinstance(e.get("text"), str):
        return ["TextBlock without text"]
    if kind == "FactSet" and not all(
        isinstance(f.get("title"), str) and isinstance(f.get("value"), str) for f in e.get("facts", [])
    ):
        return ["Fact without title or value"]
    if kind == "RichTextBlock":
        runs = e.get("inlines", [])
        if not all(r.get("type") == "TextRun" and isinstance(r.get("text"), str) for r in runs):
            return ["RichTextBlock inline that is not a TextRun"]
    return []


@dataclass
class Homeserver(Scripted):
    """A Matrix homeserver with one bot account (`token`) that joined `rooms`."""

    token: str = "syt_Ym90_secret"
    rooms: set[str] = field(default_factory=lambda: {"!ops:example.org"})
    events: list[dict[str, Any]] = field(default_factory=list)  # {"room_id", "event_id", "content"}
    txns: dict[tuple[str, str], Answer] = field(default_factory=dict)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return 401, {"errcode": "M_MISSING_TOKEN", "error": "Missing access token"}, {}
        if auth.removeprefix("Bearer ") != self.token:
            return (
                401,
                {"errcode": "M_UNKNOWN_TOKEN", "error": "Unknown access token", "soft_logout": False},
                {},
            )
        found = _SEND.match(urlsplit(path).path)
        if not found:
            return 404, {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}, {}
        txn_key = (self.token, urlsplit(path).path)  # one device per token here; same path = same endpoint
        if txn_key in self.txns:
            return self.txns[txn_key]  # a retransmission: the first answer, nothing posted
        room, event_type = unquote(found.group(1)), unquote(found.group(2))
        if room not in self.rooms:
            return 403, {"errcode": "M_FORBIDDEN", "error": f"User not in room {room}"}, {}
        try:
            content = json.loads(body)
        except ValueError:
            return 400, {"errcode": "M_NOT_JSON", "error": "Content not JSON."}, {}
        problem = message_problem(content) if event_type == "m.room.message" else None
        if problem:
            return 400, {"errcode": "M_BAD_JSON", "error": problem}, {}
        event_id = f"$event{len(self.events) + 1}"
        self.events.append({"room_id": room, "event_id": event_id, "type": event_type, "content": content})
        answer: Answer = (200, {"event_id": event_id}, {})
        self.txns[txn_key] = answer
        return answer


def message_problem(content: Any) -> str | None:
    """Why `content` is not an m.room.message the spec allows, or None."""
    if not isinstance(content, dict):
        return "content must be an object"
    if not isinstance(content.get("msgtype"), str) or not isinstance(content.get("body"), str):
        return "msgtype and body must be strings"
    if "format" in content and not isinstance(content.get("formatted_body"), str):
        return "formatted_body is required with format"
    return None


@contextmanager
def serve(state: Scripted, path: str) -> Iterator[Scripted]:
    """Run `state` on a loopback port; `state.url` is set to http://127.0.0.1:PORT + path."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with state.lock:
                state.requests.append({"method": self.command, "path": self.path, "headers": headers,
                                       "body": body.decode("utf-8", "replace")})  # fmt: skip
                answer = state.scripted() or state.handle(self.path, headers, body)  # type: ignore[attr-defined]
                if state.lose and answer[0] < 300:
                    state.lose -= 1
                    answer = (504, {"error": "upstream timed out"}, {})
            status, payload, extra = answer
            data = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_PUT = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
