"""One hostile post never fails its page: it is kept aside with the reason, the others are stored,
the same way on SQLite and PostgreSQL; only a real database outage fails a round."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select, text

from collectors.records import Engagement, Post
from monitor.accounts import sync_accounts
from monitor.collection.store import save_posts
from monitor.config import Account
from monitor.schema import accounts, posts, rejected_posts
from tests.conftest import NOW

EC = Account(platform="bluesky", handle="ec.europa.eu", country="EU", kind="ministry")
REFUSED = "this text the database refuses"


def _post(uri: str, text: str = "hello") -> Post:
    return Post("bluesky", uri, "did:plc:ec", "ec.europa.eu", text, NOW - timedelta(hours=1),
                engagement=Engagement(1, 0, 0, 0))  # fmt: skip


def _account_id(engine: Engine) -> int:
    with engine.begin() as conn:
        sync_accounts(conn, [EC], NOW)
        return int(conn.execute(select(accounts.c.id)).scalar_one())


def _stored(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(posts.c.uri).order_by(posts.c.uri)).scalars())


def test_a_post_too_long_for_its_columns_is_rejected_alike_on_both_backends(engine: Engine) -> None:
    aid = _account_id(engine)
    long_uri = "at://did:plc:ec/app.bsky.feed.post/" + "x" * 600
    page = [_post("at://a/1"), _post(long_uri), _post("at://a/3", "nul\x00 and \r\n controls\x07")]
    with engine.begin() as conn:
        saved = save_posts(conn, aid, page, NOW)
    with engine.begin() as conn:
        again = save_posts(conn, aid, page, NOW + timedelta(hours=1))
    assert (saved.inserted, again.updated) == (2, 2)
    assert saved.rejected == ((long_uri, "uri is 635 characters long, more than the 512 stored"),)
    assert _stored(engine) == ["at://a/1", "at://a/3"]
    with engine.connect() as conn:
        stored_text = conn.execute(select(posts.c.text).where(posts.c.uri == "at://a/3")).scalar_one()
        (row,) = conn.execute(select(rejected_posts)).all()
    assert stored_text == "nul and \n controls"  # cleaned once, at the collector boundary
    assert (row.uri, row.account_id, row.times, row.first_rejected_at, row.last_rejected_at) == (
        long_uri, aid, 2, NOW, NOW + timedelta(hours=1))  # fmt: skip
    assert row.record["text"] == "hello"


def test_a_post_the_database_refuses_is_rejected_and_the_page_goes_on(engine: Engine) -> None:
    """A trigger stands in for any value the server refuses that Python could not foresee."""
    aid = _account_id(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN IF NEW.text = "
                f"'{REFUSED}' THEN RAISE EXCEPTION 'refused text' USING ERRCODE = '22023'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"))  # fmt: skip
            conn.execute(
                text("CREATE TRIGGER refuse BEFORE INSERT ON posts FOR EACH ROW EXECUTE FUNCTION refuse()")
            )
        else:
            conn.execute(text(f"CREATE TRIGGER refuse BEFORE INSERT ON posts WHEN NEW.text = '{REFUSED}' "
                              "BEGIN SELECT RAISE(ABORT, 'refused text'); END"))  # fmt: skip
    try:
        page = [_post("at://a/1"), _post("at://a/2", REFUSED), _post("at://a/3")]
        with engine.begin() as conn:
            saved = save_posts(conn, aid, page, NOW)
        assert (saved.inserted, [uri for uri, _ in saved.rejected]) == (2, ["at://a/2"])
        assert "refused by the database" in saved.rejected[0][1] and "refused text" in saved.rejected[0][1]
        assert _stored(engine) == ["at://a/1", "at://a/3"]
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse ON posts" if conn.dialect.name == "postgresql"
                              else "DROP TRIGGER refuse"))  # fmt: skip
            if conn.dialect.name == "postgresql":
                conn.execute(text("DROP FUNCTION refuse()"))
