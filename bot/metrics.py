"""ITIL key metrics (practice guide table 2.2) from the release records. Slack-free.

What each figure means is decided here, once; storage/metrics.py only counts. The
definitions, also stated in every answer's footer:

- *The period* is the last N days up to now. Outcomes, rates, schedule adherence, lead time
  and the survey figures are about the releases **created** in the period (a cohort: every
  figure follows the same releases, and a release stays in the period it was planned in).
  The backlog is as of now.
- *Outcome* comes from the release's events: rolled back if it was ever rolled back (even
  after being released), else failed if release verification failed, else released; then
  rejected, cancelled, or still open. Closing a release keeps its outcome.
- *Success, failure and rollback rates* divide by the releases with an outcome of
  execution (released + failed + rolled back), so the three add up to 100%.
- *Schedule adherence* is the share of started releases whose first start lies within
  their planned window, leaving out those a freeze held past it (counted as delayed by a
  freeze); the *average start delay* is over the same releases, time after
  the planned start, an early start counting as no delay.
- *Lead time* is from creation to the first `released` event, for every release that
  reached it; median and 90th percentile by nearest rank (the value of one real release).
- *Backlog* is releases not yet executed (planned, awaiting approval, approved, ready);
  their wait is the time since they were created.
- *Incidents related to releases* are those linked to the cohort's releases; their *share* is
  the releases with at least one, of those started.
- *Satisfaction* is the average of every rating answer of the cohort's surveys; the
  *response rate* is invited people who answered at least one question / invitations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.catalog import Catalog
from bot.clock import Clock, utcnow
from bot.lifecycle import BEFORE_EXECUTION, State
from bot.release_plan import Risk
from storage.metrics import RiskFigures
from storage.uow import UnitOfWorkFactory

DEFAULT_DAYS = 30
MAX_DAYS = 3650

#: The backlog's states, in lifecycle order.
BACKLOG_STATES = tuple(s for s in State if s in BEFORE_EXECUTION)


@dataclass(frozen=True)
class MetricsRequest:
    days: int = DEFAULT_DAYS
    model_key: str | None = None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _span(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=round(seconds))


class ExecutionRates:
    """The rates of execution outcomes, alike for a period's figures and for a risk level's."""

    released: int
    failed: int
    rolled_back: int

    @property
    def executed(self) -> int:
        """Releases with an outcome of execution: the denominator of the three rates."""
        return self.released + self.failed + self.rolled_back

    @property
    def success_rate(self) -> float | None:
        return _rate(self.released, self.executed)

    @property
    def failure_rate(self) -> float | None:
        return _rate(self.failed, self.executed)

    @property
    def rollback_rate(self) -> float | None:
        return _rate(self.rolled_back, self.executed)


@dataclass(frozen=True)
class KeyMetrics(ExecutionRates):
    """The key metrics of one period (and release model, if given), as counts and times."""

    days: int
    since: datetime
    until: datetime
    model_key: str | None
    # Outcomes of the releases created in the period.
    created: int
    released: int
    failed: int
    rolled_back: int
    rejected: int
    cancelled: int
    open: int
    # Schedule adherence.
    started: int
    started_in_window: int
    avg_start_delay: timedelta | None
    # Lead time, creation → released.
    lead_times: int
    lead_time_median: timedelta | None
    lead_time_p90: timedelta | None
    # Backlog, now.
    backlog: int
    backlog_avg_wait: timedelta | None
    backlog_oldest_id: int | None
    backlog_oldest_wait: timedelta | None
    # Stakeholder satisfaction.
    ratings: int
    satisfaction: float | None
    invitations: int
    respondents: int
    #: Outcomes per risk level of the release plan, highest risk first, "not assessed" last.
    by_risk: tuple[RiskOutcomes, ...] = ()
    #: Started outside the window because a freeze held them: counted on their own, out of
    #: the adherence share (the schedule moved, not the release team).
    delayed_by_freeze: int = 0
    #: Incidents related to the cohort's releases (DESIGN.md §9), and how many releases have one.
    incidents: int = 0
    with_incidents: int = 0
    #: Per release model, when asked for all models: key → (incidents, releases with one).
    incidents_by_model: tuple[tuple[str, int, int], ...] = ()

    @property
    def incident_share(self) -> float | None:
        """Releases with at least one incident, of those started (only a started release can
        cause one)."""
        return _rate(self.with_incidents, self.started)

    @property
    def schedule_adherence(self) -> float | None:
        return _rate(self.started_in_window, self.started - self.delayed_by_freeze)

    @property
    def response_rate(self) -> float | None:
        return _rate(self.respondents, self.invitations)


@dataclass(frozen=True)
class RiskOutcomes(ExecutionRates):
    """Success and rollback rates of the releases planned at one risk level (None: not assessed)."""

    risk: Risk | None
    created: int
    released: int
    failed: int
    rolled_back: int


_RISK_ORDER = {Risk.HIGH: 0, Risk.MEDIUM: 1, Risk.LOW: 2, None: 3}


def risk_outcomes(rows: Sequence[RiskFigures]) -> tuple[RiskOutcomes, ...]:
    """Per risk level, in order; a stored word that is no level counts as not assessed."""
    merged: dict[Risk | None, list[int]] = {}
    for row in rows:
        counts = merged.setdefault(Risk.parse(row.risk), [0, 0, 0, 0])
        for i, n in enumerate((row.created, row.released, row.failed, row.rolled_back)):
            counts[i] += n
    return tuple(RiskOutcomes(risk, *counts) for risk, counts in sorted(merged.items(),
                                                                         key=lambda kv: _RISK_ORDER[kv[0]]))


class MetricsService:
    def __init__(self, uow: UnitOfWorkFactory, catalog: Catalog, clock: Clock = utcnow):
        self.uow = uow
        self.catalog = catalog
        self.clock = clock

    async def key_metrics(self, days: int = DEFAULT_DAYS, model_key: str | None = None,
                          by_risk: bool = False) -> KeyMetrics:
        """All figures read in one read-only transaction, so they describe one moment and
        hold up no one who is approving or planning meanwhile. `by_risk` adds the outcomes
        per risk level (`/release metrics` asks for it, the App Home does not; the one pass
        over the period's facts reads them anyway)."""
        until = self.clock()
        since = until - timedelta(days=days)
        async with self.uow(read_only=True) as uow:
            q = uow.metrics
            period = await q.period(since, until, model_key, percentiles=(50, 90))
            backlog = await q.backlog([s.value for s in BACKLOG_STATES], until, model_key)
            incidents = await uow.incidents.cohort(since, until, model_key)
            per_model = await uow.incidents.by_model(since, until) if by_risk and model_key is None else {}
        f, surveys, risks = period.cohort, period.surveys, period.by_risk if by_risk else []
        median, p90 = f.lead_time_percentiles
        finished = f.released + f.failed + f.rolled_back + f.rejected + f.cancelled
        return KeyMetrics(
            days=days, since=since, until=until, model_key=model_key,
            created=f.created, released=f.released, failed=f.failed, rolled_back=f.rolled_back,
            rejected=f.rejected, cancelled=f.cancelled, open=f.created - finished,
            started=f.started, started_in_window=f.started_in_window, avg_start_delay=_span(f.avg_start_delay),
            lead_times=f.reached_released, lead_time_median=_span(median), lead_time_p90=_span(p90),
            backlog=backlog.count, backlog_avg_wait=_span(backlog.avg_wait),
            backlog_oldest_id=backlog.oldest_id, backlog_oldest_wait=_span(backlog.oldest_wait),
            ratings=surveys.ratings, satisfaction=surveys.avg_rating,
            invitations=surveys.invitations, respondents=surveys.respondents,
            by_risk=risk_outcomes(risks),
            delayed_by_freeze=f.delayed_by_freeze,
            incidents=incidents.incidents, with_incidents=incidents.releases_with,
            incidents_by_model=tuple((k, v.incidents, v.releases_with) for k, v in sorted(per_model.items())),
        )
