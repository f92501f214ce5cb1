"""The replies export: the audience's answers, pseudonymised, injection-safe, exact text."""

from __future__ import annotations

import io

from sqlalchemy import Engine

from monitor.reporting.replies_csv import REPLY_COLUMNS, export_replies
from monitor.reporting.selection import Period, Selection
from monitor.schema import reception_posts

OCTOBER = Selection(Period.month("2026-10"))

# tests/export/conftest.py ANSWERS: three replies (one deleted) and a quote of post 1, all written
# 2026-10-01 01:00 UTC; authors are the stored keys (k1...), no handle kept.
EXPECTED = (
    "post_url,post_uri,account_handle,country,platform,relation,uri,parent_uri,direct,author,created_at,"
    "language,text,likes,reposts,replies,quotes,sentiment_label,sentiment_score,topics,edited,deleted,"
    "text_removed_at\r\n"
    "https://example.org/1,at://diplomatie.gouv.fr/post/1,diplomatie.gouv.fr,FR,bluesky,reply,at://x/answer/1,"
    "at://diplomatie.gouv.fr/post/1,1,k1,2026-10-01T01:00:00Z,fr,answer 1,,,,,negative,-0.6,,0,0,\r\n"
    "https://example.org/1,at://diplomatie.gouv.fr/post/1,diplomatie.gouv.fr,FR,bluesky,reply,at://x/answer/2,"
    "at://x/answer/1,0,k2,2026-10-01T01:00:00Z,en,answer 2,,,,,neutral,-0.1,,0,0,\r\n"
    "https://example.org/1,at://diplomatie.gouv.fr/post/1,diplomatie.gouv.fr,FR,bluesky,reply,at://x/answer/3,"
    "at://diplomatie.gouv.fr/post/1,1,k3,2026-10-01T01:00:00Z,de,answer 3,,,,,positive,0.9,,0,1,\r\n"
    "https://example.org/1,at://diplomatie.gouv.fr/post/1,diplomatie.gouv.fr,FR,bluesky,quote,at://x/answer/4,"
    "at://diplomatie.gouv.fr/post/1,1,k4,2026-10-01T01:00:00Z,fr,answer 4,,,,,positive,0.5,,0,0,\r\n"
)


def _export(engine: Engine, sel: Selection) -> str:
    out = io.StringIO(newline="")
    with engine.connect() as conn:
        export_replies(conn, sel, out)
    return out.getvalue()


def test_the_whole_export_on_both_backends(dataset: Engine) -> None:
    assert _export(dataset, OCTOBER) == EXPECTED
    assert EXPECTED.split("\r\n")[0].split(",") == list(REPLY_COLUMNS)
    assert _export(dataset, Selection(OCTOBER.period, countries=("DE",))).count("\r\n") == 1  # header only


def test_hostile_answers_cannot_become_formulas(dataset: Engine) -> None:
    with dataset.begin() as conn:
        conn.execute(reception_posts.update().where(reception_posts.c.id == 2).values(
            text='=HYPERLINK("http://evil.example")', author_key="@k2"))  # fmt: skip
    row = _export(dataset, OCTOBER).split("\r\n")[2]
    assert ",'@k2," in row and '"\'=HYPERLINK(""http://evil.example"")"' in row
