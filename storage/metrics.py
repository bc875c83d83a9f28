"""Aggregate queries for the key metrics: the database counts, Python only reads numbers.

A release's outcome and its times come from its events; what the metrics count about each
release is kept, one row per release, in `release_facts` (storage/facts.py: recomputed from
the record in the transaction that changes it, rebuilt from the log by `releasebot metrics
rebuild`). The cohort (releases created in a period, of one release model or all) is a
range of `ix_release_facts_created` / `ix_release_facts_model_created`, aggregated with
COUNT/SUM/AVG over CASE in one statement; the lead-time percentiles are one more statement
each (`ORDER BY … LIMIT 1 OFFSET k`). No event is read, so the cost grows with the releases
of the period, not with the history, however many events each release collected.

The backlog is as of now, from `releases.state` (ix_releases_state_model_created).
Date arithmetic differs between the databases we run on; `seconds_between` hides it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, String, case, column, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.facts import DAY_SUMS, OUTCOME_ORDER, day_start, day_sums, risk_key, seconds_between
from storage.tables import MetricsDayRow, ReleaseFactRow, ReleaseRow, UTCDateTime

R = ReleaseRow
F = ReleaseFactRow
D = MetricsDayRow

__all__ = ["OUTCOME_ORDER", "seconds_between", "MetricsQueries"]


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


@dataclass(frozen=True)
class Period:
    """Everything `period` reads about one cohort."""

    cohort: CohortFigures
    by_risk: list[RiskFigures]
    surveys: SurveyFigures


#: The outcomes `period` counts, in the order of its columns.
OUTCOMES = ("released", "failed", "rolled_back", "rejected", "cancelled")


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
        conditions: list[Any] = [F.created_at >= since, F.created_at <= until]
        if model_key:
            conditions.append(F.model_key == model_key)
        return conditions

    async def period(self, since: datetime, until: datetime, model_key: str | None,
                     percentiles: Sequence[int] = (50, 90)) -> Period:
        """Outcomes, schedule adherence, lead times, per-risk outcomes and survey figures of
        the cohort: its whole days summed from metrics_days, its partial first and last days
        from the facts, grouped by risk level; then one statement per lead-time percentile.

        Each release counts once, by `OUTCOME_ORDER`. A start within [planned start, planned
        end] is in the window; the delay is the time after the planned start, an early start
        counting as none. Lead time runs from creation to the first `released` event; a
        percentile p is the value at nearest rank ceil(p/100 · n), so it is one release's.
        """
        by_risk: dict[str, list[float]] = {}
        for row in await self._sums(since, until, model_key):
            into = by_risk.setdefault(row[0] or "", [0] * len(DAY_SUMS))
            for i, value in enumerate(row[1:]):
                into[i] += _number(value)
        totals = [sum(sums[i] for sums in by_risk.values()) for i in range(len(DAY_SUMS))]
        (created, released, failed, rolled_back, rejected, cancelled, started, in_window, delay_sum, delays,
         reached, delayed_by_freeze, ratings, rating_sum, invitations, respondents) = totals
        ranked = [await self._lead_time_at(since, until, model_key, (int(reached) * percent + 99) // 100, int(reached))
                  for percent in percentiles]
        figures = CohortFigures(
            created=int(created), released=int(released), failed=int(failed), rolled_back=int(rolled_back),
            rejected=int(rejected), cancelled=int(cancelled), started=int(started),
            started_in_window=int(in_window), avg_start_delay=delay_sum / delays if delays else None,
            reached_released=int(reached), delayed_by_freeze=int(delayed_by_freeze),
            lead_time_percentiles=tuple(ranked),
        )
        risks = [RiskFigures(risk or None, *(int(n) for n in sums[:4])) for risk, sums in by_risk.items()]
        surveys = SurveyFigures(int(ratings), rating_sum / ratings if ratings else None, int(invitations),
                                int(respondents))
        return Period(figures, risks, surveys)

    async def _sums(self, since: datetime, until: datetime, model_key: str | None) -> list[Any]:
        """DAY_SUMS per risk key of the cohort, in parts: the whole days between `since`
        and `until` from metrics_days, the partial days at either end from the facts (the
        parts may repeat a risk key; the caller adds them up)."""
        first, last = day_start(since), day_start(until)
        if first < since:
            first += timedelta(days=1)
        models: list[Any] = [F.model_key == model_key] if model_key else []
        edge = select(risk_key(F.risk), *day_sums()).group_by(risk_key(F.risk))
        if first >= last:  # no whole day: the period lies within two days
            return list(await self.session.execute(edge.where(*self._cohort(since, until, model_key))))
        whole = select(D.risk, *(func.sum(getattr(D, name)) for name in DAY_SUMS)).where(
            D.day >= first, D.day < last, *([D.model_key == model_key] if model_key else [])).group_by(D.risk)
        parts = [whole,
                 edge.where(F.created_at >= since, F.created_at < first, *models),
                 edge.where(F.created_at >= last, F.created_at <= until, *models)]
        return [row for part in parts for row in await self.session.execute(part)]

    async def _lead_time_at(self, since: datetime, until: datetime, model_key: str | None, rank: int,
                            of: int) -> float | None:
        """The cohort's `rank`-th shortest lead time (1-based) of `of`; None for rank 0.

        Read from whichever end is nearer (the 90th percentile is the 10th from the top), so
        that an index walk stops early."""
        if rank <= 0:
            return None
        query = select(F.lead_time).where(*self._cohort(since, until, model_key), F.lead_time.is_not(None))
        if self.dialect == "sqlite":
            # Walk the lead-time index up to the rank rather than sort a year of releases:
            # SQLite keeps no statistics to see that by itself, and SQLAlchemy renders no
            # INDEXED BY, so the columns are named bare and the table given as text.
            lead, created, model = (column("lead_time", Float()), column("created_at", UTCDateTime()),
                                    column("model_key", String()))
            conditions = [created >= since, created <= until, lead.is_not(None)]
            if model_key:
                conditions.append(model == model_key)
            query = select(lead).select_from(text("release_facts INDEXED BY ix_release_facts_lead")).where(*conditions)
            order: Any = lead
        else:
            order = F.lead_time
        if rank > of // 2:
            query = query.order_by(order.desc()).offset(of - rank)
        else:
            query = query.order_by(order).offset(rank - 1)
        return _float((await self.session.execute(query.limit(1))).scalar())

    async def cohort(self, since: datetime, until: datetime, model_key: str | None,
                     percentiles: Sequence[int] = (50, 90)) -> CohortFigures:
        return (await self.period(since, until, model_key, percentiles)).cohort

    async def by_risk(self, since: datetime, until: datetime, model_key: str | None) -> list[RiskFigures]:
        return (await self.period(since, until, model_key, ())).by_risk

    async def surveys(self, since: datetime, until: datetime, model_key: str | None) -> SurveyFigures:
        return (await self.period(since, until, model_key, ())).surveys

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


def _number(value: Any) -> float:
    """A SUM over no rows is NULL; a count or sum otherwise (int, float, or Decimal on PostgreSQL)."""
    return 0 if value is None else value if isinstance(value, int | float) else float(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
