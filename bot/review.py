"""The release review (RPIR): a report built from the release record, lessons learnt, closing.

Every figure in the report is read from the record when it is rendered (events, approvals,
deliveries, survey answers), never stored a second time; the report is re-rendered and
updated in place when lessons are added or the release is closed.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from statistics import mean
from typing import Any

from bot import lifecycle
from bot.clock import Clock
from bot.lifecycle import EventKind, Refused, State
from bot.model_versions import ModelVersions
from bot.outbox import Message
from bot.outcome import Outcome
from bot.records import ApprovalRecord, EventRecord, IncidentRecord, ReleaseRecord
from bot.release_plan import PlanFollowed
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered, where
from bot.rendering.review import review_message
from bot.roles import Roles
from bot.support import support_end
from bot.templating import Templates, safe
from bot.transitions import Transitions
from storage.uow import UnitOfWork, UnitOfWorkFactory

#: Deliveries that are communications to people, as opposed to cards and requests kept current.
COMMUNICATION_MARKERS = (":comm:", ":reminder:", ":decision:")


def review_anchor(release_id: int) -> str:
    return f"release:{release_id}:review"


class ReviewService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, transitions: Transitions, reports: ReviewReports,
                 roles: Roles):
        self.uow = uow
        self.clock = clock
        self.transitions = transitions
        self.reports = reports
        self.roles = roles

    async def post(self, release_id: int, user: str, channel: str) -> Outcome[ReleaseRecord]:
        """Post the review in `channel` (or bring the posted one up to date); `created` says
        whether this was the first review."""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)
        now = self.clock()
        async with self.uow() as uow:
            row = await uow.releases.get(release_id, for_update=True)
            if row is None:
                return Outcome.of(lifecycle.no_such_release(release_id).refusal)
            release = ReleaseRecord.from_row(row)
            if refused := lifecycle.may_review(release.snapshot, who.actor):
                return Outcome.of(refused.refusal)
            first = not await _reviewed(uow, release.id)
            if first:
                await uow.events.append(release.id, EventKind.REVIEWED.value, user, now, {"channel": channel})
            rendered = await self.reports.render(uow, release)
            existing = await uow.outbox.anchor(review_anchor(release.id))
            if existing is None:
                await Message.post(channel=channel, rendered=rendered, anchor=review_anchor(release.id),
                                   dedupe_key=f"{release.ref}:review:post", release_id=release.id,
                                   notify_user=user).enqueue(uow, now)
            else:
                await self.reports.update(uow, release, rendered, now)
            await uow.commit()
        return Outcome.success(release, created=first)

    async def add_lessons(self, release_id: int, user: str, text: str) -> Outcome[ReleaseRecord]:
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)
        now = self.clock()
        async with self.uow() as uow:
            row = await uow.releases.get(release_id, for_update=True)
            if row is None:
                return Outcome.of(lifecycle.no_such_release(release_id).refusal)
            release = ReleaseRecord.from_row(row)
            if refused := lifecycle.may_add_lessons(release.snapshot, who.actor):
                return Outcome.of(refused.refusal)
            await uow.events.append(release.id, EventKind.LESSONS_LEARNT.value, user, now, {"text": text.strip()})
            await self.reports.update(uow, release, await self.reports.render(uow, release), now)
            await uow.commit()
        return Outcome.success(release)

    async def close(self, release_id: int, user: str, confirm: bool = False) -> Outcome[ReleaseRecord]:
        """Close a reviewed release; during its early life support only with `confirm`."""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision:
            until = await support_end(uow, self.reports.versions, release)
            running = until if lifecycle.in_support(release.state, until, now) else None
            return lifecycle.close(release.snapshot, who.actor, await _reviewed(uow, release.id), now,
                                   support_until=running, confirmed=confirm)

        return await self.transitions.run(release_id, decide)


class ReviewReports:
    """The review report as a Slack message, rendered from the record whenever it changes;
    a follower keeps a posted review current when the release is closed or rolled back."""

    def __init__(self, versions: ModelVersions, templates: Templates):
        self.versions = versions
        self.templates = templates

    async def follow(self, uow: UnitOfWork, release: ReleaseRecord, event: lifecycle.Event, now: datetime) -> None:
        if await uow.outbox.anchor(review_anchor(release.id)):
            await self.update(uow, release, await self.render(uow, release), now)

    async def update(self, uow: UnitOfWork, release: ReleaseRecord, rendered: Rendered, now: datetime) -> None:
        stamp = int(now.timestamp() * 1000)
        await Message.update(channel=release.channel_id, rendered=rendered, anchor=review_anchor(release.id),
                             dedupe_key=f"{release.ref}:review:at{stamp}", release_id=release.id).enqueue(uow, now)

    async def render(self, uow: UnitOfWork, release: ReleaseRecord) -> Rendered:
        context = await self._context(uow, release)
        return review_message(release, self.templates.render_report("review", context))

    async def _context(self, uow: UnitOfWork, release: ReleaseRecord) -> dict[str, Any]:
        events = [EventRecord.from_row(e) for e in await uow.events.for_release(release.id)]
        approvals = [ApprovalRecord.from_row(a) for a in await uow.approvals.for_release(release.id)]
        model = await self.versions.for_release(release, uow)
        first = _first_by_kind(events)
        started = first.get(EventKind.STARTED)
        ended = first.get(EventKind.RELEASED) or first.get(EventKind.FAILED)
        outcome_event = next((e for e in reversed(events) if e.kind in (EventKind.RELEASED, EventKind.FAILED,
                                                                          EventKind.ROLLED_BACK)), None)
        rollback = first.get(EventKind.ROLLED_BACK)
        overridden = first.get(EventKind.FREEZE_OVERRIDDEN)
        held = first.get(EventKind.DELAYED_BY_FREEZE)
        return {
            "freeze_overridden": {"who": safe(bk.user(overridden.actor or "")),
                                  "at": safe(bk.slack_date(overridden.at)),
                                  "freezes": ", ".join(str(f) for f in overridden.data.get("freezes") or []),
                                  "reason": str(overridden.data.get("reason", ""))} if overridden else None,
            "delayed_by_freeze": ", ".join(str(f) for f in held.data.get("freezes") or []) if held else None,
            "outcome": str(outcome_event.kind).replace("_", " ") if outcome_event else release.state.label,
            "closed": release.state is State.CLOSED,
            "planned_start": safe(bk.slack_date(release.planned_start)),
            "planned_end": safe(bk.slack_date(release.planned_end)),
            "actual_start": safe(bk.slack_date(started.at)) if started else None,
            "actual_end": safe(bk.slack_date(ended.at)) if ended else None,
            "delay": _delay(started.at - release.planned_start) if started else None,
            "quorum": model.approval.quorum if model else "?",
            "approvals": [{"who": safe(bk.user(a.approver)), "decision": "approved" if a.approved else "rejected",
                           "at": safe(bk.slack_date(a.at)), "reason": a.reason} for a in approvals],
            "verifications": [_verification(e) for e in events if e.kind is EventKind.VERIFICATION_RECORDED],
            "communications": [
                {"what": d.dedupe_key.split(":", 1)[1], "where": safe(where(d.channel)),
                 "at": safe(bk.slack_date(d.sent_at))}
                for d in await uow.outbox.for_release(release.id)
                if d.state == "sent" and d.sent_at and d.method == "post"
                and any(m in d.dedupe_key for m in COMMUNICATION_MARKERS)
            ],
            "rollback": {"who": safe(bk.user(rollback.actor or "")), "at": safe(bk.slack_date(rollback.at)),
                         "reason": str(rollback.data.get("reason", "")),
                         "plan": _plan_followed(events)} if rollback else None,
            "risk": {"level": release.plan.risk.value if release.plan.risk else None,
                     "impact": release.plan.impact},
            "survey": await self._survey(uow, release),
            "incidents": [{"ref": i.ref, "summary": i.summary, "url": i.url,
                           "during_support": i.during_support, "who": safe(_linker(i.linked_by)),
                           "at": safe(bk.slack_date(i.linked_at))}
                          for i in map(IncidentRecord.from_row, await uow.incidents.for_release(release.id))],
            "lessons": [{"text": str(e.data.get("text", "")), "who": safe(bk.user(e.actor or "")),
                         "at": safe(bk.slack_date(e.at))} for e in events if e.kind is EventKind.LESSONS_LEARNT],
        }

    async def _survey(self, uow: UnitOfWork, release: ReleaseRecord) -> dict[str, Any] | None:
        survey = await uow.surveys.get(release.id)
        if survey is None:
            return None
        invitations = await uow.surveys.invitations(release.id)
        answers = await uow.surveys.answers(release.id)
        ratings = [a.rating for a in answers if a.rating is not None]
        counts = Counter(ratings)
        return {
            "recipients": len(invitations),
            "respondents": len({a.respondent for a in answers}),
            "average": mean(ratings) if ratings else None,
            "distribution": {n: counts.get(n, 0) for n in range(1, 6)},
            "comments": [{"text": a.text, "who": None if survey.anonymous else safe(bk.user(a.respondent))}
                         for a in answers if a.text],
        }


async def _reviewed(uow: UnitOfWork, release_id: int) -> bool:
    return any(e.kind == EventKind.REVIEWED.value for e in await uow.events.for_release(release_id))


def _first_by_kind(events: list[EventRecord]) -> dict[EventKind | str, EventRecord]:
    first: dict[EventKind | str, EventRecord] = {}
    for event in events:
        first.setdefault(event.kind, event)
    return first


def _plan_followed(events: list[EventRecord]) -> str:
    """Whether the rollback went by the rollback plan, as the rollback (or someone after it) said."""
    said = [str(e.data["plan_followed"]) for e in events
            if e.kind in (EventKind.ROLLED_BACK, EventKind.ROLLBACK_PLAN_NOTED) and e.data.get("plan_followed")]
    try:
        return PlanFollowed(said[-1]).label if said else "not said"
    except ValueError:
        return "not said"


def _verification(event: EventRecord) -> dict[str, Any]:
    data = event.data
    passed = data.get("passed", data.get("outcome") == "pass")
    return {"criterion": str(data.get("criterion", "a criterion")), "outcome": "passed" if passed else "failed",
            "who": safe(bk.user(event.actor or "")), "at": safe(bk.slack_date(event.at)),
            "note": data.get("note")}


def _linker(by: str) -> str:
    """Who linked an incident: a person as a mention, a pipeline by its token's name."""
    return bk.user(by) if by[:1] in ("U", "W") else f"`{bk.escape(by)}`"


def _delay(delta: Any) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes == 0:
        return "on time"
    sign = "late" if minutes > 0 else "early"
    minutes = abs(minutes)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h {minutes}m" if hours else f"{minutes}m") + f" {sign}"
