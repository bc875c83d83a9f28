"""The schema. Rows only: no rendering, no rules.

Idempotency lives here as unique constraints (an approval per person, one outbox row per
dedupe key, one release per planning modal), so that retries and double clicks cannot
record a fact twice whatever the code above does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every database (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class ReleaseRow(Base):
    """A release instance; `REL-<id>` is its human reference."""

    __tablename__ = "releases"
    __table_args__ = (
        Index("ix_releases_state_created", "state", "created_at"),
        Index("ix_releases_owner_created", "owner", "created_at"),
        # The key metrics of one release model: its releases of a period, and its backlog.
        Index("ix_releases_model_created", "model_key", "created_at"),
        Index("ix_releases_state_model_created", "state", "model_key", "created_at"),
        # The App Home's releases awaiting a person's decision, and their count, from the index alone.
        Index("ix_releases_state_model_owner", "state", "model_key", "owner", "id"),
        # The change schedule and the clash checks: releases still to come whose window has
        # not ended, without reading the past ones still in those states.
        Index("ix_releases_state_planned_end", "state", "planned_end"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_key: Mapped[str] = mapped_column(String(64), index=True)
    # The version of the release model it was planned with (`model_versions`): every rule of
    # the release comes from it. NULL only for releases planned before versions were kept
    # whose model file was gone when the bot next started.
    model_version: Mapped[str | None] = mapped_column(String(8), nullable=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(64))
    planned_start: Mapped[datetime]
    planned_end: Mapped[datetime]
    components: Mapped[list[Any]] = mapped_column(JSON, default=list)
    change_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The release plan (DESIGN.md §5a): NULL is "not given"; risk is low, medium or high.
    release_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    risk: Mapped[str | None] = mapped_column(String(8), nullable=True)
    impact: Mapped[str | None] = mapped_column(Text, nullable=True)
    rollback_plan: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The planning modal's view id: a resubmitted or retried modal creates no second release.
    origin_key: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]


class ModelVersionRow(Base):
    """One distinct content of a release model file, kept once and never changed: the
    releases planned with it keep their rules whatever later happens to the file."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_key", "version", name="uq_model_versions_key_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_key: Mapped[str] = mapped_column(String(64))
    #: The first 8 hex digits of the SHA-256 of the file's bytes.
    version: Mapped[str] = mapped_column(String(8))
    #: The file's text, as it was: parsed again whenever a release of this version needs it.
    content: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime]


class ReleaseEventRow(Base):
    """The append-only release record: every transition and recorded fact. Never updated."""

    __tablename__ = "release_events"
    __table_args__ = (
        Index("ix_release_events_release", "release_id", "id"),
        Index("ix_release_events_kind_at", "kind", "at"),
        # (release_id, kind, at) answers "when did this release first …" from the index alone
        # (the key metrics); it replaces the narrower (release_id, kind) of 0005.
        Index("ix_release_events_release_kind_at", "release_id", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboxRow(Base):
    """A message owed to Slack, written in the transaction of the fact that caused it.

    `anchor` names a message that later rows update in place (a release card, an approval
    request): a `post` row defines it, an `update` row targets it.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"), nullable=True, index=True)
    method: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(64))
    anchor: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    text: Mapped[str] = mapped_column(Text)
    blocks: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    notify_user: Mapped[str | None] = mapped_column(String(64), nullable=True)
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(nullable=True)
    # Set when a dispatcher claims the row, kept while an attempt may have reached Slack
    # unconfirmed (a crash after the post, a timeout), cleared once the row is settled: a
    # claim that finds it set looks for the message in Slack before posting again
    # (bot/delivery_check.py).
    sending_since: Mapped[datetime | None] = mapped_column(nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    # Communications and reminders of a release model's plan (bot/communication_plan.py): what
    # the message is for, what makes it due, and the template it was rendered from. Rows
    # without a purpose (the release card, notices) are the bot's own bookkeeping.
    purpose: Mapped[str | None] = mapped_column(String(16), nullable=True)
    timing: Mapped[str | None] = mapped_column(String(16), nullable=True)
    template: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The row's due time when its current run of failed attempts began (None: not failing):
    #: the give-up clock starts there, and an outage's backlog is released in this order.
    failing_since: Mapped[datetime | None] = mapped_column(nullable=True)


class ApprovalRow(Base):
    """One approver's decision on one release. Unique per person: a person counts once."""

    __tablename__ = "approvals"
    __table_args__ = (
        UniqueConstraint("release_id", "approver", name="uq_approvals_release_approver"),
        # The App Home: "not decided by me" probes this, not every approval of everyone.
        Index("ix_approvals_approver_release", "approver", "release_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    approver: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime]


class SurveyRow(Base):
    """A release's post-release survey, opened once; `closes_at` is fixed when it opens."""

    __tablename__ = "surveys"

    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), primary_key=True)
    opened_at: Mapped[datetime]
    closes_at: Mapped[datetime] = mapped_column(index=True)
    anonymous: Mapped[bool] = mapped_column(default=False)


class SurveyInvitationRow(Base):
    """Who was asked: the denominator of the response rate."""

    __tablename__ = "survey_invitations"
    __table_args__ = (UniqueConstraint("release_id", "recipient", name="uq_survey_invitations"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(64))
    invited_at: Mapped[datetime]


class SurveyAnswerRow(Base):
    """One person's answer to one question of one release's survey; a changed rating
    replaces the answer (one per person, release and question)."""

    __tablename__ = "survey_answers"
    __table_args__ = (
        UniqueConstraint("release_id", "respondent", "question_key", name="uq_survey_answers"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    respondent: Mapped[str] = mapped_column(String(64))
    question_key: Mapped[str] = mapped_column(String(64))
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    answered_at: Mapped[datetime]
    changed_at: Mapped[datetime]
class VerificationRow(Base):
    """One verification outcome: a criterion of a stage passed or failed, said by someone.

    Append-only: re-verifying adds a row, and the latest row per criterion counts. Unique per
    (submission, stage, criterion): the checklist modal's view id is the submission, so a double
    submit or a retried request records an outcome once.
    """

    __tablename__ = "verifications"
    __table_args__ = (
        UniqueConstraint("submission", "stage", "criterion", name="uq_verifications_submission_criterion"),
        Index("ix_verifications_release", "release_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))
    stage: Mapped[str] = mapped_column(String(16))
    criterion: Mapped[str] = mapped_column(String(300))
    outcome: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    evidence_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    verified_by: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[datetime]
    submission: Mapped[str] = mapped_column(String(255))


class SlackMessageRow(Base):
    """Where an anchored message landed, so that later changes update it in place."""

    __tablename__ = "slack_messages"

    anchor: Mapped[str] = mapped_column(String(200), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    ts: Mapped[str] = mapped_column(String(32))
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"), nullable=True, index=True)
    updated_at: Mapped[datetime]


class ChannelPaceRow(Base):
    """When a conversation may receive its next message: one message per second per channel,
    held in the database so that replicas pace together, not each on its own."""

    __tablename__ = "channel_pace"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_at: Mapped[datetime]


class FreezeRow(Base):
    """A one-off freeze of the change schedule, `FRZ-<id>` (DESIGN.md §8): no release starts
    while it is in force for its release model. `ends_at` is when it ends, moved to the moment
    of `/release unfreeze` when ended early (`ended_at`, `ended_by`); `models` None is every
    release model."""

    __tablename__ = "freezes"
    __table_args__ = (Index("ix_freezes_window", "ends_at", "starts_at"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    models: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class FreezeEventRow(Base):
    """The append-only record of a freeze (created, ended), beside the release record: a freeze
    belongs to no release. Overriding one is an event of the release that started."""

    __tablename__ = "freeze_events"
    __table_args__ = (Index("ix_freeze_events_freeze", "freeze_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    freeze_id: Mapped[int] = mapped_column(ForeignKey("freezes.id"))
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ReleaseFactRow(Base):
    """What the key metrics count about one release, kept beside its record (storage/facts.py).

    A derived copy, never a source: one row per release, recomputed from the release row,
    its events and its survey in the transaction that changes any of them, and rebuilt from
    them all by `releasebot metrics rebuild`. It lets the metrics of a year read one narrow
    row per release instead of walking every event of every release.
    """

    __tablename__ = "release_facts"
    __table_args__ = (
        # The partial days at either end of a period, of one model or all (whole days come
        # from metrics_days), and the sums of one day.
        Index("ix_release_facts_created", "created_at"),
        Index("ix_release_facts_model_created", "model_key", "created_at"),
        # The lead-time percentiles: walked in lead-time order up to the rank, no sort.
        Index("ix_release_facts_lead", "lead_time", "created_at", "model_key"),
    )

    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), primary_key=True, autoincrement=False)
    model_key: Mapped[str] = mapped_column(String(64))
    risk: Mapped[str | None] = mapped_column(String(8), nullable=True)
    created_at: Mapped[datetime]
    #: rolled_back, failed, released, rejected or cancelled (storage/metrics.py OUTCOME_ORDER); NULL: open.
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: 1 once it started; then whether its first start lay within its planned window, how
    #: long after the planned start (seconds, an early start counting as 0), and whether a
    #: freeze held it outside the window.
    started: Mapped[int] = mapped_column(Integer)
    in_window: Mapped[int] = mapped_column(Integer)
    start_delay: Mapped[float | None] = mapped_column(Float, nullable=True)
    delayed_by_freeze: Mapped[int] = mapped_column(Integer)
    #: Seconds from creation to the first `released` event; NULL if never released.
    lead_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: Its survey: rating answers, their sum, invitations, invited people who answered.
    ratings: Mapped[int] = mapped_column(Integer)
    rating_sum: Mapped[int] = mapped_column(Integer)
    invitations: Mapped[int] = mapped_column(Integer)
    respondents: Mapped[int] = mapped_column(Integer)


class MetricsDayRow(Base):
    """`release_facts` summed per day of creation (UTC), release model and risk level: a
    year of key metrics is 365 rows per model and risk instead of a row per release.

    Derived like the facts: each sum is recomputed from the facts of its day whenever one of
    them changes (storage/facts.py), never incremented, so it cannot drift from them.
    """

    __tablename__ = "metrics_days"
    __table_args__ = (Index("ix_metrics_days_model_day", "model_key", "day"),)

    day: Mapped[datetime] = mapped_column(primary_key=True)
    model_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The risk level as stored on the releases; "" for not assessed (a key cannot be NULL).
    risk: Mapped[str] = mapped_column(String(8), primary_key=True)
    created: Mapped[int] = mapped_column(Integer)
    released: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    rolled_back: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    cancelled: Mapped[int] = mapped_column(Integer)
    started: Mapped[int] = mapped_column(Integer)
    in_window: Mapped[int] = mapped_column(Integer)
    delay_sum: Mapped[float] = mapped_column(Float)
    delays: Mapped[int] = mapped_column(Integer)
    reached: Mapped[int] = mapped_column(Integer)
    delayed_by_freeze: Mapped[int] = mapped_column(Integer)
    ratings: Mapped[int] = mapped_column(Integer)
    rating_sum: Mapped[int] = mapped_column(Integer)
    invitations: Mapped[int] = mapped_column(Integer)
    respondents: Mapped[int] = mapped_column(Integer)
class IncidentRow(Base):
    """An incident related to a release (DESIGN.md §9): a reference in the incident tool
    (`INC-42`), linked by someone at some moment. Unique per release and reference, so a
    repeated link (a retry, a second pipeline step) is refused by the database."""

    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("release_id", "ref", name="uq_incidents_release_ref"),
        # The metrics count incidents of a cohort of releases; the unique key's index, led by
        # release_id, serves that join. This one serves "incidents linked in a period".
        Index("ix_incidents_linked_at", "linked_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))
    ref: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    linked_by: Mapped[str] = mapped_column(String(64))
    linked_at: Mapped[datetime]
    #: Linked while the release was in early life support (its model's `early_life_support`).
    during_support: Mapped[bool] = mapped_column(Boolean, default=False)


class ModelReviewRow(Base):
    """A release model review that was asked for: when a model was last reviewed, so that
    `review_every` knows when the next one is due."""

    __tablename__ = "model_reviews"
    __table_args__ = (Index("ix_model_reviews_model_at", "model_key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_key: Mapped[str] = mapped_column(String(64))
    days: Mapped[int] = mapped_column(Integer)
    asked_by: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class OutboxFileRow(Base):
    """The file of an `upload` outbox row (a chart), by the row's dedupe key: kept beside the
    outbox so the message table stays narrow, sent with Slack's files upload v2."""

    __tablename__ = "outbox_files"

    dedupe_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    filename: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    alt_text: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[bytes] = mapped_column(LargeBinary)

class ApiTokenRow(Base):
    """A pipeline's token (DESIGN.md §7): only the SHA-256 of the token is kept, so a copy of
    the database lets nobody in. `models` None: every release model. Revoked, never deleted:
    the events keep naming `token:NAME`."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    models: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    #: May create freezes through the API (`--freezes`): a token is never a release manager.
    may_freeze: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ApiRequestRow(Base):
    """One POST of the pipeline API under an `Idempotency-Key`: the unique (token, key) makes a
    retry find the first request and get its answer (`status`, `response`) instead of acting
    again. `fingerprint` (method, path and body) tells a retry from a different request that
    reuses the key."""

    __tablename__ = "api_requests"
    __table_args__ = (UniqueConstraint("token_name", "idempotency_key", name="uq_api_requests_token_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_name: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    claimed_at: Mapped[datetime]
    answered_at: Mapped[datetime | None] = mapped_column(nullable=True)
