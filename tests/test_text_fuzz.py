"""Arbitrary Unicode, NUL bytes and lone surrogates included, through every step a post's text
takes: collector record -> store (SQLite and PostgreSQL) -> CSV export -> Slack, email and the
HTML report. It must store the same on both backends and never break any output's escaping."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from datetime import timedelta
from email import policy
from email.parser import BytesParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from alerts.channels.email import build_email
from alerts.channels.slack import slack_payload
from alerts.messages import Message, PostRef, Section, excerpt
from collectors.records import Engagement, Post
from collectors.text import clean_text
from monitor.accounts import sync_accounts
from monitor.collection.store import save_posts
from monitor.config import Account
from monitor.reporting.gather import gather_report
from monitor.reporting.html import render_report
from monitor.reporting.posts_csv import FORMULA_STARTS, export_posts
from monitor.reporting.selection import Period, Selection
from monitor.schema import accounts, posts
from tests.conftest import NOW

# Every code point, lone surrogates and C0/C1 controls included, with the hostile ones made likely.
TEXTS = st.text(
    st.one_of(
        st.characters(exclude_categories=()),
        st.sampled_from(["\x00", "\r", "\u202e", "\ud800", "<", ">", "&", "=", "@", '"', "\n", "\x85"]),
    ),
    max_size=200,
)
EC = Account(platform="bluesky", handle="ec.europa.eu", country="EU", kind="ministry", name="<b>EC</b>")
SEQUENCE = itertools.count()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
def test_any_text_stores_the_same_everywhere_and_renders_escaped(engine: Engine, text: str) -> None:
    n = next(SEQUENCE)
    created = NOW + timedelta(seconds=n)
    post = Post("bluesky", f"at://did:plc:ec/app.bsky.feed.post/{n}", "did:plc:ec", "ec.europa.eu", text,
                created, engagement=Engagement(n + 1, 0, 0, 0), raw={"text": text, text: [text]})  # fmt: skip
    expected = clean_text(text)
    assert post.text == expected and "\x00" not in json.dumps(post.raw)
    with engine.begin() as conn:
        sync_accounts(conn, [EC], NOW)
        aid = conn.execute(select(accounts.c.id)).scalar_one()
        assert save_posts(conn, aid, [post], NOW).rejected == ()
    with engine.connect() as conn:
        assert conn.execute(select(posts.c.text).where(posts.c.uri == post.uri)).scalar_one() == expected
        out = io.StringIO()
        sel = Selection(Period.days(created.date(), created.date()))
        export_posts(conn, sel, out)
        report = render_report(gather_report(conn, sel, now=NOW))  # this post engages most: shown first
    (row,) = [r for r in csv.DictReader(io.StringIO(out.getvalue())) if r["post_uri"] == post.uri]
    assert row["text"] == ("'" + expected if expected.startswith(FORMULA_STARTS) else expected)

    ref = PostRef(author="ec.europa.eu", text=excerpt(expected), created_at=created.isoformat(), engagement=1)
    message = Message("fire", "A post", "warning", (("Rule", "busy"),), (Section("Posts", posts=(ref,)),))
    slack = json.dumps(slack_payload(message))
    assert "<!" not in slack and "<@" not in slack and "<http" not in slack  # no mention, no forged link
    mail = build_email(message, "dm@example.org", ("team@example.org",)).as_bytes()
    parsed = BytesParser(policy=policy.default).parsebytes(mail)
    html_part = parsed.get_body(("html",)).get_content()
    assert (
        "<script" not in html_part.lower() and excerpt(expected) in parsed.get_body(("plain",)).get_content()
    )
    assert len(re.findall(r"<script", report)) == 2  # the report's own two, never one from a post
    assert "<b>" not in report and "<b>" not in html_part
