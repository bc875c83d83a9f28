"""Use cases of release management, Slack-free (DESIGN.md §3).

Planning, reading the record, cancelling, moving the window and handing a release over. What
changes a release goes through `Transitions` (lock, decide with `lifecycle`, apply, followers,
commit). A release is planned with the version of its release model loaded now, and keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot import actions as ids
from bot import lifecycle, release_plan
from bot.cards import ReleaseCards
from bot.catalog import Catalog, ReleaseModel
from bot.clashes import ClashNotices
from bot.clock import Clock
from bot.lifecycle import EventKind, Refused, Role, State, in_support
from bot.model_versions import ModelVersions
from bot.outbox import CHANNEL_ERRORS
from bot.outcome import Outcome
from bot.records import (
    ApprovalRecord,
    DeliveryRecord,
    EventRecord,
    IncidentRecord,
    ReleaseDetails,
    ReleaseRecord,
    VerificationRecord,
)
from bot.release_plan import ReleasePlan
from bot.roles import Roles
from bot.support import support_end
from bot.transitions import Transitions
from storage.uow import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class PlanDraft:
    """What the planning modal collected; validated by `ReleaseService.plan`."""

    model_key: str
    title: str
    planned_start: datetime | None
    planned_end: datetime | None
    components: tuple[str, ...]
    change_ref: str
    description: str
    owner: str
    channel_id: str
    #: The release plan (DESIGN.md §5a), and the risk as typed (to tell a wrong word apart
    #: from none).
    plan: ReleasePlan = ReleasePlan()
    risk_given: str = ""


class ReleaseService:
    def __init__(self, uow: UnitOfWorkFactory, catalog: Catalog, clock: Clock, transitions: Transitions,
                 cards: ReleaseCards, versions: ModelVersions, roles: Roles,
                 clash_notices: ClashNotices | None = None):
        self.clash_notices = clash_notices
        self.uow = uow
        self.catalog = catalog
        self.clock = clock
        self.transitions = transitions
        self.cards = cards
        self.versions = versions
        self.roles = roles

    async def plan(self, draft: PlanDraft, origin_key: str | None = None,
                   by: str | None = None) -> Outcome[ReleaseRecord]:
        """Create a release instance from a release model and post its card.

        `origin_key` (the planning modal's view id, the pipeline's Idempotency-Key) makes a
        resubmitted modal or a retried request return the release it already created instead
        of planning a second one. `by` is who plans when it is not the owner: a pipeline
        (`token:NAME`), which plans releases of its models whatever their `planners`.
        """
        errors = self.check_draft(draft)
        if errors:
            return Outcome.invalid(errors)
        assert draft.planned_start and draft.planned_end
        model = self.catalog.get(draft.model_key)
        assert model is not None
        if not lifecycle.is_pipeline(by) and (refused := await self.roles.may_plan(model, draft.owner)):
            return Outcome.of(refused.refusal)
        now = self.clock()
        async with self.uow() as uow:
            version = await self.versions.remember(uow, draft.model_key, now)
            row, created = await uow.releases.add({
                "model_key": draft.model_key, "model_version": version, "title": draft.title.strip(),
                "description": draft.description.strip(), "state": State.PLANNED.value,
                "owner": draft.owner, "channel_id": draft.channel_id,
                "planned_start": draft.planned_start, "planned_end": draft.planned_end,
                "components": list(draft.components), "change_ref": draft.change_ref.strip() or None,
                "origin_key": origin_key, "version": 1, "created_at": now, "updated_at": now,
                **draft.plan.columns(),
            })
            release = ReleaseRecord.from_row(row)
            if created:
                await uow.events.append(release.id, EventKind.PLANNED, by or draft.owner, now,
                                        {"model": draft.model_key, "version": version})
                await self.cards.post(uow, release, now)
                if self.clash_notices:
                    await self.clash_notices.tell(uow, release, now)
            await uow.commit()
        return Outcome.success(release, created=created)

    def check_draft(self, draft: PlanDraft) -> dict[str, str]:
        """Field errors of a plan, keyed by field name (`title`, `model`, `start`, `end`)."""
        errors: dict[str, str] = {}
        if not draft.title.strip():
            errors[ids.FIELD_TITLE] = "Give the release a title, e.g. “Payments API 2.3”."
        if self.catalog.get(draft.model_key) is None:
            errors[ids.FIELD_MODEL] = (
                f"There is no release model “{draft.model_key}”; choose one of: {', '.join(self.catalog.keys)}."
            )
        errors.update(_window_errors(draft.planned_start, draft.planned_end))
        model = self.catalog.get(draft.model_key)
        if model is not None:
            errors.update(release_plan.problems(draft.plan, model.plan.require, risk_given=draft.risk_given,
                                                model_name=f"The release model “{model.name}”"))
        return errors

    async def check_plan(self, draft: PlanDraft) -> dict[str, str]:
        """`check_draft`, and whether the person may plan with the model (its planners)."""
        errors = self.check_draft(draft)
        model = self.catalog.get(draft.model_key)
        if not errors and model is not None and (refused := await self.roles.may_plan(model, draft.owner)):
            errors[ids.FIELD_MODEL] = refused.reason
        return errors

    async def model_of(self, release: ReleaseRecord) -> ReleaseModel | None:
        """The release model as this release keeps it (its version)."""
        return await self.versions.for_release(release)

    async def get(self, release_id: int) -> ReleaseRecord | None:
        async with self.uow(read_only=True) as uow:
            row = await uow.releases.get(release_id)
            return ReleaseRecord.from_row(row) if row else None

    async def show(self, release_id: int) -> ReleaseDetails | None:
        """The release record (a query: None when there is no such release)."""
        async with self.uow(read_only=True) as uow:
            row = await uow.releases.get(release_id)
            if row is None:
                return None
            events = await uow.events.for_release(release_id)
            deliveries = await uow.outbox.for_release(release_id)
            approvals = await uow.approvals.for_release(release_id)
            verifications = await uow.verifications.for_release(release_id)
            release = ReleaseRecord.from_row(row)
            until = await support_end(uow, self.versions, release)
            return ReleaseDetails(
                release,
                [EventRecord.from_row(e) for e in events],
                [DeliveryRecord.from_row(d) for d in deliveries],
                [ApprovalRecord.from_row(a) for a in approvals],
                [VerificationRecord.from_row(v) for v in verifications],
                incidents=[IncidentRecord.from_row(i) for i in await uow.incidents.for_release(release_id)],
                support_until=until, in_support=in_support(release.state, until, self.clock()),
            )

    async def list(
        self, *, state: State | None = None, owner: str | None = None, limit: int = 20
    ) -> tuple[list[ReleaseRecord], int]:
        async with self.uow(read_only=True) as uow:
            rows, total = await uow.releases.newest(
                states=[state.value] if state else None, owner=owner, limit=limit
            )
            return [ReleaseRecord.from_row(r) for r in rows], total

    async def cancel(self, release_id: int, user: str, reason: str) -> Outcome[ReleaseRecord]:
        """Cancel a release before execution; the messages it no longer needs are withdrawn by
        the communication plan, which follows the event."""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision:
            return lifecycle.cancel(release.snapshot, who.actor, reason, now)

        return await self.transitions.run(release_id, decide)

    async def hand_over(self, release_id: int, user: str, new_owner: str) -> Outcome[ReleaseRecord]:
        """The owner or a release manager makes `new_owner` the owner: recorded, the card
        shows it, and the owner's reminders still to come go to the new owner."""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision:
            # Roles were read before the lock; who owns it is read again under it.
            owner = frozenset({Role.OWNER}) if user == release.owner else frozenset()
            actor = replace(who.actor, roles=(who.actor.roles - {Role.OWNER}) | owner)
            return lifecycle.hand_over(release.snapshot, actor, new_owner, now)

        return await self.transitions.run(release_id, decide)

    async def bot_joined(self, channel: str) -> int:
        """The bot was invited: deliver what that conversation refused before."""
        async with self.uow() as uow:
            requeued = await uow.outbox.requeue_undelivered(channel, sorted(CHANNEL_ERRORS), self.clock())
            await uow.commit()
            return requeued

    # -- the planned window ---------------------------------------------------------------

    def check_window(self, start: datetime | None, end: datetime | None) -> dict[str, str]:
        """Field errors for the window modal, answered in its ack (no database needed)."""
        errors = _window_errors(start, end)
        if start is not None and start < self.clock() - timedelta(minutes=1):
            errors[ids.FIELD_START] = "The new start has already passed; choose a time from now on."
        return errors

    async def may_change_window(self, release_id: int, user: str) -> Outcome[ReleaseRecord]:
        """Whether `user` may move the window, asked before the modal opens."""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)
        refused = lifecycle.may_change_window(who.release.snapshot, who.actor)
        return Outcome.of(refused.refusal) if refused else Outcome.success(who.release)

    async def change_window(self, release_id: int, user: str, start: datetime, end: datetime,
                            reason: str = "") -> Outcome[ReleaseRecord]:
        """Move a release's planned window; its communications are rescheduled with it."""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision:
            return lifecycle.change_window(release.snapshot, who.actor, start, end, now, reason)

        return await self.transitions.run(release_id, decide)


def _window_errors(start: datetime | None, end: datetime | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    if start is None:
        errors[ids.FIELD_START] = "Choose when the release starts."
    if end is None:
        errors[ids.FIELD_END] = "Choose when the release ends."
    elif start is not None and end <= start:
        errors[ids.FIELD_END] = "The planned end must be after the planned start."
    return errors
