"""Render `ReportData` into one self-contained HTML file: inline CSS, inline SVG, a little inline JS.

Nothing is fetched when the file is opened (its Content-Security-Policy forbids it); every
text from the database goes through `esc`, and only http(s) post addresses become links.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from importlib import resources
from string import Template

from monitor.reporting import charts
from monitor.reporting.charts import esc
from monitor.reporting.gather import MAX_SERIES, ReportData, TopPost
from monitor.reporting.summary import SUMMARY_COLUMNS
from monitor.reporting.text import change, headline, share

GROUP_COLUMNS = {
    "posts": "Posts", "posts_per_day": "Per day", "engagement_total": "Engagement",
    "engagement_median": "Median",
    "engagement_per_1000_followers": "Per 1k followers", "followers_change_pct": "Followers Δ %",
    "overperforming_posts": "Over-performing", "sentiment_mean": "Tone", "negative_share": "Negative",
    "top_topics": "Top themes",
}  # fmt: skip
TEXT_HEADERS = {"Account", "Country", "Theme", "Trend", "Time (UTC)", "Post", "Tone", "Top themes"}


def _template(name: str) -> str:
    return resources.files("monitor.reporting").joinpath("templates", name).read_text(encoding="utf-8")


def render_report(data: ReportData) -> str:
    """The whole report as an HTML document."""
    scope = _scope(data)
    body = "".join([
        _kpis(data), _section("Activity", "Posts per week", _volume(data)),
        _section("Tone", "Mean sentiment and negative share per day (scored posts)", _tone(data)),
        _section("Themes", f"Share of posts per soft-power theme, against {data.previous.label}",
                 _topics(data)),
        _section("Audience", "Follower change since the start of the period", _followers(data)),
        _section("Languages", "Share of posts per language", _languages(data)),
        _section("Top posts", "By engagement and by overperformance", _top_posts(data)),
        _section(f"By {data.by}", "The figures of `diplomonitor export summary`", _groups(data)),
    ])  # fmt: skip
    return Template(_template("report.html")).substitute(
        title=esc(f"Digital diplomacy report · {data.sel.period.label}"),
        period=esc(data.sel.period.label),
        scope=esc(scope),
        generated=esc(f"{data.generated_at:%Y-%m-%d %H:%M} UTC"),
        lead="".join(f"<li>{esc(s)}</li>" for s in headline(data)),
        body=body,
        css=_template("report.css"),
        js=_template("report.js"),
    )


def _scope(data: ReportData) -> str:
    sel = data.sel
    parts = [", ".join(sel.countries) if sel.countries else "All countries"]
    for label, values in (("groups", sel.groups), ("platforms", sel.platforms), ("topics", sel.topics)):
        if values:
            parts.append(f"{label}: {', '.join(values)}")
    parts.append(f"{sel.period.start:%d %b %Y} – {sel.period.end - timedelta(seconds=1):%d %b %Y}, UTC")
    return " · ".join(parts)


def _section(title: str, subtitle: str, content: str) -> str:
    slug = esc(title.lower().replace(" ", "-"))
    return (
        f'<section class="card" id="{slug}"><h2>{esc(title)}</h2><p class="sub">{esc(subtitle)}</p>'
        f"{content}</section>"
    )


def _delta(now: float, before: float, versus: str, points: bool = False, invert: bool = False) -> str:
    """`▲ 12% vs 752`: green when the move is good news, red when it is bad."""
    value = (now - before) if points else change(now, before)
    if value is None:
        return '<span class="delta flat">no earlier figure</span>'
    good = value > 0 if not invert else value < 0
    kind = "flat" if round(value, 1) == 0 else ("up" if good else "down")
    arrow = "▲" if value > 0 else "▼" if value < 0 else "●"
    moved = f"{abs(value):.0f}" if abs(value) >= 10 else f"{abs(value):.1f}"
    shown = f"{before:.0f}%" if points else f"{before:,.0f}"
    text = f"{arrow} {moved}{' pts' if points else '%'} {versus} {shown}"
    return f'<span class="delta {kind}">{esc(text)}</span>'


def _unmeasured() -> str:
    return '<span class="delta flat">not measured</span>'


def _kpis(data: ReportData) -> str:
    t, p = data.totals, data.previous_totals
    neg, prev_neg = (
        (t.negative * 100 / t.scored if t.scored else 0),
        (p.negative * 100 / p.scored if p.scored else 0),
    )
    start = sum(v[0] or 0 for v in data.followers.values())
    end = sum(v[-1] or 0 for v in data.followers.values())
    # Followers never collected are not zero followers: "–", not 0.
    followers = (f"{end:,}", _delta(end, start, "from")) if data.followers else ("–", _unmeasured())
    cards = [
        ("Posts", f"{t.posts:,}", _delta(t.posts, p.posts, "vs")),
        ("Interactions", f"{t.engagement:,}", _delta(t.engagement, p.engagement, "vs")),
        (
            "Negative share",
            share(t.negative, t.scored),
            _unmeasured()
            if not t.scored
            else _delta(neg, prev_neg, "vs", points=True, invert=True)
            if p.scored
            else _delta(0, 0, "vs"),
        ),
        ("Followers", *followers),
    ]
    items = "".join(
        f'<div class="kpi"><div class="kpi-label">{esc(a)}</div>'
        f'<div class="kpi-value">{esc(b)}</div>{c}</div>'
        for a, b, c in cards
    )
    return f'<div class="kpis">{items}</div>'


def _weeks(days: list[date]) -> list[tuple[str, list[date]]]:
    weeks: dict[date, list[date]] = defaultdict(list)
    for d in days:
        weeks[d - timedelta(days=d.weekday())].append(d)
    return [(f"{ds[0]:%b} {ds[0].day}", ds) for ds in weeks.values()]


def _top_series(data: ReportData, values: dict[str, float]) -> tuple[list[str], bool]:
    ranked = sorted(values, key=lambda k: (-values[k], k))
    return ranked[:MAX_SERIES], len(ranked) > MAX_SERIES


def _volume(data: ReportData) -> str:
    weeks = _weeks(data.days)
    totals = {k: float(sum(v.values())) for k, v in data.volume.items()}
    keep, other = _top_series(data, totals)
    series = [
        (data.labels.get(k, k), [sum(data.volume[k].get(d, 0) for d in ds) for _, ds in weeks]) for k in keep
    ]
    if other:
        rest = [k for k in data.volume if k not in keep]
        series.append(("Other", [sum(data.volume[k].get(d, 0) for k in rest for d in ds) for _, ds in weeks]))
    chart = charts.stacked_bars("Posts per week", [w for w, _ in weeks], series)
    return chart + charts.legend([n for n, _ in series]) + '<p class="note">Weeks start on Monday.</p>'


def _tone(data: ReportData) -> str:
    labels = [f"{d:%b} {d.day}" for d in data.days]
    daily = [data.daily.get(d) for d in data.days]
    tone = [x["tone_sum"] / x["scored"] if x and x["scored"] else None for x in daily]
    negative = [x["negative"] * 100 / x["scored"] if x and x["scored"] else None for x in daily]
    half = charts.HALF_WIDTH
    a = charts.line_chart(
        "Mean tone per day", labels, [("Mean tone", tone)], lambda v: f"{v:+.1f}", (-1, 1), half
    )
    b = charts.line_chart("Negative share per day", labels, [("Negative share", negative)],
                          lambda v: f"{v:.0f}%", (0, 100), half)  # fmt: skip
    return (
        f'<div class="pair"><figure>{a}<figcaption>Mean tone, −1 (negative) to +1 (positive)'
        "</figcaption></figure>"
        f"<figure>{b}<figcaption>Share of scored posts labelled negative</figcaption></figure></div>"
    )


def _topics(data: ReportData) -> str:
    t, p = data.totals.posts, data.previous_totals.posts
    names = sorted(data.topics, key=lambda k: (-data.topics[k].posts, k))[:12]
    earlier = {k: data.previous_topics[k].posts if k in data.previous_topics else 0 for k in names}
    before = {k: earlier[k] * 100 / p if p else None for k in names}
    rows = [(k.replace("_", " "), data.topics[k].posts * 100 / t, before[k]) for k in names]
    chart = charts.bar_list("Share of posts per theme", rows, lambda v: f"{v:.0f}%",
                            (data.sel.period.label, data.previous.label))  # fmt: skip
    body = "".join(
        f"<tr><td>{esc(label)}</td><td class=num>{data.topics[k].posts:,}</td><td class=num>{a:.0f}%</td>"
        f"<td class=num>{'–' if b is None else f'{a - b:+.0f}'}</td>"
        # of the theme's posts scored for tone; "–" when none was
        f"<td class=num>{share(data.topics[k].negative, data.topics[k].scored)}</td></tr>"
        for k, (label, a, b) in zip(names, rows, strict=True)
    )
    table = _table(["Theme", "Posts", "Share", "Change (pts)", "Negative"], body)
    key = charts.legend(
        [data.sel.period.label, data.previous.label], (charts.PALETTE[0], charts.OTHER_COLOUR)
    )
    return chart + key + table


def _followers(data: ReportData) -> str:
    if not data.followers:
        return '<p class="empty-note">No follower counts were collected for these accounts.</p>'
    labels = [f"{d:%b} {d.day}" for d in data.days]
    ends = {k: float(v[-1] or 0) for k, v in data.followers.items()}
    keep, _ = _top_series(data, ends)
    series = [(data.labels.get(k, k), [((x or 0) - v[0]) * 100 / v[0] if v[0] else None for x in v])
              for k in keep for v in [data.followers[k]]]  # fmt: skip
    chart = charts.line_chart("Follower change, % since the start", labels, series, lambda v: f"{v:+.1f}%")
    body = "".join(
        f"<tr><td>{esc(data.labels.get(k, k))}</td><td>{charts.sparkline(v)}</td><td class=num>{v[0]:,}</td>"
        f"<td class=num>{v[-1]:,}</td><td class=num>{(v[-1] or 0) - (v[0] or 0):+,}</td>"
        f"<td class=num>{((v[-1] or 0) - (v[0] or 0)) * 100 / (v[0] or 1):+.1f}%</td></tr>"
        for k, v in sorted(data.followers.items(), key=lambda kv: -(kv[1][-1] or 0))
    )
    table = _table([data.by.title(), "Trend", "Start", "End", "Change", "Change %"], body)
    return chart + charts.legend([n for n, _ in series]) + table


def _languages(data: ReportData) -> str:
    total = sum(data.languages.values())
    ranked = sorted(data.languages.items(), key=lambda kv: (-kv[1], kv[0]))[:12]
    rows = [(k, n * 100 / total, None) for k, n in ranked]
    return charts.bar_list("Share of posts per language", rows, lambda v: f"{v:.0f}%")


def _link(post: TopPost) -> str:
    text = esc(post.text[:280] + ("…" if len(post.text) > 280 else "")) or "<em>(no text)</em>"
    if post.url and post.url.startswith(("https://", "http://")):
        return f'<a href="{esc(post.url)}" rel="noopener noreferrer" target="_blank">{text}</a>'
    return text


def _post_rows(items: list[TopPost], ratio: bool) -> str:
    return "".join(
        f"<tr><td class=nowrap>{p.created_at:%b %d %H:%M}</td><td>{esc(p.account)} "
        f"<span class=muted>{esc(p.country)}</span></td><td class=post>{_link(p)}</td>"
        f"<td class=num>{p.engagement:,}</td><td class=num>{'–' if p.e24 is None else f'{p.e24:,}'}</td>"
        + (f"<td class=num>×{p.ratio:.1f}</td>" if ratio else f"<td>{esc(p.sentiment or '–')}</td>")
        + "</tr>"
        for p in items
    )


def _top_posts(data: ReportData) -> str:
    head = ["Time (UTC)", "Account", "Post", "Engagement", "At 24 h"]
    top = '<p class="empty-note">No posts in this period.</p>'
    if data.top_engagement:
        top = _table([*head, "Tone"], _post_rows(data.top_engagement, False))
    over = '<p class="empty-note">No post reached twice its account\'s median engagement at 24 h.</p>'
    if data.top_overperformance:
        over = _table([*head, "× median"], _post_rows(data.top_overperformance, True))
    return (
        f"<h3>Most engaging</h3>{top}<h3>Overperforming</h3>"
        '<p class="note">Engagement at 24 h at least twice the median at 24 h of the same account\'s '
        f"20 posts before it.</p>{over}"
    )


def _groups(data: ReportData) -> str:
    index = [SUMMARY_COLUMNS.index(c) + 1 for c in GROUP_COLUMNS]
    body = "".join(
        f"<tr><td>{esc(data.labels.get(row[0], row[0]))}</td>"
        + "".join(_cell(row[i], c) for i, c in zip(index, GROUP_COLUMNS, strict=True))
        + "</tr>"
        for row in data.groups
    )
    return _table([data.by.title(), *GROUP_COLUMNS.values()], body, sortable=True)


def _cell(value: object, column: str) -> str:
    if value is None:
        return "<td class=num>–</td>"
    if isinstance(value, str):  # `culture:3;climate:1` -> culture, climate
        return f"<td>{esc(', '.join(v.split(':')[0].replace('_', ' ') for v in value.split(';')))}</td>"
    number = float(value)  # type: ignore[arg-type]
    shown = {
        "negative_share": f"{number * 100:.0f}%",
        "followers_change_pct": f"{number:+.1f}%",
        "sentiment_mean": f"{number:+.2f}",
    }.get(column, f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}")
    return f'<td class=num data-value="{number}">{esc(shown)}</td>'


def _table(headers: list[str], body: str, sortable: bool = False) -> str:
    """A table; headers other than the first few text columns are right-aligned like their numbers."""
    cls = "data sortable" if sortable else "data"
    head = "".join(f"<th{'' if h in TEXT_HEADERS else ' class=num'}>{esc(h)}</th>" for h in headers)
    table = f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="table-wrap">{table}</div>'
