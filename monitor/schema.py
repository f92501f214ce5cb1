"""The one SQL metadata of diplomonitor (Alembic migrations are checked against it).

Timestamps are stored in UTC: `timestamptz` on PostgreSQL, naive UTC on SQLite; both come
back as timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime that is always timezone-aware UTC in Python, whatever the backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: diplomonitor stores UTC-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGINT primary keys on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json: Any = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(16), nullable=False),
    Column("handle", String(255), nullable=False),  # as configured, lower-cased
    Column("platform_id", String(255)),  # Bluesky DID; Mastodon account id on `instance`
    Column("instance", String(255)),  # Mastodon home instance host
    Column("current_handle", String(255)),  # the handle the platform reports now
    Column("display_name", String(255)),
    Column("country", String(2), nullable=False),  # sending country, ISO 3166-1 alpha-2
    Column("kind", String(32), nullable=False),
    Column("host_country", String(2)),
    Column("groups", Json, nullable=False, default=list),
    Column("active", Boolean, nullable=False, default=True),
    Column("status", String(32), nullable=False, default="ok"),  # collectors.records.AccountStatus
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Column("deactivated_at", UTCDateTime),
    UniqueConstraint("platform", "handle"),
    UniqueConstraint("platform", "instance", "platform_id"),
)

account_handles = Table(
    "account_handles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("handle", String(255), nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False, default=utcnow),
    Column("last_seen_at", UTCDateTime, nullable=False, default=utcnow),
    UniqueConstraint("account_id", "handle"),
)

posts = Table(
    "posts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("uri", String(512), nullable=False),
    Column("native_id", String(255)),
    Column("url", String(1024)),
    Column("author_handle", String(255), nullable=False),
    Column("text", Text, nullable=False, default=""),
    Column("declared_language", String(16)),  # first language the platform declared
    Column("languages", Json, nullable=False, default=list),  # all declared languages
    Column("created_at", UTCDateTime, nullable=False),
    Column("indexed_at", UTCDateTime),
    Column("collected_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Column("is_reply", Boolean, nullable=False, default=False),
    Column("reply_parent_uri", String(512)),
    Column("reply_root_uri", String(512)),
    Column("is_repost", Boolean, nullable=False, default=False),
    Column("repost_of_uri", String(512)),
    Column("repost_of_author", String(255)),
    Column("is_quote", Boolean, nullable=False, default=False),
    Column("quote_of_uri", String(512)),
    Column("links", Json, nullable=False, default=list),
    Column("hashtags", Json, nullable=False, default=list),
    Column("mentions", Json, nullable=False, default=list),
    Column("edited_at", UTCDateTime),
    Column("deleted_at", UTCDateTime),
    # Latest engagement, denormalised from engagement_snapshots for alerts and exports.
    Column("likes", Integer),
    Column("reposts", Integer),
    Column("replies", Integer),
    Column("quotes", Integer),
    Column("engagement_at", UTCDateTime),
    # Fingerprint of the model set that scored the current text; NULL = needs scoring.
    Column("scored_with", String(255)),
    Column("raw", Json, nullable=False, default=dict),
    UniqueConstraint("platform", "uri"),
    Index("ix_posts_account_created", "account_id", "created_at"),
    Index("ix_posts_created", "created_at"),
    Index("ix_posts_scored_with", "scored_with"),
)

# Posts a collector returned that do not fit the store (a key longer than its column, a value
# the database refuses), kept with the reason so one hostile post never stops its account.
rejected_posts = Table(
    "rejected_posts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("key", String(64), nullable=False),  # sha256 of "platform uri": any length of uri fits
    Column("uri", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("record", Json, nullable=False, default=dict),  # the post as collected, for a person
    Column("first_rejected_at", UTCDateTime, nullable=False),
    Column("last_rejected_at", UTCDateTime, nullable=False),
    Column("times", Integer, nullable=False, default=1),
    UniqueConstraint("key"),
    Index("ix_rejected_posts_account", "account_id"),
)

post_versions = Table(
    "post_versions",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("text", Text, nullable=False),
    Column("valid_until", UTCDateTime, nullable=False),  # when the next edit replaced it
    Index("ix_post_versions_post", "post_id"),
)

engagement_snapshots = Table(
    "engagement_snapshots",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("likes", Integer),
    Column("reposts", Integer),
    Column("replies", Integer),
    Column("quotes", Integer),
    Index("ix_engagement_post_observed", "post_id", "observed_at"),
)

profile_snapshots = Table(
    "profile_snapshots",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("followers", Integer),
    Column("following", Integer),
    Column("posts_count", Integer),
    Index("ix_profile_account_observed", "account_id", "observed_at"),
)

collection_state = Table(
    "collection_state",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    # Newest post already stored (Bluesky: createdAt ISO time; Mastodon: status id).
    Column("cursor", String(512)),
    Column("backfilled_from", UTCDateTime),  # oldest time the history was fetched from
    # A walk down the history in progress, committed page by page with its posts: where the
    # next page starts, the newest position seen (the next `cursor`), and its time floor
    # (NULL: the walk stops at `cursor`). A crash resumes here instead of skipping or refetching.
    Column("walk_cursor", String(512)),
    Column("walk_top", String(512)),
    Column("walk_since", UTCDateTime),
    Column("last_attempt_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime),
    Column("engagement_refreshed_at", UTCDateTime),
    Column("profile_refreshed_at", UTCDateTime),
)


def _score_columns() -> list[Column[Any]]:
    """What scoring stores about one text: the same for a watched post and for a reply to it."""
    return [
        Column("scored_with", String(255), nullable=False),
        Column("scored_at", UTCDateTime, nullable=False, default=utcnow),
        Column("language", String(16)),  # detector's answer when confident, else declared
        Column("language_confidence", Float),
        Column("language_model", String(255)),
        Column("sentiment_label", String(16)),  # negative | neutral | positive
        Column("sentiment_negative", Float),
        Column("sentiment_neutral", Float),
        Column("sentiment_positive", Float),
        Column("sentiment_score", Float),  # positive - negative, in [-1, 1]
        Column("sentiment_model", String(255)),
        Column("sentiment_model_version", String(255)),
        Column("topics", Json, nullable=False, default=dict),  # {topic: score} above threshold
        # What the topics rest on (models.topics.Basis): rules, rules+embedding, embedding, or
        # no_rules (a language without keyword rules and no encoder: "cannot tell", not "no topic").
        Column("topic_basis", String(16)),
        Column("topic_model", String(255)),
        Column("topic_model_version", String(255)),
    ]


scores = Table(
    "scores",
    metadata,
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    *_score_columns(),
    Index("ix_scores_scored_at", "scored_at"),
)

post_topics = Table(
    "post_topics",
    metadata,
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("topic", String(64), primary_key=True),
    Column("score", Float, nullable=False),
    Index("ix_post_topics_topic", "topic", "post_id"),
)

# The audience's answers to watched posts: replies (any depth of the thread) and quotes by others
# (monitor/collection/reception.py). Authors are pseudonymised: `author_key` is a keyed hash,
# the handle is kept only with [reception] keep_authors; the text goes after retention_days.
reception_posts = Table(
    "reception_posts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),  # answered
    Column("platform", String(16), nullable=False),
    Column("uri", String(512), nullable=False),
    Column("relation", String(8), nullable=False),  # reply | quote
    Column("parent_uri", String(512)),  # what a reply answers (the watched post, or another reply)
    Column("author_key", String(64), nullable=False),
    Column("author_handle", String(255)),  # only with keep_authors
    Column("text", Text),  # NULL once past retention_days
    Column("declared_language", String(16)),
    Column("languages", Json, nullable=False, default=list),
    Column("created_at", UTCDateTime, nullable=False),
    Column("collected_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Column("likes", Integer),
    Column("reposts", Integer),
    Column("replies", Integer),
    Column("quotes", Integer),
    Column("edited_at", UTCDateTime),
    Column("deleted_at", UTCDateTime),  # no longer in the thread or the quotes list
    Column("purged_at", UTCDateTime),  # text and handle removed by retention
    Column("scored_with", String(255)),
    UniqueConstraint("platform", "uri"),
    Index("ix_reception_posts_post", "post_id", "created_at"),
    Index("ix_reception_posts_created", "created_at"),
    Index("ix_reception_posts_scored_with", "scored_with"),
)

reception_scores = Table(
    "reception_scores",
    metadata,
    Column("reception_id", BigId, ForeignKey("reception_posts.id", ondelete="CASCADE"), primary_key=True),
    *_score_columns(),
)

# Per watched post: what the platform reports against what was collected (coverage), and the
# counts at the last look, so a thread is read again only when they change.
reception_state = Table(
    "reception_state",
    metadata,
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("replies_seen", Integer),  # the post's reply count when the thread was last read
    Column("quotes_seen", Integer),
    Column("replies_collected", Integer, nullable=False, default=0),  # direct replies by others
    Column("thread_collected", Integer, nullable=False, default=0),  # replies at any depth
    Column("quotes_collected", Integer, nullable=False, default=0),
    Column("withheld", Integer, nullable=False, default=0),  # thread entries the platform withheld
    Column("quotes_listed", Boolean),  # None: not tried; False: the server has no quotes list
    Column("checked_at", UTCDateTime),
    # The replies' figures (monitor.measures.reception_figures), kept current as replies are
    # collected, scored, edited or deleted, so exports and reports read one row per post.
    Column("replies_scored", Integer, nullable=False, default=0),
    Column("reply_tone", Float),  # mean sentiment score of the scored replies
    Column("reply_negative_share", Float),  # negative / scored replies
    Column("reply_languages", Json, nullable=False, default=dict),  # {language: replies}
)

alert_states = Table(
    "alert_states",
    metadata,
    Column("rule", String(128), primary_key=True),
    Column("scope", String(255), primary_key=True),
    Column("firing", Boolean, nullable=False, default=False),
    Column("event_id", BigId, ForeignKey("alert_events.id")),  # the open event, if firing
    Column("changed_at", UTCDateTime, nullable=False, default=utcnow),
    Column("last_fired_at", UTCDateTime),
    Column("evaluated_at", UTCDateTime),
    Column("last_value", Float),  # the compared number at the last evaluation
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("rule", String(128), nullable=False),
    Column("scope", String(255), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("value", Float),  # the compared number: the metric, or its z-score or ratio
    Column("observed", Float),  # the metric in the window (differs from value for spikes)
    Column("threshold", Float),
    Column("baseline", Float),
    Column("title", Text, nullable=False),
    Column("details", Json, nullable=False, default=dict),  # top posts, counts
    Column("opened_at", UTCDateTime, nullable=False, default=utcnow),
    Column("resolved_at", UTCDateTime),
    Column("muted", Boolean, nullable=False, default=False),  # opened during a mute: nothing was sent
    Column("acknowledged_at", UTCDateTime),  # someone said they are on it
    Column("acknowledged_by", String(128)),
    UniqueConstraint("rule", "scope", "window_start"),
    Index("ix_alert_events_opened", "opened_at"),
)

# A rule, or one scope of it ("" = the whole rule), muted until a time: alerts still open and
# are recorded, but nothing is sent for them (alerting/mutes.py).
alert_mutes = Table(
    "alert_mutes",
    metadata,
    Column("rule", String(128), primary_key=True),
    Column("scope", String(255), primary_key=True, default=""),
    Column("muted_until", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("created_by", String(128), nullable=False),
    Column("reason", Text),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("event_id", BigId, ForeignKey("alert_events.id", ondelete="CASCADE")),
    Column("channel", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # fire | resolve | digest | test
    Column("dedup_key", String(255), nullable=False),
    Column("payload", Json, nullable=False, default=dict),
    # pending -> sending (claimed, until next_attempt_at) -> sent | pending (retry) | failed
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False, default=utcnow),
    # The rule's quiet hours when it was enqueued ("22:00-07:00" in `quiet_timezone`): a retry
    # never lands in them, whatever the config says by then.
    Column("quiet_hours", String(16)),
    Column("quiet_timezone", String(64)),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("channel", "dedup_key"),
    Index("ix_deliveries_status_next", "status", "next_attempt_at"),
)

# One row per exclusive scheduled job: the period it was last claimed for, so that several
# `diplomonitor run` processes on one PostgreSQL run each job once per period (monitor.service.jobs).
service_jobs = Table(
    "service_jobs",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("period_start", UTCDateTime, nullable=False),  # the schedule period last claimed
    Column("status", String(16), nullable=False),  # running | ok | failed
    Column("owner", String(255), nullable=False),  # host:pid of the process that claimed it
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("duration_seconds", Float),
    Column("last_error", Text),
)
