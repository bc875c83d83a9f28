"""The release model review (DESIGN.md §9): release model development and improvement.

Its inputs are the release records of one model over a period: the key metrics beside the
previous period of the same length, the criteria that failed most, why releases failed or
were rolled back, the incidents related to them, the lessons learnt and the survey comments,
and which versions of the model were in use. Its output is a report people act on: posted in
the channel where it was asked (through the outbox, with a chart of the outcomes per week as
an image and the same numbers in text), or printed as Markdown for models kept in Git
(`releasebot report model`). `review_every` in a model reminds the release managers when a
review is due, once per due date whichever replica looks first (the outbox's unique key).

Who may ask: the approvers of the model and the release managers (DESIGN.md §6).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.catalog import Catalog, ReleaseModel, format_duration
from bot.charts import WeekOutcomes, outcomes_chart, outcomes_text
from bot.clock import Clock
from bot.lifecycle import Action, Actor, EventKind, Role, permit_general
from bot.metrics import KeyMetrics
from bot.outbox import Message, Method
from bot.outcome import Outcome
from bot.records import IncidentRecord
from bot.rendering.model_review import model_review_message, review_due_message
from bot.roles import Roles
from storage.uow import UnitOfWork, UnitOfWorkFactory

DEFAULT_DAYS = 90


@dataclass(frozen=True)
class Noted:
    """Something said about one release of the period: a reason, a lesson, a comment."""

    release_id: int
    text: str
    who: str | None = None


@dataclass(frozen=True)
class ModelReview:
    model_key: str
    model_name: str
    days: int
    current: KeyMetrics
    previous: KeyMetrics
    #: (stage, criterion, releases in which it failed), most failed first.
    failed_criteria: list[tuple[str, str, int]]
    failures: list[Noted]
    rollbacks: list[Noted]
    incidents: list[tuple[int, IncidentRecord]]
    lessons: list[Noted]
    comments: list[Noted]
    #: (version, releases of the period planned with it), the most used first.
    versions: list[tuple[str, int]]
    weeks: list[WeekOutcomes]

    @property
    def since(self) -> datetime:
        return self.current.since

    @property
    def until(self) -> datetime:
        return self.current.until


async def period_metrics(uow: UnitOfWork, model_key: str, since: datetime, until: datetime) -> KeyMetrics:
    """The key metrics of the model's releases created in [since, until] (no backlog: a
    model review compares periods, and the backlog is only ever now)."""
    f = await uow.metrics.cohort(since, until, model_key, percentiles=(50, 90))
    surveys = await uow.metrics.surveys(since, until, model_key)
    incidents = await uow.incidents.cohort(since, until, model_key)
    median, p90 = f.lead_time_percentiles
    finished = f.released + f.failed + f.rolled_back + f.rejected + f.cancelled

    def span(seconds: float | None) -> timedelta | None:
        return None if seconds is None else timedelta(seconds=round(seconds))

    return KeyMetrics(
        days=round((until - since) / timedelta(days=1)), since=since, until=until, model_key=model_key,
        created=f.created, released=f.released, failed=f.failed, rolled_back=f.rolled_back, rejected=f.rejected,
        cancelled=f.cancelled, open=f.created - finished, started=f.started, started_in_window=f.started_in_window,
        avg_start_delay=span(f.avg_start_delay), lead_times=f.reached_released, lead_time_median=span(median),
        lead_time_p90=span(p90), backlog=0, backlog_avg_wait=None, backlog_oldest_id=None, backlog_oldest_wait=None,
        ratings=surveys.ratings, satisfaction=surveys.avg_rating, invitations=surveys.invitations,
        respondents=surveys.respondents, delayed_by_freeze=f.delayed_by_freeze,
        incidents=incidents.incidents, with_incidents=incidents.releases_with,
    )


def _weeks(since: datetime, until: datetime, outcomes: list[Any]) -> list[WeekOutcomes]:
    """Outcomes per week of creation, weeks counted from the start of the period."""
    count = max(1, -(-(until - since).days // 7))
    tallies: list[Counter[str]] = [Counter() for _ in range(count)]
    for release in outcomes:
        index = min(int((release.created_at - since) / timedelta(days=7)), count - 1)
        name = release.outcome if release.outcome in ("released", "failed", "rolled_back") else "other"
        tallies[index][name] += 1
    start: date = since.date()
    return [WeekOutcomes(start + timedelta(days=7 * i), t["released"], t["failed"], t["rolled_back"], t["other"])
            for i, t in enumerate(tallies)]


class ModelReviewService:
    def __init__(self, uow: UnitOfWorkFactory, catalog: Catalog, clock: Clock, roles: Roles | None,
                 default_days: int = DEFAULT_DAYS):
        """`roles` None: a reader of reports only (the command line), which posts nothing."""
        self.uow = uow
        self.catalog = catalog
        self.clock = clock
        self.roles = roles
        self.default_days = default_days

    async def report(self, model_key: str, days: int | None = None, until: datetime | None = None) -> ModelReview:
        """The review of `model_key` over the `days` up to `until` (default: now)."""
        days = days or self.default_days
        until = until or self.clock()
        since = until - timedelta(days=days)
        model = self.catalog.get(model_key)
        async with self.uow(read_only=True) as uow:
            current = await period_metrics(uow, model_key, since, until)
            previous = await period_metrics(uow, model_key, since - timedelta(days=days), since)
            q = uow.model_review
            outcomes = await q.outcomes(model_key, since, until)
            criteria = await q.failed_criteria(model_key, since, until)
            noted = await q.events(model_key, since, until, (
                EventKind.FAILED.value, EventKind.ROLLED_BACK.value, EventKind.LESSONS_LEARNT.value,
                EventKind.VERIFICATION_RECORDED.value))
            comments = await q.comments(model_key, since, until)
            incidents = await uow.incidents.for_releases([o.release_id for o in outcomes])
        notes = {(e.release_id, str(e.data.get("criterion"))): str(e.data["note"]) for e in noted
                 if e.kind == EventKind.VERIFICATION_RECORDED.value and not e.data.get("passed", True)
                 and e.data.get("note")}
        failures = []
        for e in noted:
            if e.kind != EventKind.FAILED.value:
                continue
            parts = []
            for criterion in e.data.get("criteria") or []:
                note = notes.get((e.release_id, str(criterion)))
                parts.append(f"{criterion} failed" + (f" ({note})" if note else ""))
            failures.append(Noted(e.release_id, "; ".join(parts) or "release verification failed", e.actor))
        versions = Counter(o.model_version or "unversioned" for o in outcomes)
        return ModelReview(
            model_key=model_key, model_name=model.name if model else model_key, days=days,
            current=current, previous=previous, failed_criteria=criteria, failures=failures,
            rollbacks=[Noted(e.release_id, str(e.data.get("reason") or "no reason given"), e.actor)
                       for e in noted if e.kind == EventKind.ROLLED_BACK.value],
            incidents=[(i.release_id, IncidentRecord.from_row(i)) for i in incidents],
            lessons=[Noted(e.release_id, str(e.data.get("text") or ""), e.actor)
                     for e in noted if e.kind == EventKind.LESSONS_LEARNT.value and e.data.get("text")],
            comments=[Noted(c.release_id, c.text, c.respondent) for c in comments],
            versions=sorted(versions.items(), key=lambda kv: (-kv[1], kv[0])),
            weeks=_weeks(since, until, outcomes),
        )

    async def may_review(self, user: str, model: ReleaseModel) -> Outcome[None]:
        assert self.roles is not None
        roles = set()
        if user in await self.roles.approvers(model):
            roles.add(Role.APPROVER)
        if await self.roles.is_manager(user):
            roles.add(Role.MANAGER)
        actor = Actor(user, frozenset(roles), approvers=tuple(model.approval.approvers), managers=self.roles.managers)
        refused = permit_general(actor, Action.MODEL_REVIEW, model.key)
        return Outcome.of(refused.refusal) if refused else Outcome.success(None)

    async def post(self, model_key: str, days: int | None, user: str, channel: str) -> Outcome[ModelReview]:
        """Post the review in `channel`, then its chart; recorded as the model's last review."""
        model = self.catalog.get(model_key)
        if model is None:
            return Outcome.refuse("no_such_model", f"There is no release model {model_key}; "
                                                   f"use one of: {', '.join(self.catalog.keys)}.")
        allowed = await self.may_review(user, model)
        if allowed.refusal:
            return Outcome.of(allowed.refusal)
        review = await self.report(model_key, days)
        rendered = model_review_message(review)
        weeks_text = "\n".join(outcomes_text(review.weeks))
        chart = outcomes_chart(review.weeks, f"{review.model_name}: outcomes per week of planning, "
                                             f"last {format_duration(timedelta(days=review.days))}")
        now = self.clock()
        stamp = int(now.timestamp() * 1000)
        key = f"model-review:{model_key}:{review.days}d:{user}:{stamp}"
        async with self.uow() as uow:
            await uow.model_review.add_review(model_key, review.days, user, channel, now)
            await Message.post(channel=channel, rendered=rendered, dedupe_key=f"{key}:report",
                               notify_user=user).enqueue(uow, now)
            comment = f"Outcomes per week of the releases of {model_key} planned in the period:\n{weeks_text}"
            await Message(Method.UPLOAD, channel, comment, None, f"{key}:chart", notify_user=user).enqueue(uow, now)
            await uow.model_review.add_file(f"{key}:chart", f"{model_key}-outcomes-per-week.png",
                                            f"{review.model_name}: outcomes per week", weeks_text, chart)
            await uow.commit()
        return Outcome.success(review, created=True)

    async def next_due(self, after: datetime) -> datetime | None:
        """The first moment after `after` a model's review comes due (`review_every`)."""
        if not (self.roles and self.roles.managers):
            return None
        moments: list[datetime] = []
        for model in self.catalog:
            if model.review_every is None:
                continue
            async with self.uow(read_only=True) as uow:
                last = await uow.model_review.last_review(model.key) or await uow.model_review.first_seen(model.key)
            if last is not None and last + model.review_every > after:
                moments.append(last + model.review_every)
        return min(moments, default=None)

    async def remind(self) -> int:
        """Remind the release managers of every model whose review is due (`review_every`),
        once per due date: the dedupe key names the model and the date."""
        managers = self.roles.managers if self.roles else ()
        if not managers:
            return 0
        now = self.clock()
        sent = 0
        for model in self.catalog:
            if model.review_every is None:
                continue
            async with self.uow(read_only=True) as uow:  # most ticks find nothing due: no write lock
                reviewed = await uow.model_review.last_review(model.key)
                last = reviewed or await uow.model_review.first_seen(model.key)
            if last is None:
                continue
            due = last + model.review_every
            if now < due:
                continue
            keys = {manager: f"model-review-due:{model.key}:{due.isoformat(timespec='minutes')}:{manager}"
                    for manager in managers}
            async with self.uow(read_only=True) as uow:
                told = set(keys.values()) <= await uow.outbox.existing(list(keys.values()))
            if told:  # an earlier tick (or another replica) told them of this due date
                continue
            rendered = review_due_message(model, due, last, reviewed is not None)
            async with self.uow() as uow:
                for manager, key in keys.items():
                    # The unique dedupe key is what makes it once, whoever gets here first.
                    sent += await Message.post(channel=manager, rendered=rendered, dedupe_key=key).enqueue(uow, now)
                await uow.commit()
        return sent
