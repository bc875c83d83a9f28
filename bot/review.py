"""The release review (RPIR): a report built from the release record, lessons learnt, closing.

Every figure in the report is read from the record when it is rendered (events, approvals,
deliveries, survey answers), never stored a second time; the report is re-rendered and
updated in place when lessons are added or the release is closed.
"""

from __future__ import annotations

from datetime import datetime

from bot import lifecycle
from bot.clock import Clock
from bot.lifecycle import EventKind, Refused
from bot.model_versions import ModelVersions
from bot.outbox import Message
from bot.outcome import Outcome
from bot.records import ApprovalRecord, EventRecord, IncidentRecord, ReleaseRecord
from bot.rendering.messages import Rendered
from bot.rendering.review import Communication, ReviewFacts, SurveyFacts, review_context, review_message
from bot.roles import Roles
from bot.support import support_end
from bot.templating import Templates
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
        context = review_context(await self._facts(uow, release))
        return review_message(release, self.templates.render_report("review", context))

    async def _facts(self, uow: UnitOfWork, release: ReleaseRecord) -> ReviewFacts:
        model = await self.versions.for_release(release, uow)
        return ReviewFacts(
            release=release,
            events=[EventRecord.from_row(e) for e in await uow.events.for_release(release.id)],
            approvals=[ApprovalRecord.from_row(a) for a in await uow.approvals.for_release(release.id)],
            quorum=model.approval.quorum if model else None,
            communications=[
                Communication(d.dedupe_key.split(":", 1)[1], d.channel, d.sent_at)
                for d in await uow.outbox.for_release(release.id)
                if d.state == "sent" and d.sent_at and d.method == "post"
                and any(m in d.dedupe_key for m in COMMUNICATION_MARKERS)
            ],
            survey=await self._survey(uow, release),
            incidents=[IncidentRecord.from_row(i) for i in await uow.incidents.for_release(release.id)],
        )

    async def _survey(self, uow: UnitOfWork, release: ReleaseRecord) -> SurveyFacts | None:
        survey = await uow.surveys.get(release.id)
        if survey is None:
            return None
        invitations = await uow.surveys.invitations(release.id)
        answers = await uow.surveys.answers(release.id)
        return SurveyFacts(
            recipients=len(invitations),
            respondents=len({a.respondent for a in answers}),
            ratings=[a.rating for a in answers if a.rating is not None],
            comments=[(a.text, None if survey.anonymous else a.respondent) for a in answers if a.text],
        )


async def _reviewed(uow: UnitOfWork, release_id: int) -> bool:
    return any(e.kind == EventKind.REVIEWED.value for e in await uow.events.for_release(release_id))
