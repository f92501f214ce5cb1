"""Run one task per account on a thread pool, spread across hosts, each task isolated.

Threads suit this work: it waits on the network, and the collectors' HTTP gates bound how
many requests reach each host, so the pool only needs to be wide enough to keep every host busy.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import zip_longest
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


def interleave(items: Iterable[T], host_of: Callable[[T], str]) -> list[T]:
    """Items reordered round-robin over their hosts, so workers spread over every host."""
    by_host: dict[str, list[T]] = defaultdict(list)
    for item in items:
        by_host[host_of(item)].append(item)
    return [x for group in zip_longest(*by_host.values()) for x in group if x is not None]


def run_each(
    items: Sequence[T],
    task: Callable[[T], R],
    *,
    workers: int,
    host_of: Callable[[T], str],
    stop: threading.Event | None = None,
    on_done: Callable[[T, R], None] | None = None,
) -> list[tuple[T, R]]:
    """Run `task` for each item (a task must not raise); items not started before `stop` are skipped."""
    ordered = interleave(items, host_of)
    results: list[tuple[T, R]] = []
    lock = threading.Lock()

    def one(item: T) -> None:
        if stop is not None and stop.is_set():
            return
        result = task(item)
        with lock:
            results.append((item, result))
            if on_done is not None:
                on_done(item, result)

    if workers <= 1 or len(ordered) <= 1:
        for item in ordered:
            one(item)
        return results
    with ThreadPoolExecutor(max_workers=min(workers, len(ordered)), thread_name_prefix="collect") as pool:
        for future in [pool.submit(one, item) for item in ordered]:
            future.result()
    return results
