"""quiet hours stored with each delivery; rejected posts; alert mutes and acknowledgements

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import monitor.schema
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quiet_hours", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("quiet_timezone", sa.String(length=64), nullable=True))
    op.create_table(
        "rejected_posts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "record",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("first_rejected_at", monitor.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_rejected_at", monitor.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_rejected_posts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_posts")),
        sa.UniqueConstraint("key", name=op.f("uq_rejected_posts_key")),
    )
    with op.batch_alter_table("rejected_posts", schema=None) as batch_op:
        batch_op.create_index("ix_rejected_posts_account", ["account_id"], unique=False)
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("muted", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(
            sa.Column("acknowledged_at", monitor.schema.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("acknowledged_by", sa.String(length=128), nullable=True))
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.alter_column("muted", server_default=None)
    op.create_table(
        "alert_mutes",
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("muted_until", monitor.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", monitor.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("rule", "scope", name=op.f("pk_alert_mutes")),
    )


def downgrade() -> None:
    op.drop_table("alert_mutes")
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.drop_column("acknowledged_by")
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("muted")
    with op.batch_alter_table("rejected_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_rejected_posts_account")
    op.drop_table("rejected_posts")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("quiet_timezone")
        batch_op.drop_column("quiet_hours")
