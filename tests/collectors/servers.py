"""Local HTTP servers speaking Bluesky XRPC and Mastodon REST as the reference peers do.

Each runs a ThreadingHTTPServer on 127.0.0.1 in a thread. Tests queue faults per path
(status codes with headers, delays, malformed or truncated bodies, a hang until released)
and read back the requests the server saw. `load_recorded()` fills a server with the world
recorded from the peers (tests/fixtures); entities added one by one are built from the same
recorded shapes (tests/collectors/payloads.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.collectors.payloads import account_entity, iso, profile_view
from tests.fixtures import WORLD, body, exchange, names

__all__ = ["FakeBluesky", "FakeMastodon", "FakeServer", "Fault", "Seen", "iso"]


@dataclass
class Fault:
    """One planned misbehaviour for the next request to a path."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # None: the normal answer
    delay: float = 0.0
    truncate: bool = False  # send half the body, then close the connection
    hang: threading.Event | None = None  # wait for this before answering


@dataclass
class Seen:
    at: float
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class FakeServer:
    """Base: routing, faults, latency, request log."""

    def __init__(self, latency: float = 0.0):
        self.latency = latency
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                server._serve(self, "GET")

            def do_POST(self) -> None:
                server._serve(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail(self, path: str, *faults: Fault) -> None:
        """Queue faults for the next requests to `path` (an exact path)."""
        with self.lock:
            self.faults[path].extend(faults)

    def calls(self, path: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path == path]

    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body_in = h.rfile.read(length) if length else b""
        seen = Seen(time.monotonic(), method, parts.path, parse_qs(parts.query), dict(h.headers.items()))
        with self.lock:
            self.seen.append(seen)
            fault = self.faults[parts.path].pop(0) if self.faults.get(parts.path) else None
        if self.latency:
            time.sleep(self.latency)
        if fault and fault.hang:
            fault.hang.wait(30)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and (fault.status != 200 or fault.body is not None):
            status, headers, body = fault.status, {"Content-Type": "application/json"}, fault.body or b"{}"
            headers.update(fault.headers)
        else:
            status, headers, payload = self.route(method, parts.path, seen.query, seen.headers, body_in)
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            headers = {"Content-Type": "application/json; charset=utf-8", **headers}
            if fault:
                headers.update(fault.headers)
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            if fault and fault.truncate:
                h.wfile.write(body[: len(body) // 2])
                h.wfile.flush()
                h.close_connection = True
                h.connection.shutdown(2)
                return
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass

    def route(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError


class FakeBluesky(FakeServer):
    """An AppView (and a PDS for logins): profiles, author feeds, getPosts.

    Author feeds are filtered, paged and pinned as the reference AppView does (checked against
    @atproto/dev-env by tests/interop): `filter` decides which replies are served, `includePins`
    puts the pinned post on top of page one, and an unknown, deactivated or taken-down actor
    gets 400 "Profile not found" from getAuthorFeed while getProfile names the reason.
    `page_size` caps a page below the requested `limit`, as the AppView's pages may end early.
    """

    def __init__(self, latency: float = 0.0, page_size: int = 100):
        super().__init__(latency)
        self.page_size = page_size
        self.profiles: dict[str, dict[str, Any]] = {}  # did -> profileViewDetailed
        self.handles: dict[str, str] = {}  # handle -> did
        self.feeds: dict[str, list[dict[str, Any]]] = defaultdict(list)  # did -> items, newest first
        self.pinned: dict[str, dict[str, Any]] = {}  # did -> postView shown on top of page one
        self.errors: dict[str, tuple[int, str, str]] = {}  # actor -> (status, error, message)
        self.sessions = 0
        self.refreshes = 0
        self.access_ttl = timedelta(hours=2)
        # Reception: a post's thread below it (threadViewPost nodes, or notFoundPost/blockedPost
        # entries) and the posts quoting it; the AppView serves at most `thread_cap` replies.
        self.threads: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.quoting: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.thread_cap = 1000

    def add_account(self, did: str, handle: str, **counts: Any) -> None:
        self.profiles[did] = profile_view(did, handle, **counts)
        self.handles[handle] = did

    def load_recorded(self) -> FakeBluesky:
        """Hold what the reference AppView served for the recorded world (tests/fixtures)."""
        for key in WORLD.people():
            did = WORLD.account("bluesky", key)
            self.handles[WORLD.handle("bluesky", key)] = did
            profile = exchange("bluesky", f"getProfile.{key}")
            if profile["status"] == 200:
                self.profiles[did] = profile["body"]
            else:  # deactivated: getProfile says why, getAuthorFeed only "Profile not found"
                self.errors[did] = (profile["status"], profile["body"]["error"], profile["body"]["message"])
                continue
            self.feeds[did] = body("bluesky", f"getAuthorFeed.{key}")["feed"]
        for name in names("bluesky"):
            if name.startswith("getPostThread.") and not name.endswith(".depth1"):
                thread = body("bluesky", name)["thread"]
                self.threads[thread["post"]["uri"]] = thread["replies"]
            elif name.startswith("getQuotes."):
                quotes = body("bluesky", name)
                self.quoting[quotes["uri"]] = quotes["posts"]
        return self

    def views(self) -> dict[str, dict[str, Any]]:
        out = {}
        for items in self.feeds.values():
            for item in items:
                if "reason" not in item:
                    out[item["post"]["uri"]] = item["post"]
        return out

    def route(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        name = path.removeprefix("/xrpc/")
        limits = {
            "ratelimit-limit": "3000",
            "ratelimit-remaining": "2999",
            "ratelimit-reset": str(int(time.time()) + 300),
            "ratelimit-policy": "3000;w=300",
        }
        if name == "com.atproto.server.createSession":
            self.sessions += 1
            return 200, limits, self._session(json.loads(body or b"{}").get("identifier", "me.example"))
        if name == "com.atproto.server.refreshSession":
            self.refreshes += 1
            return 200, limits, self._session("me.example")
        actor = (query.get("actor") or [""])[0]
        did = self.handles.get(actor, actor)
        if name == "app.bsky.actor.getProfile":
            if actor in self.errors or did in self.errors:
                status, error, message = self.errors.get(actor) or self.errors[did]
                return status, limits, {"error": error, "message": message}
            if did not in self.profiles:
                return 400, limits, {"error": "InvalidRequest", "message": "Profile not found"}
            return 200, limits, self.profiles[did]
        if name == "app.bsky.actor.getProfiles":
            actors = [self.handles.get(a, a) for a in query.get("actors", [])]
            return (
                200,
                limits,
                {
                    "profiles": [
                        self.profiles[a] for a in actors if a in self.profiles and a not in self.errors
                    ]
                },
            )
        if name == "app.bsky.feed.getAuthorFeed":
            limit = int((query.get("limit") or ["50"])[0])
            if not 1 <= limit <= 100:
                size = "too big (maximum 100" if limit > 100 else "too small (minimum 1"
                message = f"Invalid app.bsky.feed.getAuthorFeed params: integer {size}, got {limit})"
                return 400, limits, {"error": "InvalidRequest", "message": message}
            # The AppView answers "Profile not found" for unknown, deactivated and taken-down
            # actors alike; only getProfile tells them apart.
            if did not in self.profiles or actor in self.errors or did in self.errors:
                return 400, limits, {"error": "InvalidRequest", "message": "Profile not found"}
            return 200, limits, self._feed(did, query, limit)
        if name == "app.bsky.feed.getPosts":
            views = self.views()
            return 200, limits, {"posts": [views[u] for u in query.get("uris", []) if u in views]}
        if name == "app.bsky.feed.getPostThread":
            return self._thread(query, limits)
        if name == "app.bsky.feed.getQuotes":
            uri = (query.get("uri") or [""])[0]
            start = int((query.get("cursor") or ["0"])[0])
            limit = int((query.get("limit") or ["50"])[0])
            if not 1 <= limit <= 100:
                return 400, limits, {"error": "InvalidRequest", "message": "limit must be 1 to 100"}
            page = self.quoting[uri][start : start + limit]
            out: dict[str, Any] = {"uri": uri, "posts": page}
            if start + limit < len(self.quoting[uri]):
                out["cursor"] = str(start + limit)
            return 200, limits, out
        return 404, limits, {"error": "MethodNotImplemented", "message": f"{name} not served"}

    def _feed(self, did: str, query: dict[str, list[str]], limit: int) -> dict[str, Any]:
        """getAuthorFeed as the AppView serves it (@atproto/bsky api/app/bsky/feed/getAuthorFeed.ts)."""
        wanted = (query.get("filter") or ["posts_with_replies"])[0]
        items = [i for i in self.feeds[did] if _in_feed(i, did, wanted)]
        cursor: int | None = int((query.get("cursor") or ["0"])[0])
        pins = (query.get("includePins") or [""])[0] == "true" and not query.get("cursor")
        page: list[dict[str, Any]] = []
        # fillPage: while a page holds less than half the limit, fetch on (10 fetches at most).
        for _ in range(10):
            if cursor is None or (page and len(page) >= -(-limit // 2)) or len(page) >= self.page_size:
                break
            end = cursor + min(limit, self.page_size) - len(page)
            chunk = items[cursor:end]
            if wanted == "posts_and_author_threads":
                chunk = _self_threads(chunk)
            if pins and cursor == 0 and did in self.pinned:
                pinned = self.pinned[did]
                chunk = [{"post": pinned, "reason": {"$type": "app.bsky.feed.defs#reasonPin"}}] + [
                    i for i in chunk if i["post"]["uri"] != pinned["uri"]
                ]
            page += chunk
            cursor = end if end < len(items) else None
        out: dict[str, Any] = {"feed": page}
        if cursor is not None:
            out["cursor"] = str(cursor)
        return out

    def add_reply(self, root: str, view: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
        """A reply in `root`'s thread, under `parent` (default: the root); its threadViewPost node."""
        node: dict[str, Any] = {
            "$type": "app.bsky.feed.defs#threadViewPost",
            "post": view,
            "replies": [],
            "threadContext": {},
        }
        with self.lock:
            siblings = self.threads[root] if parent in (None, root) else self._node(root, parent)["replies"]
            siblings.append(node)
        return node

    def _node(self, root: str, uri: str) -> dict[str, Any]:
        stack = list(self.threads[root])
        while stack:
            node = stack.pop()
            if node.get("post", {}).get("uri") == uri:
                return node
            stack.extend(node.get("replies", []))
        raise KeyError(uri)

    def _thread(self, query: dict[str, list[str]], limits: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        uri = (query.get("uri") or [""])[0]
        depth = int((query.get("depth") or ["6"])[0])
        root = self.views().get(uri)
        if root is None:
            return 400, limits, {"error": "NotFound", "message": f"Post not found: {uri}"}
        budget = [self.thread_cap]

        def cut(nodes: list[dict[str, Any]], level: int) -> list[dict[str, Any]]:
            out = []
            for node in nodes:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
                if node.get("$type") != "app.bsky.feed.defs#threadViewPost":
                    out.append(node)
                    continue
                if level < depth:
                    out.append({**node, "replies": cut(node["replies"], level + 1)})
                else:  # the AppView leaves `replies` out where the depth ends
                    out.append({k: v for k, v in node.items() if k != "replies"})
            return out

        with self.lock:
            replies = cut(self.threads[uri], 1)
        thread = {"$type": "app.bsky.feed.defs#threadViewPost", "post": root, "replies": replies}
        return 200, limits, {"thread": {**thread, "threadContext": {}}}

    def _session(self, handle: str) -> dict[str, Any]:
        def jwt(ttl: timedelta, scope: str) -> str:
            import base64

            def b64(d: dict[str, Any]) -> str:
                return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

            exp = int((datetime.now(UTC) + ttl).timestamp())
            claims = {"scope": scope, "sub": "did:plc:me", "iat": int(time.time()), "exp": exp}
            return f"{b64({'typ': 'JWT', 'alg': 'ES256K'})}.{b64(claims)}.c2ln"

        return {
            "did": "did:plc:me",
            "handle": handle,
            "accessJwt": jwt(self.access_ttl, "com.atproto.access"),
            "refreshJwt": jwt(timedelta(days=60), "com.atproto.refresh"),
            "active": True,
        }


def _reply(post: dict[str, Any]) -> dict[str, Any]:
    return post.get("record", {}).get("reply") or {}


def _in_feed(item: dict[str, Any], did: str, wanted: str) -> bool:
    """The data plane's choice of feed items for a filter (reposts pass every text filter)."""
    if "reason" in item:
        return True
    reply = _reply(item["post"])
    if wanted == "posts_no_replies":
        return not reply
    if wanted == "posts_and_author_threads":
        return not reply or str(reply.get("root", {}).get("uri", "")).startswith(f"at://{did}/")
    return True


def _self_threads(page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The AppView's SelfThreadTracker: a reply stays only if its whole chain up to the root is
    on this same page, so a self-thread split across pages loses its later replies."""
    posts = {i["post"]["uri"]: i["post"] for i in page if "reason" not in i}

    def whole(uri: str, seen: frozenset[str] = frozenset()) -> bool:
        if uri not in posts or uri in seen:
            return False
        parent = _reply(posts[uri]).get("parent", {}).get("uri")
        return parent is None or whole(parent, seen | {uri})

    return [i for i in page if "reason" in i or whole(i["post"]["uri"])]


class FakeMastodon(FakeServer):
    """A Mastodon instance: accounts/lookup, accounts/:id, accounts/:id/statuses, statuses/:id."""

    def __init__(self, domain: str, latency: float = 0.0, page_size: int = 40):
        super().__init__(latency)
        self.domain = domain
        self.page_size = page_size
        self.accounts: dict[str, dict[str, Any]] = {}  # id -> account
        self.statuses: dict[str, list[dict[str, Any]]] = defaultdict(list)  # account id -> newest first
        self.gone: dict[str, int] = {}  # account or status id -> 404/410
        # Suspended by a moderator: found by id with `suspended: true`, no statuses, no lookup.
        self.suspended: set[str] = set()
        self.require_token: str | None = None  # a token reads need (401 without it)
        self.remaining = 300
        self.descendants: dict[str, list[dict[str, Any]]] = defaultdict(list)  # status id -> replies
        self.quoting: dict[str, list[dict[str, Any]]] | None = defaultdict(list)  # None: no quotes list

    def add_account(self, account_id: str, username: str, **extra: Any) -> dict[str, Any]:
        account = account_entity(self.domain, account_id, username, **extra)
        self.accounts[account_id] = account
        return account

    def load_recorded(self) -> FakeMastodon:
        """Hold what mastodon-mock served for the recorded world (tests/fixtures); serve it as `domain`."""
        for key in WORLD.people():
            account = body("mastodon", f"account.{key}")
            self.accounts[account["id"]] = account
            if account.get("suspended"):  # no lookup, no statuses; found by id, flagged
                self.suspended.add(account["id"])
            self.statuses[account["id"]] = body("mastodon", f"statuses.{key}")
        for name in names("mastodon"):
            if name.startswith(("context.", "quotes.")):
                recorded = exchange("mastodon", name)
                status_id = recorded["request"]["path"].split("/")[4]
                if name.startswith("context."):
                    self.descendants[status_id] = recorded["body"]["descendants"]
                elif self.quoting is not None:
                    self.quoting[status_id] = recorded["body"]
        return self

    def route(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.remaining = max(0, self.remaining - 1)
        reset = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
        limits = {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": reset,
        }
        if self.require_token and headers.get("Authorization") != f"Bearer {self.require_token}":
            return 401, limits, {"error": "This API requires an authenticated user"}
        parts = path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "accounts"] and parts[3:] == ["lookup"]:
            acct = (query.get("acct") or [""])[0].split("@")[0]
            found = [a for a in self.accounts.values() if a["username"].lower() == acct.lower()]
            if not found or found[0]["id"] in self.suspended:
                return 404, limits, {"error": "Record not found"}
            return self._account(found[0]["id"], limits)
        if parts[:3] == ["api", "v1", "accounts"] and len(parts) == 4:
            return self._account(parts[3], limits)
        if parts[:3] == ["api", "v1", "accounts"] and parts[4:] == ["statuses"]:
            if parts[3] in self.gone:
                return self.gone[parts[3]], limits, {"error": "Gone"}
            if parts[3] in self.suspended:
                return 200, limits, []
            return self._statuses(parts[3], query, limits)
        if parts[:3] == ["api", "v1", "statuses"] and parts[4:] == ["context"]:
            if not any(s["id"] == parts[3] for items in self.statuses.values() for s in items):
                return 404, limits, {"error": "Record not found"}
            return 200, limits, {"ancestors": [], "descendants": list(self.descendants[parts[3]])}
        if parts[:3] == ["api", "v1", "statuses"] and parts[4:] == ["quotes"]:
            if self.quoting is None:  # before Mastodon 4.5
                return 404, limits, {"error": "Not found"}
            items = [s for s in self.quoting[parts[3]] if not (query.get("max_id"))
                     or int(s["id"]) < int((query.get("max_id") or ["0"])[0])]  # fmt: skip
            page = items[: int((query.get("limit") or ["20"])[0])]
            headers = dict(limits)
            if len(items) > len(page):
                base = f"http://{self.host}/api/v1/statuses/{parts[3]}/quotes"
                headers["Link"] = f'<{base}?max_id={page[-1]["id"]}>; rel="next"'
            return 200, headers, page
        if parts[:3] == ["api", "v1", "statuses"] and len(parts) == 4:
            for items in self.statuses.values():
                for s in items:
                    if s["id"] == parts[3]:
                        return 200, limits, s
            return 404, limits, {"error": "Record not found"}
        return 404, limits, {"error": "Not found"}

    def _account(self, account_id: str, limits: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if account_id in self.gone:
            return self.gone[account_id], limits, {"error": "Gone"}
        if account_id not in self.accounts:
            return 404, limits, {"error": "Record not found"}
        if account_id in self.suspended:
            return 200, limits, {**self.accounts[account_id], "suspended": True}
        return 200, limits, self.accounts[account_id]

    def _statuses(
        self, account_id: str, query: dict[str, list[str]], limits: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        def arg(name: str) -> str | None:
            return (query.get(name) or [None])[0]

        items = list(self.statuses.get(account_id, []))
        if arg("exclude_replies") in ("1", "true", "True"):
            items = [s for s in items if s.get("in_reply_to_id") is None]
        if arg("exclude_reblogs") in ("1", "true", "True"):
            items = [s for s in items if s.get("reblog") is None]
        if arg("max_id"):
            items = [s for s in items if int(s["id"]) < int(arg("max_id") or 0)]
        if arg("since_id"):
            items = [s for s in items if int(s["id"]) > int(arg("since_id") or 0)]
        limit = min(int(arg("limit") or 20), self.page_size)
        page = items[:limit]
        headers = dict(limits)
        if page:  # as Mastodon: a `next` link only after a full page, a `prev` link always
            kept = "".join(
                f"&{k}={arg(k)}" for k in ("limit", "exclude_replies", "exclude_reblogs") if arg(k)
            )
            base = f"http://{self.host}/api/v1/accounts/{account_id}/statuses"
            links = [f'<{base}?max_id={page[-1]["id"]}{kept}>; rel="next"'] if len(page) == limit else []
            headers["Link"] = ", ".join([*links, f'<{base}?min_id={page[0]["id"]}{kept}>; rel="prev"'])
        return 200, headers, page
