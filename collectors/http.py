"""Politeness for every request: per-host budgets, bounded concurrency, retries, statistics.

Both SDKs send through here: atproto through `PoliteTransport` (an httpx transport),
Mastodon.py through `PoliteAdapter` (a requests adapter), so every request to a host shares
one budget, one concurrency bound and one set of counters, whichever library sends it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import requests
from requests.adapters import HTTPAdapter

from collectors.errors import HostUnavailable, RateLimited, Stopped
from collectors.ratelimit import WindowLimiter, exhausted_for, retry_after
from collectors.settings import CollectSettings

log = logging.getLogger(__name__)
R = TypeVar("R")
RETRY_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class HostStats:
    """Counters for one host since the process started."""

    requests: int = 0
    errors: int = 0  # responses >= 500, 429s and network failures, retried or not
    retries: int = 0
    rate_limit_waits: int = 0  # times a request waited for the budget, a 429 or a spent quota
    wait_seconds: float = 0.0


class HostGate:
    """Everything we know about one host: its budget, in-flight bound, pause and counters."""

    def __init__(self, host: str, per_5min: int, settings: CollectSettings, clock: Clock):
        self.host = host
        self.settings = settings
        self.clock = clock
        self.limiter = WindowLimiter(per_5min, settings.budget_window_seconds)
        self.slots = threading.BoundedSemaphore(settings.per_host_concurrency)
        self.lock = threading.Lock()
        self.paused_until = 0.0  # 429 / spent quota: nobody sends before this
        self.down_until = 0.0  # repeated failures: requests fail fast before this
        self.failures = 0
        self.stats = HostStats()

    def count(self, **deltas: float) -> None:
        with self.lock:
            self.stats = replace(self.stats, **{k: getattr(self.stats, k) + v for k, v in deltas.items()})

    def wait_turn(self) -> None:
        """Block until the budget allows one more request (call while holding a slot)."""
        while True:
            now = self.clock.monotonic()
            with self.lock:
                if now < self.down_until:
                    raise HostUnavailable(f"{self.host} is paused after repeated failures")
                at = self.limiter.reserve(now, self.paused_until)
            if at > now:
                self.count(rate_limit_waits=1, wait_seconds=at - now)
                self.clock.sleep(at - now)
            with self.lock:
                if self.clock.monotonic() >= self.paused_until:
                    return

    def pause(self, seconds: float, why: str) -> None:
        """Nobody sends to this host for `seconds` (a 429 or a spent quota)."""
        if seconds > self.settings.max_wait_seconds:
            raise RateLimited(f"{self.host} asks to wait {seconds:.0f} s ({why})", retry_after=seconds)
        with self.lock:
            self.paused_until = max(self.paused_until, self.clock.monotonic() + seconds)
        log.info("pausing %s for %.1f s (%s)", self.host, seconds, why)

    def settle(self, ok: bool) -> None:
        """Record the outcome of a request after its retries."""
        with self.lock:
            if ok:
                self.failures = 0
                return
            self.failures += 1
            if self.failures >= self.settings.host_failure_threshold:
                self.down_until = self.clock.monotonic() + self.settings.host_cooldown_seconds
                self.failures = 0
                log.warning(
                    "%s keeps failing: left alone for %.0f s", self.host, self.settings.host_cooldown_seconds
                )

    def backoff(self, attempt: int) -> float:
        base = self.settings.retry_base_seconds * 2**attempt
        return min(self.settings.retry_max_seconds, base) * random.uniform(0.5, 1.5)

    def send(
        self,
        attempt_once: Callable[[], R],
        status_of: Callable[[R], int],
        headers_of: Callable[[R], Mapping[str, str]],
        network_errors: tuple[type[BaseException], ...],
    ) -> R:
        """Send with budget, bounded concurrency, and retries for 429, 5xx and network errors."""
        last_error: BaseException | None = None
        for attempt in range(self.settings.max_retries + 1):
            if attempt:
                self.count(retries=1)
            failed: BaseException | None = None
            with self.slots:
                self.wait_turn()
                self.count(requests=1)
                try:
                    response = attempt_once()
                except network_errors as exc:
                    failed = last_error = exc
            if failed is not None:
                self.count(errors=1)
                if attempt < self.settings.max_retries:
                    self.clock.sleep(self.backoff(attempt))
                continue
            status, headers = status_of(response), headers_of(response)
            wall = self.clock.wall()
            if status == 429 or status in RETRY_STATUSES:
                self.count(errors=1)
                wait = retry_after(headers, wall)
                if status == 429:
                    self.pause(wait if wait is not None else self.backoff(attempt), "429 Too Many Requests")
                elif attempt < self.settings.max_retries:
                    self.clock.sleep(
                        min(wait, self.settings.max_wait_seconds) if wait else self.backoff(attempt)
                    )
                if attempt < self.settings.max_retries:
                    continue
                self.settle(ok=status == 429)
                return response
            spent = exhausted_for(headers, wall)
            if spent:
                self.pause(min(spent, self.settings.max_wait_seconds), "quota spent until reset")
            self.settle(ok=True)
            return response
        self.settle(ok=False)
        raise HostUnavailable(f"{self.host}: {_describe(last_error)}") from last_error


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no answer"
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:300]


class Clock:
    """Time as the gates see it; tests inject a fake one that never really sleeps.

    A wait ends early when `stop` is set (the service is stopping): `sleep` then raises
    Stopped, so a request waiting on a host's budget never holds up a clean exit.
    """

    def __init__(self, stop: threading.Event | None = None):
        self.stop = stop

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if self.stop is not None and self.stop.wait(max(seconds, 0)):
            raise Stopped("stopping: the wait for the host was cut short")
        if self.stop is None and seconds > 0:
            time.sleep(seconds)

    def wall(self) -> datetime:
        return datetime.now(UTC)


_registries: weakref.WeakSet[HostRegistry] = weakref.WeakSet()


class HostRegistry:
    """The gates of one set of collectors, one per host, created on first use."""

    def __init__(
        self, settings: CollectSettings, clock: Clock | None = None, stop: threading.Event | None = None
    ):
        self.settings = settings
        self.clock = clock or Clock(stop)
        self._gates: dict[str, HostGate] = {}
        self._lock = threading.Lock()
        _registries.add(self)

    def gate(self, host: str, per_5min: int) -> HostGate:
        """The gate of `host` (host:port), created with this budget if new."""
        with self._lock:
            gate = self._gates.get(host)
            if gate is None:
                gate = self._gates[host] = HostGate(host, per_5min, self.settings, self.clock)
            return gate

    def stats(self) -> dict[str, HostStats]:
        with self._lock:
            return {host: g.stats for host, g in self._gates.items()}


def host_stats() -> dict[str, HostStats]:
    """Counters per host over every collector set alive in this process (for metrics)."""
    totals: dict[str, HostStats] = {}
    for registry in list(_registries):
        for host, s in registry.stats().items():
            t = totals.get(host, HostStats())
            totals[host] = HostStats(
                t.requests + s.requests,
                t.errors + s.errors,
                t.retries + s.retries,
                t.rate_limit_waits + s.rate_limit_waits,
                t.wait_seconds + s.wait_seconds,
            )
    return totals


class PoliteTransport(httpx.BaseTransport):
    """An httpx transport that sends through the host's gate (used by the atproto SDK)."""

    def __init__(self, registry: HostRegistry, per_5min: int, inner: httpx.BaseTransport | None = None):
        self.registry = registry
        self.per_5min = per_5min
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        gate = self.registry.gate(request.url.netloc.decode("ascii"), self.per_5min)

        def once() -> httpx.Response:
            response = self.inner.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
            return response

        return gate.send(once, lambda r: r.status_code, lambda r: r.headers, (httpx.TransportError,))

    def close(self) -> None:
        self.inner.close()


class PoliteAdapter(HTTPAdapter):
    """A requests adapter that sends through the host's gate (used by Mastodon.py)."""

    def __init__(self, registry: HostRegistry, per_5min: int):
        super().__init__()
        self.registry = registry
        self.per_5min = per_5min

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        host = requests.utils.urlparse(request.url).netloc
        gate = self.registry.gate(str(host), self.per_5min)

        def once() -> requests.Response:
            response = super(PoliteAdapter, self).send(request, *args, **kwargs)
            _ = response.content  # read the body inside the gate, so the slot covers it
            return response

        errors = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
        return gate.send(once, lambda r: r.status_code, lambda r: r.headers, errors)
