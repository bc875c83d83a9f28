"""Use cases of `/release announce` and `/release schedule`, Slack-free.

`/release announce REL-n` previews the release's next communication exactly as it is queued
(the outbox row's own text and blocks), privately, and lets the owner send it now or skip it.
Both act on that one row, so sending it twice still sends it once, and a skipped message
cannot be sent: the outbox stays the one road to Slack.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import lifecycle
from bot.catalog import ReleaseModel, format_duration
from bot.clock import Clock
from bot.lifecycle import EventKind, Refused
from bot.model_versions import ModelVersions
from bot.outbox import DeliveryState, Purpose
from bot.outcome import Outcome
from bot.records import ReleaseRecord
from bot.roles import Roles
from bot.schedule import CLASH_CANDIDATES, SCHEDULED_STATES, SHOWN, Schedule
from storage.tables import OutboxRow
from storage.uow import UnitOfWork, UnitOfWorkFactory

MAX_DAYS = 365


@dataclass(frozen=True)
class QueuedMessage:
    """A communication of the plan as it sits in the outbox: what will be posted, where, when."""

    id: int
    template: str
    channel: str
    state: str
    due_at: datetime
    text: str
    blocks: list[dict[str, Any]] | None

    @classmethod
    def of(cls, row: OutboxRow) -> QueuedMessage:
        return cls(row.id, row.template or "message", row.channel, row.state, row.due_at, row.text, row.blocks)

    @property
    def name(self) -> str:
        """How people call it, with the conversation's id bare (surfaces render it)."""
        return f"“{self.template}” to {self.channel}"


@dataclass(frozen=True)
class Preview:
    release: ReleaseRecord
    #: The next communication due, or None: then `plan` says what the plan will send.
    next: QueuedMessage | None
    plan: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settled:
    """What Send now or Skip did: `sending` (now), `under_way` (due already) or `skipped`."""

    release: ReleaseRecord
    message: QueuedMessage
    what: str


class CommunicationService:
    def __init__(self, uow: UnitOfWorkFactory, versions: ModelVersions, clock: Clock, roles: Roles):
        self.uow = uow
        self.versions = versions
        self.clock = clock
        self.roles = roles

    async def preview(self, release_id: int, viewer: str) -> Outcome[Preview]:
        """The next communication of a release, as it will be sent."""
        now = self.clock()
        async with self.uow(read_only=True) as uow:
            row = await uow.releases.get(release_id)
            if row is None:
                return Outcome.of(lifecycle.no_such_release(release_id).refusal)
            release = ReleaseRecord.from_row(row)
            pending = [r for r in await uow.outbox.planned_pending(release_id, now)
                       if r.purpose == Purpose.COMMUNICATION.value]
            model = await self.versions.for_release(release, uow)
        if not pending:
            return Outcome.success(Preview(release, None, _plan_steps(model)))
        return Outcome.success(Preview(release, QueuedMessage.of(pending[0])))

    async def send_now(self, row_id: int, user: str) -> Outcome[Settled]:
        now = self.clock()
        async with self.uow() as uow:
            found = await self._pending(uow, row_id, user)
            if isinstance(found, Refused):
                return Outcome.of(found.refusal)
            message, release = found
            brought = await uow.outbox.bring_forward(message.id, now)
            await uow.commit()
        return Outcome.success(Settled(release, message, "sending" if brought else "under_way"))

    async def skip(self, row_id: int, user: str) -> Outcome[Settled]:
        now = self.clock()
        async with self.uow() as uow:
            found = await self._pending(uow, row_id, user)
            if isinstance(found, Refused):
                return Outcome.of(found.refusal)
            message, release = found
            if not await uow.outbox.withdraw([message.id], now):
                return Outcome.refuse("under_way", f"{message.name} is being sent right now, too late to skip it.",
                                      (message.channel,))
            row = await uow.outbox.get(message.id)
            await uow.events.append(release.id, EventKind.COMMUNICATION_SKIPPED.value, user, now, {
                "template": row.template if row else message.template, "channel": message.channel,
                "message": row.dedupe_key if row else "",
            })
            await uow.commit()
        return Outcome.success(Settled(release, message, "skipped"))

    async def schedule(self, days: int) -> Schedule:
        """`/release schedule [DAYS]`: releases whose window meets the next `days` days.

        A busy period is not read whole: the soonest `SHOWN`, counted beside all the others,
        and those others only as far as they could clash with the listed ones (they start
        before the last listed one ends)."""
        start = self.clock()
        end = start + timedelta(days=days)
        async with self.uow(read_only=True) as uow:
            total = await uow.releases.count_in_window(start, end, SCHEDULED_STATES)
            if total <= SHOWN:
                rows = await uow.releases.in_window(start, end, SCHEDULED_STATES, limit=SHOWN)
                return Schedule([ReleaseRecord.from_row(r) for r in rows], start, end, days)
            # Each release is read once: how far the listed ones reach is one number (loading
            # the listed ones to find it, then again among the candidates, cost a third more).
            last_end = await uow.releases.reach_of_first(start, end, SCHEDULED_STATES, SHOWN)
            reach = min(end, last_end) if last_end is not None else end
            rows = await uow.releases.in_window(start, reach, SCHEDULED_STATES, limit=CLASH_CANDIDATES)
        return Schedule([ReleaseRecord.from_row(r) for r in rows], start, end, days, total=total)

    async def _pending(self, uow: UnitOfWork, row_id: int, user: str) -> tuple[QueuedMessage, ReleaseRecord] | Refused:
        """The still-pending communication and its release; or why this person cannot send or
        skip it (gone, not theirs, already settled)."""
        row = await uow.outbox.get(row_id)
        found = await uow.releases.get(row.release_id) if row and row.release_id is not None else None
        if row is None or found is None or row.purpose != Purpose.COMMUNICATION.value:
            return Refused("no_such_message", "That communication no longer exists.")
        release = ReleaseRecord.from_row(found)
        actor = await self.roles.actor(user, release, None)
        if refused := lifecycle.may_announce(release.snapshot, actor):
            return refused
        message = QueuedMessage.of(row)
        if row.state != DeliveryState.PENDING.value:
            return _settled(row, message)
        return message, release


def _settled(row: OutboxRow, message: QueuedMessage) -> Refused:
    if row.state == DeliveryState.SENT.value and row.sent_at:
        return Refused("already_sent", f"{message.name} was already sent, {row.sent_at:%Y-%m-%d %H:%M} UTC.",
                       (message.channel,))
    if row.state == DeliveryState.FAILED.value:
        return Refused("undeliverable", f"{message.name} could not be delivered ({row.last_error or 'error'}); "
                                        "the release record lists it.", (message.channel,))
    return Refused("withdrawn", f"{message.name} was withdrawn or skipped; it will not be sent.", (message.channel,))


def _plan_steps(model: ReleaseModel | None) -> tuple[str, ...]:
    """What the release model's communication plan sends, in words."""
    plan = model.communications.plan if model and model.communications else []
    steps = []
    for entry in plan:
        if entry.on:
            steps.append(f"“{entry.template}” when {entry.on.replace('_', ' ')}")
        elif entry.before_start is not None:
            steps.append(f"“{entry.template}” {format_duration(entry.before_start)} before the start")
        elif entry.after_release is not None:
            steps.append(f"“{entry.template}” {format_duration(entry.after_release)} after the release")
    return tuple(steps)
