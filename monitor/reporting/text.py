"""The report's written summary: a few plain sentences built from its figures (escaped on render)."""

from __future__ import annotations

from monitor.reporting.gather import ReportData

MIN_TOPIC_POSTS = 3  # a topic's negative share is quoted only over at least this many posts


def change(now: float, before: float) -> float | None:
    """Relative change in percent, None when there is nothing to compare with."""
    return None if not before else (now - before) * 100 / before


def movement(now: float, before: float, noun: str = "") -> str:
    """`up 12%`, `down 4%`, `unchanged`, or `new` when there was nothing before."""
    pct = change(now, before)
    if pct is None:
        return "new this period" if now else "none in either period"
    if round(pct) == 0:
        return "about unchanged"
    return f"{'up' if pct > 0 else 'down'} {abs(pct):.0f}%{noun}"


def share(part: float, whole: float) -> str:
    return f"{part * 100 / whole:.0f}%" if whole else "–"


def tone_text(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def headline(data: ReportData) -> list[str]:
    """The summary sentences at the top of the report."""
    t, p = data.totals, data.previous_totals
    if not t.posts:
        return [
            f"No posts in {data.sel.period.label} for this selection ({p.posts:,} in {data.previous.label})."
        ]
    accounts = f"{t.accounts:,} account{'s' if t.accounts != 1 else ''}"
    versus = (
        f": {movement(t.posts, p.posts)} on {data.previous.label} ({p.posts:,})"
        if p.posts
        else f" (none in {data.previous.label})"
    )
    moved = f", {movement(t.engagement, p.engagement)}" if p.engagement else ""
    per_post = t.engagement / max(t.own_posts, 1)
    out = [
        f"{t.posts:,} posts from {accounts} in {data.sel.period.label}{versus}.",
        f"Own posts drew {t.engagement:,} interactions{moved}; {per_post:,.1f} per post.",
    ]
    out += _tone(data) + _topics(data) + _followers(data) + _top(data) + _languages(data)
    return out


def _tone(data: ReportData) -> list[str]:
    t = data.totals
    if not t.scored:
        return ["No post of the period has been scored for tone yet."]
    text = f"{share(t.negative, t.scored)} of scored posts were negative (mean tone {tone_text(t.tone)})"
    scored = {k: v for k, v in data.topics.items() if v.scored}
    topics = {k: v for k, v in scored.items() if v.scored >= MIN_TOPIC_POSTS} or scored
    if topics:
        name, f = max(topics.items(), key=lambda kv: (kv[1].negative / kv[1].scored, kv[1].scored, kv[0]))
        if f.negative:
            topic = name.replace("_", " ")
            text += (f"; the negative share was highest on {topic} "
                     f"({share(f.negative, f.scored)} of {f.scored:,} scored posts)")  # fmt: skip
    return [text + "."]


def _topics(data: ReportData) -> list[str]:
    if not data.topics:
        return []
    t, p = data.totals.posts, data.previous_totals.posts
    name, f = max(data.topics.items(), key=lambda kv: (kv[1].posts, kv[0]))
    n = f.posts
    text = f"Most discussed theme: {name.replace('_', ' ')} ({share(n, t)} of posts"
    previous = data.previous_topics.get(name)
    before = previous.posts if previous else 0
    if p:
        points = (n / t - before / p) * 100
        text += f", {points:+.0f} points on {data.previous.label}"
    return [text + ")."]


def _followers(data: ReportData) -> list[str]:
    series = {k: v for k, v in data.followers.items() if v and v[0]}
    if not series:
        return []
    start = sum(v[0] or 0 for v in series.values())
    end = sum(v[-1] or 0 for v in series.values())
    text = f"Followers {end - start:+,} ({(end - start) * 100 / start:+.1f}%) to {end:,}"
    if len(series) > 1:
        key, v = max(series.items(), key=lambda kv: ((kv[1][-1] or 0) / (kv[1][0] or 1), kv[0]))
        growth = ((v[-1] or 0) - (v[0] or 0)) * 100 / (v[0] or 1)
        text += f"; fastest growth: {data.labels.get(key, key)} ({growth:+.1f}%)"
    return [text + "."]


def _top(data: ReportData) -> list[str]:
    if not data.top_engagement:
        return []
    top = data.top_engagement[0]
    return [f"Most engaging post: {top.account} on {top.created_at:%d %b} ({top.engagement:,} interactions)."]


def _languages(data: ReportData) -> list[str]:
    total = sum(data.languages.values())
    ranked = sorted(data.languages.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
    return ["Languages: " + ", ".join(f"{k} {share(n, total)}" for k, n in ranked) + "."] if total else []
