"""topic taxonomy v2: renamed topic ids, and what each post's topics rest on

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 06:00:00

The taxonomy grew from 13 to 21 topics (issue 12). Two ids changed meaning and name where
the mapping is certain: science_technology -> science_research (digital and cyber topics
now have their own ids) and bilateral_multilateral -> bilateral. Stored topics are renamed
in post_topics and scores.topics, so that reports stay readable until every post has been
scored again; that happens on the next scoring run, because the scorer's fingerprint
(posts.scored_with) changed with the taxonomy. Downgrade renames them back (posts scored
under the new taxonomy keep new ids that the old one does not know).

scores.topic_basis and reception_scores.topic_basis say what a text's topics rest on
(rules, rules+embedding, embedding, no_rules); NULL for texts scored before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

RENAMED = {"science_technology": "science_research", "bilateral_multilateral": "bilateral"}


SCORED = ("scores", "reception_scores")


def upgrade() -> None:
    for table in SCORED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("topic_basis", sa.String(length=16), nullable=True))
    for old, new in RENAMED.items():
        _rename(old, new)


def downgrade() -> None:
    for old, new in RENAMED.items():
        _rename(new, old)
    for table in SCORED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("topic_basis")


def _rename(old: str, new: str) -> None:
    """Rename a topic id in post_topics (keeping the higher score if both exist) and scores.topics."""
    bind = op.get_bind()
    params = {"old": old, "new": new}
    bind.execute(
        sa.text(
            "UPDATE post_topics SET score = (SELECT MAX(o.score) FROM post_topics o "
            "WHERE o.post_id = post_topics.post_id AND o.topic IN (:old, :new)) "
            "WHERE topic = :new AND EXISTS (SELECT 1 FROM post_topics o "
            "WHERE o.post_id = post_topics.post_id AND o.topic = :old)"
        ),
        params,
    )
    bind.execute(
        sa.text(
            "DELETE FROM post_topics WHERE topic = :old AND EXISTS (SELECT 1 FROM post_topics n "
            "WHERE n.post_id = post_topics.post_id AND n.topic = :new)"
        ),
        params,
    )
    bind.execute(sa.text("UPDATE post_topics SET topic = :new WHERE topic = :old"), params)
    if bind.dialect.name == "postgresql":
        bind.execute(
            sa.text(
                "UPDATE scores SET topics = (topics - CAST(:old AS text)) || jsonb_build_object("
                "CAST(:new AS text), GREATEST(topics -> :old, COALESCE(topics -> :new, topics -> :old))) "
                "WHERE topics ? :old"
            ),
            params,
        )
    else:
        bind.execute(
            sa.text(
                "UPDATE scores SET topics = json_set(json_remove(topics, '$.' || :old), '$.' || :new, "
                "MAX(json_extract(topics, '$.' || :old), COALESCE(json_extract(topics, '$.' || :new), 0))) "
                "WHERE json_extract(topics, '$.' || :old) IS NOT NULL"
            ),
            params,
        )
