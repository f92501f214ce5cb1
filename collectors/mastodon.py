"""Mastodon through Mastodon.py, each account read on its home instance.

Version checks are off (government instances run forks); rate limits are ours to keep
(`ratelimit_method="throw"`: the gate in collectors.http waits, Mastodon.py never sleeps).
Status pages go down with the `max_id` Mastodon.py reads from the Link header, while
`since_id` is passed again on every call: Mastodon's `next` link (and so `fetch_next`) drops
`since_id`, which would walk the whole history on every poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from mastodon import Mastodon
from mastodon import errors as mx

from collectors.errors import AuthRequired, BadResponse, CollectorError, Gone, HostUnavailable, RateLimited
from collectors.http import HostRegistry, PoliteAdapter
from collectors.mastodon_posts import account_handle, account_to_profile, as_time, status_to_post
from collectors.records import Floor, Identity, KnownPost, Page, Post, Profile, Reception, Refreshed
from collectors.settings import CollectSettings, MastodonSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


class _PlainMastodon(Mastodon):
    """Mastodon.py, with status pages left as plain JSON.

    Its typed casting costs about 25 ms of CPU per page of 20 statuses, under the GIL: the
    largest cost of a collection round. Pages still go through Mastodon.py's request code
    (auth, errors, Link-header pagination); only the casting is skipped, by the return type.
    """

    def statuses_page(self, account_id: str, params: dict[str, Any]) -> list[Any]:
        """GET /api/v1/accounts/:id/statuses as a list of dicts carrying `_pagination_next`."""
        endpoint = f"/api/v1/accounts/{account_id}/statuses"
        return self._Mastodon__api_request("GET", endpoint, params)  # type: ignore[attr-defined,no-any-return]

    def context_plain(self, status_id: str) -> dict[str, Any]:
        """GET /api/v1/statuses/:id/context (ancestors, descendants) as plain JSON."""
        endpoint = f"/api/v1/statuses/{status_id}/context"
        return self._Mastodon__api_request("GET", endpoint, override_type=dict)  # type: ignore[attr-defined,no-any-return]

    def quotes_page(self, status_id: str, params: dict[str, Any]) -> list[Any]:
        """GET /api/v1/statuses/:id/quotes (Mastodon 4.5+) as a list of dicts with `_pagination_next`."""
        endpoint = f"/api/v1/statuses/{status_id}/quotes"
        return self._Mastodon__api_request("GET", endpoint, params)  # type: ignore[attr-defined,no-any-return]


# Mastodon.py casts a response to the return annotation of its caller. A TypeVar keeps a list as
# served (and anything else as it is, for `_call` to refuse); `list` would turn a string or an
# object into a list of its characters or keys.
_AsServed = TypeVar("_AsServed")
_PlainMastodon.statuses_page.__annotations__["return"] = _AsServed
_PlainMastodon.quotes_page.__annotations__["return"] = _AsServed


class MastodonCollector:
    """Reads Mastodon accounts, statuses, engagement and followers."""

    platform = "mastodon"

    def __init__(
        self,
        settings: MastodonSettings,
        collect: CollectSettings,
        registry: HostRegistry,
        tokens: Mapping[str, str] | None = None,
    ):
        self.settings, self.collect, self.registry = settings, collect, registry
        self.tokens = dict(tokens or {})  # env var name -> token
        self._apis: dict[str, _PlainMastodon] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP connections."""
        with self._lock:
            for api in self._apis.values():
                api.session.close()
            self._apis.clear()

    def host(self, identity: Identity) -> str:
        """The host:port an account's reads go to."""
        return urlsplit(self.settings.base_url(_instance(identity))).netloc

    def _api(self, instance: str) -> _PlainMastodon:
        with self._lock:
            api = self._apis.get(instance)
            if api is None:
                session = requests.Session()
                adapter = PoliteAdapter(self.registry, self.settings.requests_per_5min)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                api = self._apis[instance] = _PlainMastodon(
                    api_base_url=self.settings.base_url(instance),
                    session=session,
                    access_token=self.tokens.get(self.settings.token_env(instance)),
                    version_check_mode="none",
                    ratelimit_method="throw",
                    request_timeout=self.collect.timeout_seconds,
                    user_agent=self.collect.user_agent,
                )
            return api

    def resolve(self, handle: str, platform_id: str | None = None) -> Identity:
        """user@instance -> the account id on its home instance (account_lookup, once)."""
        user, _, instance = handle.partition("@")
        api = self._api(instance)
        account = (
            self._call(instance, api.account, platform_id)
            if platform_id
            else self._call(instance, api.account_lookup, user)
        )
        if account.get("suspended"):
            raise Gone("suspended", f"{handle} is suspended on {instance}")
        moved = account.get("moved")
        if isinstance(moved, Mapping):
            raise Gone("moved", f"{handle} moved to {moved.get('acct')}")
        return Identity(
            self.platform,
            account_handle(account, instance),
            str(account.get("id")),
            instance=instance,
            display_name=account.get("display_name") or None,
        )

    def pages(self, identity: Identity, floor: Floor, cursor: str | None = None) -> Iterator[Page]:
        """The account's statuses from `cursor` (a max_id) down to `floor`, a page at a time."""
        instance = _instance(identity)
        api = self._api(instance)
        while True:
            params: dict[str, Any] = {"limit": self.settings.page_size}
            if not self.collect.include_replies:
                params["exclude_replies"] = "true"
            if not self.collect.include_reposts:
                params["exclude_reblogs"] = "true"
            params.update({k: v for k, v in (("since_id", floor.marker), ("max_id", cursor)) if v})
            statuses = self._call(instance, api.statuses_page, identity.platform_id, params, answer=list)
            page = self._cut(statuses, instance, floor, cursor, params["limit"])
            yield page
            if page.done:
                return
            cursor = page.cursor

    def _cut(self, statuses: Any, instance: str, floor: Floor, cursor: str | None, limit: int) -> Page:
        if not isinstance(statuses, list):
            raise BadResponse(f"{instance}: statuses answered without a list")
        posts: list[Post] = []
        reached = False
        listed = [s for s in statuses if isinstance(s, Mapping) and s.get("id") is not None]
        for status in listed:
            at = as_time(status.get("created_at"))
            if str(status["id"]) == floor.marker or (floor.time and at and at < floor.time):
                reached = True
                continue
            posts.append(status_to_post(status, instance))
        nxt = getattr(statuses, "_pagination_next", None) or {}
        next_cursor = (
            str(nxt["max_id"])
            if nxt.get("max_id") is not None
            else (str(listed[-1]["id"]) if listed else None)
        )
        top = str(listed[0]["id"]) if listed else None
        # Mastodon links a next page only after a full one (records_continue?): a short page
        # without that link is the last, without asking for the empty page after it. A server
        # that caps `limit` lower still links its next page, and is followed.
        short = len(statuses) < limit and nxt.get("max_id") is None
        done = reached or short or not listed or not next_cursor or next_cursor == cursor
        return Page(tuple(posts), next_cursor, top, done)

    def refresh(self, identity: Identity, known: Sequence[KnownPost], now: datetime) -> Refreshed:
        """Re-read recent statuses a page at a time; ones missing are checked one by one."""
        if not known:
            return Refreshed()
        oldest = min(k.created_at for k in known)
        wanted = {k.uri: k for k in known}
        found: dict[str, Post] = {}
        for page in self.pages(identity, Floor(time=oldest)):
            found.update((p.uri, p) for p in page.posts if p.uri in wanted)
        gone = []
        api = self._api(_instance(identity))
        for uri, k in wanted.items():
            if uri in found or not k.native_id:
                continue
            try:
                found[uri] = status_to_post(
                    self._call(_instance(identity), api.status, k.native_id), _instance(identity)
                )
            except Gone:
                gone.append(uri)
        return Refreshed(tuple(found.values()), tuple(gone))

    def reception(
        self, identity: Identity, post: KnownPost, *, replies: bool, quotes: bool, depth: int, max_pages: int
    ) -> Reception:
        """The post's descendants (statuses/:id/context on the home instance: logged-out reads get
        fewer than a token's) and its quotes where the server lists them (Mastodon 4.5+)."""
        instance = _instance(identity)
        api, status_id = self._api(instance), post.native_id
        if not status_id:
            return Reception()
        found: list[Post] = []
        if replies:
            context = self._call(instance, api.context_plain, status_id)
            below = _within(context.get("descendants"), status_id, depth)
            # The API names a parent by its id on this instance: point replies at the parent's URI.
            uris = {status_id: post.uri, **{str(s["id"]): str(s.get("uri") or "") for s in below}}
            others = [s for s in below if str(_map(s.get("account")).get("id")) != identity.platform_id]
            found = [
                replace(status_to_post(s, instance), reply_parent_uri=uris.get(str(s.get("in_reply_to_id"))))
                for s in others
            ]
        quoting, quotes_read = self._quotes(identity, status_id, max_pages) if quotes else ([], False)
        return Reception(tuple(found), tuple(quoting), replies, quotes_read)

    def _quotes(self, identity: Identity, status_id: str, max_pages: int) -> tuple[list[Post], bool]:
        instance = _instance(identity)
        api, params, out = self._api(instance), {"limit": 40}, []
        for _ in range(max_pages):
            try:
                page = self._call(instance, api.quotes_page, status_id, params, answer=list)
            except (Gone, AuthRequired) as exc:  # no quotes list here (before 4.5, or not for us)
                log.debug("no quotes list on %s: %s", instance, exc)
                return out, False
            out += [status_to_post(s, instance) for s in page if isinstance(s, Mapping)
                    and str(_map(s.get("account")).get("id")) != identity.platform_id]  # fmt: skip
            after = getattr(page, "_pagination_next", None)
            if not page or not after or not after.get("max_id"):
                return out, True
            params = {"limit": 40, "max_id": after["max_id"]}
        return out, False

    def profiles(self, identities: Sequence[Identity], now: datetime) -> dict[str, Profile]:
        """Follower numbers by account id, one request per account; failures and gone accounts left out."""
        out: dict[str, Profile] = {}
        for identity in identities:
            instance = _instance(identity)
            try:
                account = self._call(instance, self._api(instance).account, identity.platform_id)
            except CollectorError as exc:
                log.info("no profile for %s: %s", identity.handle, exc)
                continue
            if account.get("suspended") or isinstance(account.get("moved"), Mapping):
                continue  # left out: the caller resolves the account and learns why
            out[identity.platform_id] = account_to_profile(account, instance, now)
        return out

    def _call(self, instance: str, fn: Callable[..., T], *args: Any, answer: type = Mapping) -> T:
        """`fn(*args)` with Mastodon.py's errors translated, and its answer a JSON `answer` or BadResponse."""
        try:
            result = fn(*args)
        except mx.MastodonError as exc:
            raise self._translate(instance, exc) from exc
        if not isinstance(result, answer):
            raise BadResponse(f"{instance}: expected a JSON {'list' if answer is list else 'object'}")
        return result

    def _translate(self, instance: str, exc: mx.MastodonError) -> CollectorError:
        context = exc.__context__
        if isinstance(context, CollectorError):  # raised by our gate inside requests
            return context
        status = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        detail = f"{instance}: {status or ''} {exc.args[-1] if exc.args else exc}".strip()[:300]
        if isinstance(exc, mx.MastodonNotFoundError):
            return Gone("not_found", detail)
        if status == 410:
            return Gone("gone", detail)
        if isinstance(exc, mx.MastodonUnauthorizedError) or status in (401, 403, 422):
            return AuthRequired(
                f"{instance} requires an access token for reads: set "
                f"{self.settings.token_env(instance)} ({status})"
            )
        if isinstance(exc, mx.MastodonRatelimitError):
            return RateLimited(detail)
        if isinstance(exc, mx.MastodonServerError | mx.MastodonNetworkError):
            return HostUnavailable(detail)
        return BadResponse(detail)


def _instance(identity: Identity) -> str:
    return identity.instance or identity.handle.partition("@")[2]


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _within(descendants: Any, root: str, depth: int) -> list[Mapping[str, Any]]:
    """The descendants at most `depth` replies below `root` (a reply to the root is at depth 1)."""
    statuses = [s for s in descendants or () if isinstance(s, Mapping) and s.get("id")]
    parent = {str(s["id"]): str(s.get("in_reply_to_id") or "") for s in statuses}
    kept = []
    for s in statuses:
        level, at = 0, str(s["id"])
        while at and at != root and level <= depth:
            at, level = parent.get(at, ""), level + 1
        if at == root and level <= depth:
            kept.append(s)
    return kept
