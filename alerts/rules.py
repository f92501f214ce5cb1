"""Judging a rule: numbers computed by the database in, a verdict out. No I/O here.

A spike compares the window's value with the same metric over the `baseline_windows`
windows before it: `zscore` is (value - mean) / standard deviation, `ratio` is
value / mean; both are capped at ±999 so a flat or empty baseline stays a finite number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import fmean, pstdev
from typing import Any

from alerts.settings import Rule

CAP = 999.0


@dataclass(frozen=True, slots=True)
class WindowStats:
    """A metric over one window, for one scope or member."""

    value: float | None  # None: nothing to measure (no posts, no scores)
    count: int  # posts behind the value (overperformance: the account's baseline posts)
    baseline: tuple[float, ...] = ()  # the metric in the previous windows, for spikes
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the post that overperformed


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the rule's condition holds, and the numbers that say so."""

    firing: bool
    value: float | None  # the compared number: the metric, or its z-score or ratio
    observed: float | None  # the metric in the window
    baseline: float | None = None  # the baseline mean, for spikes
    note: str = ""  # why it cannot judge, when it cannot


def judge(rule: Rule, stats: WindowStats) -> Verdict:
    """Compare the window's numbers with the rule's threshold or baseline."""
    observed = stats.value
    if observed is None:
        return Verdict(False, None, None, note="no data")
    if stats.count < rule.min_posts:
        return Verdict(
            False, None, observed, note=f"{stats.count} posts, fewer than min_posts {rule.min_posts}"
        )
    if rule.spike == "none":
        return Verdict(rule.compares(observed), observed, observed)
    needed = 2 if rule.spike == "zscore" else 1
    if len(stats.baseline) < needed:
        return Verdict(False, None, observed, note=f"{len(stats.baseline)} baseline windows, need {needed}")
    mean = fmean(stats.baseline)
    value = (
        _zscore(observed, mean, pstdev(stats.baseline)) if rule.spike == "zscore" else _ratio(observed, mean)
    )
    return Verdict(rule.compares(value), value, observed, baseline=mean)


def _zscore(value: float, mean: float, std: float) -> float:
    if std == 0:
        return 0.0 if math.isclose(value, mean) else math.copysign(CAP, value - mean)
    return max(-CAP, min(CAP, (value - mean) / std))


def _ratio(value: float, mean: float) -> float:
    if mean <= 0:
        return 1.0 if value == mean else (CAP if value > mean else -CAP)
    return max(-CAP, min(CAP, value / mean))


def matched_keywords(keywords: Sequence[str], text: str, hashtags: Sequence[str] = ()) -> tuple[str, ...]:
    """The rule's keywords a post matches, as configured: the same test as the SQL filter
    (case-insensitive substring of the text; "#tag" among the post's hashtags)."""
    lowered = text.lower()
    tags = {t.lower().lstrip("#") for t in hashtags}
    found: list[str] = []
    for k in keywords:
        word = k.strip()
        if not word.lstrip("#") or word in found:
            continue
        if word.lower().lstrip("#") in tags if word.startswith("#") else word.lower() in lowered:
            found.append(word)
    return tuple(found)
