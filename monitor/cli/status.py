"""`diplomonitor status`: how each account's collection is doing."""

from __future__ import annotations

import click

from monitor.cli.app import App, emit, output_options, pass_app


@click.command()
@output_options
@pass_app
def status(app: App, fmt: str) -> None:
    """A table of active accounts: last collection, posts stored, failures, next attempt."""
    from sqlalchemy import func, select

    from monitor.db import reading
    from monitor.schema import accounts, collection_state, posts

    counts = select(posts.c.account_id, func.count().label("posts")).group_by(posts.c.account_id).subquery()
    s = collection_state
    query = (
        select(accounts.c.platform, accounts.c.handle, accounts.c.country, accounts.c.kind,
               accounts.c.status, func.coalesce(counts.c.posts, 0).label("posts"),
               s.c.last_success_at, s.c.consecutive_failures.label("failures"),
               s.c.next_attempt_at, s.c.last_error)
        .select_from(accounts.outerjoin(s, s.c.account_id == accounts.c.id)
                     .outerjoin(counts, counts.c.account_id == accounts.c.id))
        .where(accounts.c.active.is_(True))
        .order_by(accounts.c.country, accounts.c.platform, accounts.c.handle)
    )  # fmt: skip
    with reading(app.ready_engine()) as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        error = row["last_error"]
        row["last_error"] = error[:60] + "…" if error and len(error) > 60 and fmt == "table" else error
    emit(
        rows,
        [
            "platform",
            "handle",
            "country",
            "kind",
            "status",
            "posts",
            "last_success_at",
            "failures",
            "next_attempt_at",
            "last_error",
        ],
        fmt,
    )
    if not rows and fmt == "table":
        click.echo("no active accounts: add [[accounts]] to the config and run `diplomonitor accounts sync`")
