"""Aggregate queries for the key metrics: the database counts, Python only reads numbers.

A release's outcome and its times are read from its events (`release_events`), never from a
stored copy. The cohort (releases created in a period, of one release model or all) is
picked through `ix_releases_created_at` / `ix_releases_model_created`; its counted events
are read through `ix_release_events_release_kind_at` (release_id, kind, at), which answers
"when did this release first start / get released" from the index alone. One statement
groups them per release (a CTE) and aggregates with COUNT/SUM/AVG over CASE; the lead-time
percentiles come from the same CTE with `ORDER BY … LIMIT 1 OFFSET k`. Nothing here loads
rows per release into Python, so the cost grows with the period, not with the history.

The join is a LEFT JOIN on purpose: it fixes the join order (releases of the period first,
then their events by index) on SQLite, whose planner without statistics would otherwise
walk every event of a kind through `ix_release_events_kind_at`, a thousand times slower.

Date arithmetic differs between the databases we run on; `seconds_between` hides it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, case, cast, exists, extract, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.tables import ReleaseEventRow, ReleaseRow, SurveyAnswerRow, SurveyInvitationRow, UTCDateTime

R = ReleaseRow
E = ReleaseEventRow

#: Outcome precedence: a rolled-back release counts as a rollback even if it had been
#: released or had failed first; a failed one as a failure; then released, rejected,
#: cancelled. A release with none of these events is still open.
OUTCOME_ORDER = ("rolled_back", "failed", "released", "rejected", "cancelled")
#: The events the metrics read; the others (approvals, verifications, messages) are skipped.
COUNTED_KINDS = ("started", "delayed_by_freeze", *OUTCOME_ORDER)


def seconds_between(later: Any, earlier: Any, dialect: str) -> ColumnElement[float]:
    """`later − earlier` in seconds, as SQL for the dialect in use.

    SQLite keeps datetimes as ISO text, which `julianday` reads (days, as a float);
    PostgreSQL subtracts timestamps into an interval whose epoch is its length in seconds.
    """
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return cast(extract("epoch", later - earlier), Float)


def _moment(value: datetime) -> Any:
    """A datetime parameter with the column type, so it is bound in the stored format."""
    return literal(value, UTCDateTime())


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


@dataclass(frozen=True)
class CohortFigures:
    """What the releases created in a period did, counted from their events; seconds."""

    created: int
    released: int
    failed: int
    rolled_back: int
    rejected: int
    cancelled: int
    started: int
    started_in_window: int
    avg_start_delay: float | None
    reached_released: int
    lead_time_percentiles: tuple[float | None, ...]
    #: Started outside the window because a freeze held the start (counted as such).
    delayed_by_freeze: int = 0


@dataclass(frozen=True)
class RiskFigures:
    """What the releases of one risk level did: planned, released, failed, rolled back."""

    risk: str | None
    created: int
    released: int
    failed: int
    rolled_back: int


@dataclass(frozen=True)
class Backlog:
    count: int
    avg_wait: float | None
    oldest_id: int | None
    oldest_wait: float | None


@dataclass(frozen=True)
class SurveyFigures:
    ratings: int
    avg_rating: float | None
    invitations: int
    respondents: int


class MetricsQueries:
    """The key metrics' queries over one cohort: releases created in [since, until], of one
    release model or all."""

    def __init__(self, session: AsyncSession):
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    @staticmethod
    def _cohort(since: datetime, until: datetime, model_key: str | None) -> list[Any]:
        conditions: list[Any] = [R.created_at >= since, R.created_at <= until]
        if model_key:
            conditions.append(R.model_key == model_key)
        return conditions

    def _per_release(self, since: datetime, until: datetime, model_key: str | None) -> Any:
        """One row per release of the cohort: its creation and window, first start, first
        release, and whether it ever failed, was rolled back, rejected or cancelled."""
        def first(kind: str) -> Any:
            return func.min(case((E.kind == kind, E.at), else_=None))

        def ever(kind: str) -> Any:
            return func.max(case((E.kind == kind, 1), else_=0))

        return (
            select(
                R.id, R.created_at, R.planned_start, R.planned_end, R.risk,
                first("started").label("started_at"), first("released").label("released_at"),
                ever("failed").label("failed"), ever("rolled_back").label("rolled_back"),
                ever("rejected").label("rejected"), ever("cancelled").label("cancelled"),
                ever("delayed_by_freeze").label("delayed_by_freeze"),
            )
            .outerjoin(E, and_(E.release_id == R.id, E.kind.in_(COUNTED_KINDS)))
            .where(*self._cohort(since, until, model_key))
            # created_at first: the order of the cohort's index, so no sort is needed.
            .group_by(R.created_at, R.id)
            .cte("per_release")
        )

    async def cohort(self, since: datetime, until: datetime, model_key: str | None,
                     percentiles: Sequence[int] = (50, 90)) -> CohortFigures:
        """Outcomes, schedule adherence and lead times of the cohort, in one statement.

        Each release counts once, by `OUTCOME_ORDER`. A start within [planned start, planned
        end] is in the window; the delay is the time after the planned start, an early start
        counting as none. Lead time runs from creation to the first `released` event; a
        percentile p is the value at nearest rank ceil(p/100 · n), so it is one release's.
        """
        p = self._per_release(since, until, model_key)
        rolled_back = p.c.rolled_back == 1
        failed = and_(p.c.rolled_back == 0, p.c.failed == 1)
        clean = and_(p.c.rolled_back == 0, p.c.failed == 0)
        released = and_(clean, p.c.released_at.is_not(None))
        rejected = and_(clean, p.c.released_at.is_(None), p.c.rejected == 1)
        cancelled = and_(clean, p.c.released_at.is_(None), p.c.rejected == 0, p.c.cancelled == 1)
        delay = seconds_between(p.c.started_at, p.c.planned_start, self.dialect)
        overrun = seconds_between(p.c.started_at, p.c.planned_end, self.dialect)
        lead = seconds_between(p.c.released_at, p.c.created_at, self.dialect)
        reached = select(func.count(p.c.released_at)).scalar_subquery()

        def at_rank(percent: int) -> Any:
            # ceil(percent · n / 100) − 1 in integer arithmetic; 0 when there is nothing to rank.
            offset = select(case((func.count(p.c.released_at) > 0,
                                  (func.count(p.c.released_at) * percent + 99) // 100 - 1), else_=0)).scalar_subquery()
            return (select(lead).where(p.c.released_at.is_not(None)).order_by(lead, p.c.id)
                    .limit(1).offset(offset).scalar_subquery())

        row = (await self.session.execute(select(
            func.count(),
            _count_if(released), _count_if(failed), _count_if(rolled_back), _count_if(rejected),
            _count_if(cancelled),
            func.count(p.c.started_at), _count_if(and_(delay >= 0, overrun <= 0)),
            func.avg(case((delay > 0, delay), (p.c.started_at.is_not(None), 0.0), else_=None)),
            reached,
            _count_if(and_(p.c.started_at.is_not(None), p.c.delayed_by_freeze == 1,
                           or_(delay < 0, overrun > 0))),
            *(at_rank(percent) for percent in percentiles),
        ).select_from(p))).one()
        return CohortFigures(
            created=int(row[0]), released=int(row[1]), failed=int(row[2]), rolled_back=int(row[3]),
            rejected=int(row[4]), cancelled=int(row[5]), started=int(row[6]), started_in_window=int(row[7]),
            avg_start_delay=_float(row[8]), reached_released=int(row[9]), delayed_by_freeze=int(row[10]),
            lead_time_percentiles=tuple(_float(v) for v in row[11:]),
        )

    async def by_risk(self, since: datetime, until: datetime, model_key: str | None) -> list[RiskFigures]:
        """The cohort's outcomes of execution per risk level (None: not assessed), with the
        same precedence as `cohort`: does "low risk" really fail less?"""
        p = self._per_release(since, until, model_key)
        rolled_back = p.c.rolled_back == 1
        failed = and_(p.c.rolled_back == 0, p.c.failed == 1)
        released = and_(p.c.rolled_back == 0, p.c.failed == 0, p.c.released_at.is_not(None))
        rows = (await self.session.execute(
            select(p.c.risk, func.count(), _count_if(released), _count_if(failed), _count_if(rolled_back))
            .select_from(p).group_by(p.c.risk)
        )).all()
        return [RiskFigures(row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4])) for row in rows]

    async def backlog(self, states: Sequence[str], now: datetime, model_key: str | None) -> Backlog:
        """Releases now in one of `states`, and how long since they were created (seconds)."""
        conditions: list[Any] = [R.state.in_(states)]
        if model_key:
            conditions.append(R.model_key == model_key)
        waited = seconds_between(_moment(now), R.created_at, self.dialect)
        count, avg_wait = (await self.session.execute(
            select(func.count(), func.avg(waited)).where(*conditions))).one()
        oldest = (await self.session.execute(
            select(R.id, waited).where(*conditions).order_by(R.created_at, R.id).limit(1))).first()
        return Backlog(int(count), _float(avg_wait), int(oldest[0]) if oldest else None,
                       _float(oldest[1]) if oldest else None)

    async def surveys(self, since: datetime, until: datetime, model_key: str | None) -> SurveyFigures:
        """Rating answers of the cohort's surveys, and invitations answered (a respondent is
        an invited person who answered at least one question)."""
        cohort = self._cohort(since, until, model_key)
        A, Inv = SurveyAnswerRow, SurveyInvitationRow
        ratings, avg_rating = (await self.session.execute(
            select(func.count(A.rating), func.avg(A.rating))
            .select_from(R).join(A, A.release_id == R.id).where(A.rating.is_not(None), *cohort)
        )).one()
        answered = exists().where(A.release_id == Inv.release_id, A.respondent == Inv.recipient).correlate(Inv)
        invitations, respondents = (await self.session.execute(
            select(func.count(), _count_if(answered))
            .select_from(R).join(Inv, Inv.release_id == R.id).where(*cohort)
        )).one()
        return SurveyFigures(int(ratings), _float(avg_rating), int(invitations), int(respondents))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
