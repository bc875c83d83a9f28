"""Use cases of release management, Slack-free (DESIGN.md §3).

Each use case is one unit of work: read the release (locked), ask `lifecycle` what may
happen, then store the new state, its event and the messages it causes in one commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import actions as ids
from bot import lifecycle
from bot.catalog import Catalog
from bot.clock import Clock, utcnow
from bot.communication_plan import CommunicationPlanner
from bot.lifecycle import Actor, Event, EventKind, Moved, Refused, Role, State, Stayed
from bot.outbox import CHANNEL_ERRORS, Message, card_anchor
from bot.records import (
    ApprovalRecord,
    DeliveryRecord,
    EventRecord,
    ReleaseDetails,
    ReleaseRecord,
    VerificationRecord,
)
from bot.rendering.messages import Rendered, release_card
from storage.tables import ReleaseRow
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


@dataclass(frozen=True)
class Outcome:
    """What a use case tells the person who asked: a refusal reason, or the release now."""

    release: ReleaseRecord | None = None
    refused: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    created: bool = False

    @property
    def ok(self) -> bool:
        return self.refused is None and not self.errors


#: Called in the transaction of every stored decision, with the release as it now is: how
#: other capabilities (approval requests, communications) follow a release without the
#: use cases having to know them.
TransitionHook = Callable[[UnitOfWork, ReleaseRecord, Event, datetime], Awaitable[None]]


class ReleaseService:
    def __init__(self, uow: UnitOfWorkFactory, catalog: Catalog, clock: Clock = utcnow):
        self.uow = uow
        self.catalog = catalog
        self.clock = clock
        self.hooks: list[TransitionHook] = []
        self.communications = CommunicationPlanner(catalog)

    async def plan(self, draft: PlanDraft, origin_key: str | None = None) -> Outcome:
        """Create a release instance from a release model and post its card.

        `origin_key` (the planning modal's view id) makes a resubmitted modal return the
        release it already created instead of planning a second one.
        """
        errors = self.check_draft(draft)
        if errors:
            return Outcome(errors=errors)
        assert draft.planned_start and draft.planned_end
        now = self.clock()
        async with self.uow() as uow:
            row, created = await uow.releases.add({
                "model_key": draft.model_key, "title": draft.title.strip(),
                "description": draft.description.strip(), "state": State.PLANNED.value,
                "owner": draft.owner, "channel_id": draft.channel_id,
                "planned_start": draft.planned_start, "planned_end": draft.planned_end,
                "components": list(draft.components), "change_ref": draft.change_ref.strip() or None,
                "origin_key": origin_key, "version": 1, "created_at": now, "updated_at": now,
            })
            release = ReleaseRecord.from_row(row)
            if created:
                await uow.events.append(release.id, EventKind.PLANNED, draft.owner, now,
                                        {"model": draft.model_key})
                await self._post_card(uow, release, now)
        return Outcome(release=release, created=created)

    def check_draft(self, draft: PlanDraft) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not draft.title.strip():
            errors[ids.FIELD_TITLE] = "Give the release a title, e.g. “Payments API 2.3”."
        if self.catalog.get(draft.model_key) is None:
            errors[ids.FIELD_MODEL] = (
                f"There is no release model “{draft.model_key}”; choose one of: {', '.join(self.catalog.keys)}."
            )
        if draft.planned_start is None:
            errors[ids.FIELD_START] = "Choose when the release starts."
        if draft.planned_end is None:
            errors[ids.FIELD_END] = "Choose when the release ends."
        elif draft.planned_start is not None and draft.planned_end <= draft.planned_start:
            errors[ids.FIELD_END] = "The planned end must be after the planned start."
        return errors

    async def get(self, release_id: int) -> ReleaseRecord | None:
        async with self.uow() as uow:
            row = await uow.releases.get(release_id)
            return ReleaseRecord.from_row(row) if row else None

    async def show(self, release_id: int) -> ReleaseDetails | None:
        async with self.uow() as uow:
            row = await uow.releases.get(release_id)
            if row is None:
                return None
            events = await uow.events.for_release(release_id)
            deliveries = await uow.outbox.for_release(release_id)
            approvals = await uow.approvals.for_release(release_id)
            verifications = await uow.verifications.for_release(release_id)
            return ReleaseDetails(
                ReleaseRecord.from_row(row),
                [EventRecord.from_row(e) for e in events],
                [DeliveryRecord.from_row(d) for d in deliveries],
                [ApprovalRecord.from_row(a) for a in approvals],
                [VerificationRecord.from_row(v) for v in verifications],
            )

    async def list(
        self, *, state: State | None = None, owner: str | None = None, limit: int = 20
    ) -> tuple[list[ReleaseRecord], int]:
        async with self.uow() as uow:
            rows, total = await uow.releases.newest(
                states=[state.value] if state else None, owner=owner, limit=limit
            )
            return [ReleaseRecord.from_row(r) for r in rows], total

    async def cancel(self, release_id: int, user: str, reason: str) -> Outcome:
        """Cancel a release before execution; messages it no longer needs follow via the hooks."""
        now = self.clock()
        try:
            async with self.uow() as uow:
                row = await uow.releases.get(release_id, for_update=True)
                if row is None:
                    return Outcome(refused=no_such_release(release_id))
                release = ReleaseRecord.from_row(row)
                owner = frozenset({lifecycle.Role.OWNER}) if user == row.owner else frozenset()
                decision = lifecycle.cancel(release.snapshot, lifecycle.Actor(user, owner), reason, now)
                return as_outcome(await self.apply(uow, row, decision, now))
        except Conflict as exc:
            return Outcome(refused=str(exc))

    async def bot_joined(self, channel: str) -> int:
        """The bot was invited: deliver what that conversation refused before."""
        async with self.uow() as uow:
            return await uow.outbox.requeue_undelivered(channel, sorted(CHANNEL_ERRORS), self.clock())

    # -- shared by the use cases of later capabilities -------------------------------------

    def render_card(self, release: ReleaseRecord, verifications: Sequence[VerificationRecord] = ()) -> Rendered:
        return release_card(release, self.catalog.get(release.model_key), verifications)

    async def _post_card(self, uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> None:
        card = self.render_card(release)
        await Message.post(
            channel=release.channel_id, rendered=card, anchor=card_anchor(release.id),
            dedupe_key=f"{release.ref}:card:post", release_id=release.id, notify_user=release.owner,
        ).enqueue(uow, now)

    async def refresh_card(self, uow: UnitOfWork, release_id: int, now: datetime) -> ReleaseRecord:
        """Queue the card's update to the release as it now is (one per version)."""
        row = await uow.releases.get(release_id)
        assert row is not None
        release = ReleaseRecord.from_row(row)
        verifications = [VerificationRecord.from_row(v) for v in await uow.verifications.for_release(release_id)]
        await Message.update(
            channel=release.channel_id, rendered=self.render_card(release, verifications),
            anchor=card_anchor(release.id),
            dedupe_key=f"{release.ref}:card:v{release.version}", release_id=release.id,
            notify_user=release.owner,
        ).enqueue(uow, now)
        return release

    async def apply(
        self, uow: UnitOfWork, row: ReleaseRow, decision: lifecycle.Decision, now: datetime
    ) -> Outcome | ReleaseRecord:
        """Store what the lifecycle decided: the state change (if it still holds) or the
        changes of a recorded fact, its event, the card update, the communications the event
        calls for, and the hooks. Returns an Outcome when refused; raises Conflict (rolling
        the whole unit of work back) when a concurrent change got there first."""
        if isinstance(decision, Refused):
            return Outcome(refused=decision.reason)
        if isinstance(decision, Moved):
            if not await uow.releases.move(row.id, row.state, decision.to.value, now):
                raise Conflict(f"REL-{row.id} changed meanwhile; look at it again and retry.")
        else:
            assert isinstance(decision, Stayed)
            await uow.releases.touch(row.id, now, **decision.changes)
        await _append(uow, row.id, decision.event)
        release = await self.refresh_card(uow, row.id, now)
        await self.communications.after(uow, release, decision.event, now)
        for hook in self.hooks:
            await hook(uow, release, decision.event, now)
        return release

    # -- the planned window ---------------------------------------------------------------

    def check_window(self, start: datetime | None, end: datetime | None) -> dict[str, str]:
        """Field errors for the window modal, answered in its ack (no database needed)."""
        errors: dict[str, str] = {}
        if start is None:
            errors[ids.FIELD_START] = "Choose when the release starts."
        elif start < self.clock() - timedelta(minutes=1):
            errors[ids.FIELD_START] = "The new start has already passed; choose a time from now on."
        if end is None:
            errors[ids.FIELD_END] = "Choose when the release ends."
        elif start is not None and end <= start:
            errors[ids.FIELD_END] = "The planned end must be after the planned start."
        return errors

    async def change_window(self, release_id: int, user: str, start: datetime, end: datetime,
                            reason: str = "") -> Outcome:
        """Move a release's planned window; its communications are rescheduled with it."""
        now = self.clock()
        async with self.uow() as uow:
            row = await uow.releases.get(release_id, for_update=True)
            if row is None:
                return Outcome(refused=f"There is no REL-{release_id}.")
            release = ReleaseRecord.from_row(row)
            actor = Actor(user, frozenset({Role.OWNER}) if user == release.owner else frozenset())
            decision = lifecycle.change_window(release.snapshot, actor, start, end, now, reason)
            try:
                result = await self.apply(uow, row, decision, now)
            except Conflict as exc:
                return Outcome(refused=str(exc))
        return as_outcome(result)


class Conflict(Exception):
    """A concurrent change won the race; the unit of work is rolled back."""


def no_such_release(release_id: int) -> str:
    return f"There is no REL-{release_id}. `/release list` shows the releases."


def as_outcome(result: Outcome | ReleaseRecord) -> Outcome:
    return result if isinstance(result, Outcome) else Outcome(release=result)


async def _append(uow: UnitOfWork, release_id: int, event: Event) -> None:
    await uow.events.append(release_id, event.kind.value, event.actor, event.at, dict(event.data))
