"""reception: replies and quotes of watched posts, their scores, coverage per post

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 06:07:15.371246
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import monitor.schema
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reception_posts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("post_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("uri", sa.String(length=512), nullable=False),
        sa.Column("relation", sa.String(length=8), nullable=False),
        sa.Column("parent_uri", sa.String(length=512), nullable=True),
        sa.Column("author_key", sa.String(length=64), nullable=False),
        sa.Column("author_handle", sa.String(length=255), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("declared_language", sa.String(length=16), nullable=True),
        sa.Column(
            "languages",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", monitor.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("collected_at", monitor.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", monitor.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=True),
        sa.Column("reposts", sa.Integer(), nullable=True),
        sa.Column("replies", sa.Integer(), nullable=True),
        sa.Column("quotes", sa.Integer(), nullable=True),
        sa.Column("edited_at", monitor.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", monitor.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("purged_at", monitor.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("scored_with", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_reception_posts_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reception_posts")),
        sa.UniqueConstraint("platform", "uri", name=op.f("uq_reception_posts_platform_uri")),
    )
    with op.batch_alter_table("reception_posts", schema=None) as batch_op:
        batch_op.create_index("ix_reception_posts_created", ["created_at"], unique=False)
        batch_op.create_index("ix_reception_posts_post", ["post_id", "created_at"], unique=False)
        batch_op.create_index("ix_reception_posts_scored_with", ["scored_with"], unique=False)

    op.create_table(
        "reception_state",
        sa.Column("post_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("replies_seen", sa.Integer(), nullable=True),
        sa.Column("quotes_seen", sa.Integer(), nullable=True),
        sa.Column("replies_collected", sa.Integer(), nullable=False),
        sa.Column("thread_collected", sa.Integer(), nullable=False),
        sa.Column("quotes_collected", sa.Integer(), nullable=False),
        sa.Column("withheld", sa.Integer(), nullable=False),
        sa.Column("quotes_listed", sa.Boolean(), nullable=True),
        sa.Column("checked_at", monitor.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("replies_scored", sa.Integer(), nullable=False),
        sa.Column("reply_tone", sa.Float(), nullable=True),
        sa.Column("reply_negative_share", sa.Float(), nullable=True),
        sa.Column(
            "reply_languages",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_reception_state_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_reception_state")),
    )
    op.create_table(
        "reception_scores",
        sa.Column("reception_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scored_with", sa.String(length=255), nullable=False),
        sa.Column("scored_at", monitor.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("language_confidence", sa.Float(), nullable=True),
        sa.Column("language_model", sa.String(length=255), nullable=True),
        sa.Column("sentiment_label", sa.String(length=16), nullable=True),
        sa.Column("sentiment_negative", sa.Float(), nullable=True),
        sa.Column("sentiment_neutral", sa.Float(), nullable=True),
        sa.Column("sentiment_positive", sa.Float(), nullable=True),
        sa.Column("sentiment_score", sa.Float(), nullable=True),
        sa.Column("sentiment_model", sa.String(length=255), nullable=True),
        sa.Column("sentiment_model_version", sa.String(length=255), nullable=True),
        sa.Column(
            "topics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("topic_model", sa.String(length=255), nullable=True),
        sa.Column("topic_model_version", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["reception_id"],
            ["reception_posts.id"],
            name=op.f("fk_reception_scores_reception_id_reception_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reception_id", name=op.f("pk_reception_scores")),
    )


def downgrade() -> None:
    op.drop_table("reception_scores")
    op.drop_table("reception_state")
    with op.batch_alter_table("reception_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_reception_posts_scored_with")
        batch_op.drop_index("ix_reception_posts_post")
        batch_op.drop_index("ix_reception_posts_created")

    op.drop_table("reception_posts")
