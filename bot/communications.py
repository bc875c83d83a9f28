"""Use cases of `/release announce` and `/release schedule`, Slack-free.

`/release announce REL-n` previews the release's next communication exactly as it is queued
(the outbox row's own text and blocks), privately, and lets the owner send it now or skip it.
Both act on that one row, so sending it twice still sends it once, and a skipped message
cannot be sent: the outbox stays the one road to Slack.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import actions as ids
from bot.catalog import Catalog, ReleaseModel, format_duration
from bot.clock import Clock
from bot.lifecycle import EventKind
from bot.outbox import DeliveryState, Purpose
from bot.records import ReleaseRecord
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered, where
from bot.schedule import SCHEDULED_STATES, schedule_listing
from storage.tables import OutboxRow
from storage.uow import UnitOfWork, UnitOfWorkFactory

MAX_DAYS = 365


@dataclass(frozen=True)
class Answer:
    """What the person who asked is told (privately)."""

    rendered: Rendered
    ok: bool = True

    @classmethod
    def say(cls, text: str, ok: bool = True) -> Answer:
        return cls(Rendered(text, [bk.section(text)]), ok)


class CommunicationService:
    def __init__(self, uow: UnitOfWorkFactory, catalog: Catalog, clock: Clock):
        self.uow = uow
        self.catalog = catalog
        self.clock = clock

    async def preview(self, release_id: int, viewer: str) -> Answer:
        """The next communication of a release, rendered as it will be sent."""
        now = self.clock()
        async with self.uow() as uow:
            row = await uow.releases.get(release_id)
            if row is None:
                return Answer.say(f"There is no REL-{release_id}. `/release list` shows the releases.", ok=False)
            release = ReleaseRecord.from_row(row)
            pending = [r for r in await uow.outbox.planned_pending(release_id, now)
                       if r.purpose == Purpose.COMMUNICATION.value]
        if not pending:
            return Answer.say(_nothing_queued(release, self.catalog.get(release.model_key)))
        return Answer(preview_message(release, pending[0], viewer, now))

    async def send_now(self, row_id: int, user: str) -> Answer:
        now = self.clock()
        async with self.uow() as uow:
            found = await self._pending(uow, row_id, user)
            if isinstance(found, Answer):
                return found
            row, _, name = found
            if not await uow.outbox.bring_forward(row.id, now):
                return Answer.say(f"{name} is due already and on its way.")
        return Answer.say(f":outbox_tray: Sending {name} now.")

    async def skip(self, row_id: int, user: str) -> Answer:
        now = self.clock()
        async with self.uow() as uow:
            found = await self._pending(uow, row_id, user)
            if isinstance(found, Answer):
                return found
            row, release, name = found
            if not await uow.outbox.withdraw([row.id], now):
                return Answer.say(f"{name} is being sent right now, too late to skip it.", ok=False)
            await uow.events.append(release.id, EventKind.COMMUNICATION_SKIPPED.value, user, now, {
                "template": row.template, "channel": row.channel, "message": row.dedupe_key,
            })
        return Answer.say(f":fast_forward: Skipped {name}; it will not be sent. `/release announce "
                          f"{release.ref}` shows the next one.")

    async def schedule(self, days: int) -> Rendered:
        """`/release schedule [DAYS]`: releases whose window meets the next `days` days."""
        start = self.clock()
        end = start + timedelta(days=days)
        async with self.uow() as uow:
            rows = await uow.releases.in_window(start, end, SCHEDULED_STATES)
        return schedule_listing([ReleaseRecord.from_row(r) for r in rows], start, end, days)

    async def _pending(self, uow: UnitOfWork, row_id: int, user: str
                       ) -> tuple[OutboxRow, ReleaseRecord, str] | Answer:
        """The still-pending communication, its release and how to name it to people; or why
        this person cannot send or skip it (gone, not theirs, already settled)."""
        row = await uow.outbox.get(row_id)
        found = await uow.releases.get(row.release_id) if row and row.release_id is not None else None
        if row is None or found is None or row.purpose != Purpose.COMMUNICATION.value:
            return Answer.say("That communication no longer exists.", ok=False)
        release = ReleaseRecord.from_row(found)
        if user != release.owner:
            return Answer.say(
                f"Only the release owner, <@{release.owner}>, can send or skip {release.ref}'s communications.",
                ok=False)
        name = f"“{bk.escape(row.template or 'message')}” to {where(row.channel)}"
        if row.state != DeliveryState.PENDING.value:
            return Answer.say(_settled(row, name), ok=False)
        return row, release, name


def _settled(row: OutboxRow, name: str) -> str:
    if row.state == DeliveryState.SENT.value and row.sent_at:
        return f"{name} was already sent, {bk.slack_date(row.sent_at)}."
    if row.state == DeliveryState.FAILED.value:
        return f"{name} could not be delivered (`{bk.escape(row.last_error or 'error')}`); see `/release show`."
    return f"{name} was withdrawn or skipped; it will not be sent."


def preview_message(release: ReleaseRecord, row: OutboxRow, viewer: str, now: datetime) -> Rendered:
    """The queued message between a line saying what and when, and the owner's buttons."""
    when = "due now" if row.due_at <= now else f"due {bk.slack_date(row.due_at)}"
    about = (f"Next communication of *{release.ref}*: “{bk.escape(row.template or 'message')}” to "
             f"{where(row.channel)}, {when}. Only you can see this preview.")
    blocks: list[bk.Block] = [bk.context(about), bk.divider()]
    blocks += bk.cap(list(row.blocks or [bk.section(bk.escape(row.text))]), 45)
    blocks.append(bk.divider())
    if viewer == release.owner:
        blocks.append(bk.actions(
            bk.button("Send now", ids.ANNOUNCE_SEND, str(row.id), style="primary"),
            bk.button("Skip", ids.ANNOUNCE_SKIP, str(row.id), style="danger"),
            block_id=f"announce-{row.id}",
        ))
    else:
        blocks.append(bk.context(f"Only the release owner, {bk.user(release.owner)}, can send or skip it."))
    return Rendered(bk.message_text(f"Preview of {release.ref}'s next communication: {row.text}"), blocks)


def _nothing_queued(release: ReleaseRecord, model: ReleaseModel | None) -> str:
    """Why there is nothing to preview, and what the plan will send."""
    plan = model.communications.plan if model and model.communications else []
    if not plan:
        return f"{release.ref}'s release model has no communication plan, so there is nothing to announce."
    steps = []
    for entry in plan:
        if entry.on:
            steps.append(f"“{entry.template}” when {entry.on.replace('_', ' ')}")
        elif entry.before_start is not None:
            steps.append(f"“{entry.template}” {format_duration(entry.before_start)} before the start")
        elif entry.after_release is not None:
            steps.append(f"“{entry.template}” {format_duration(entry.after_release)} after the release")
    return (f"Nothing is queued for {release.ref} ({release.state.label}) right now. Its plan sends "
            + "; ".join(steps) + ".")
