"""The communication plan of a release model, carried out: which messages a release owes its
audience and its people, when they are due, and which ones no longer make sense
(DESIGN.md §5). Slack-free.

`ReleaseService.apply` calls `CommunicationPlanner.after` with every event it records, in the
event's transaction, so each message is queued in the outbox together with the fact that
causes it, whichever use case made the transition:

- `on: EVENT` entries are due at once when the event is recorded;
- when the release is approved, `before_start` communications and reminders are due at
  `planned_start - offset`. If that moment has already passed but the start has not, they
  are due at once (late is better than never before the start); if the start has passed
  too, they are skipped, and the record says which and why;
- when it is released, `after_release` entries are due at `released + offset`;
- when the window of an approved or ready release changes, its pending `before_start`
  messages are withdrawn and queued again for the new window (their dedupe keys carry the
  release's version, so the new ones are new rows);
- messages that no longer make sense are withdrawn, and the record says so: `before_start`
  ones once the release is neither approved nor ready (started early, cancelled,
  rejected…), `after_release` ones once it is no longer released (rolled back), and every
  pending one when the release is cancelled or rejected;
- when the release is handed over, the owner's reminders still to come go to the new owner.

The plan is the release's own version of its model (`ModelVersions.for_release`).

Messages are rendered when they are queued; a window change renders them again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.catalog import Catalog, ReleaseModel, format_duration
from bot.lifecycle import Event, EventKind, State
from bot.model_versions import ModelVersions
from bot.outbox import Message, Purpose, Timing
from bot.records import ReleaseRecord
from bot.rendering.communications import render
from storage.tables import OutboxRow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

#: States in which messages timed from the planned start still make sense.
BEFORE_START_WANTED = frozenset({State.APPROVED, State.READY})
#: States in which messages timed from the release still make sense.
AFTER_RELEASE_WANTED = frozenset({State.RELEASED, State.CLOSED})
#: Changes after which the pending `before_start` messages are rendered (and timed) again:
#: they carry the window and the release plan (its release notes) as they were when queued.
RENDER_AGAIN = {EventKind.WINDOW_CHANGED: "window", EventKind.PLAN_CHANGED: "plan"}
#: States after which nothing planned earlier should reach anyone.
CALLED_OFF = frozenset({State.CANCELLED, State.REJECTED})


@dataclass(frozen=True)
class Planned:
    """One message the plan asks for, before it is rendered and queued."""

    purpose: Purpose
    timing: Timing
    template: str
    channel: str
    due_at: datetime
    dedupe_key: str
    audience: str
    offset: timedelta | None = None


class CommunicationPlanner:
    def __init__(self, catalog: Catalog, versions: ModelVersions):
        self.catalog = catalog
        self.versions = versions

    async def after(self, uow: UnitOfWork, release: ReleaseRecord, event: Event, now: datetime) -> None:
        """Queue what `event` calls for and withdraw what it makes pointless (see module doc)."""
        model = await self.versions.for_release(release, uow)
        if model is None:
            return
        if event.kind is EventKind.OWNER_CHANGED:
            await self._hand_over(uow, release, model, event, now)
            return
        planned = self.on_event(release, model, event, now)
        if event.kind is EventKind.APPROVED or (
            event.kind in RENDER_AGAIN and release.state in BEFORE_START_WANTED
        ):
            planned += await self._before_start(uow, release, model, now)
        if event.kind is EventKind.RELEASED:
            planned += self.after_release(release, model, event.at)
        keep = {p.dedupe_key for p in planned}
        if event.kind in RENDER_AGAIN:
            await self._withdraw(uow, release, now, keep, lambda row: row.timing == Timing.BEFORE_START.value,
                                 reason=f"the {RENDER_AGAIN[event.kind]} changed", record=False)
        await self._withdraw(uow, release, now, keep, lambda row: not self.wanted(row, release.state),
                             reason=f"{release.ref} is {release.state.label}")
        for item in planned:
            await self._queue(uow, release, model, item, event, now)

    async def _hand_over(self, uow: UnitOfWork, release: ReleaseRecord, model: ReleaseModel, event: Event,
                         now: datetime) -> None:
        """The owner's reminders still to come go to the new owner instead."""
        before = str(event.data.get("from") or "")
        rows = [row for row in await uow.outbox.planned_pending(release.id, now)
                if row.purpose == Purpose.REMINDER.value and row.channel == before]
        if not rows or release.state not in BEFORE_START_WANTED:
            return
        await uow.outbox.withdraw([row.id for row in rows], now)
        templates = {row.template for row in rows}
        for item in self.before_start(release, model):
            if item.audience == "owner" and item.template in templates and item.due_at > now:
                await self._queue(uow, release, model, item, event, now)
        log.info("%s: reminders of %s now go to %s", release.ref, before, release.owner)

    @staticmethod
    def wanted(row: OutboxRow, state: State) -> bool:
        """Does a pending message still make sense for a release in `state`?"""
        if state in CALLED_OFF:
            return False
        if row.timing == Timing.BEFORE_START.value:
            return state in BEFORE_START_WANTED
        if row.timing == Timing.AFTER_RELEASE.value:
            return state in AFTER_RELEASE_WANTED
        return True

    def on_event(self, release: ReleaseRecord, model: ReleaseModel, event: Event, now: datetime) -> list[Planned]:
        if model.communications is None:
            return []
        return [
            Planned(Purpose.COMMUNICATION, Timing.EVENT, entry.template, model.communications.channel, now,
                    f"{release.ref}:comm:{event.kind.value}:{entry.template}", "channel")
            for entry in model.communications.plan if entry.on == event.kind.value
        ]

    def before_start(self, release: ReleaseRecord, model: ReleaseModel) -> list[Planned]:
        """Everything timed from the planned start, due at `planned_start - offset`."""
        planned: list[Planned] = []
        version = f"v{release.version}"
        comms = model.communications
        for entry in comms.plan if comms else []:
            if comms and entry.before_start is not None:
                planned.append(Planned(
                    Purpose.COMMUNICATION, Timing.BEFORE_START, entry.template, comms.channel,
                    release.planned_start - entry.before_start,
                    f"{release.ref}:comm:{entry.template}:before-{format_duration(entry.before_start)}:{version}",
                    "channel", entry.before_start,
                ))
        for reminder in model.reminders:
            people = [release.owner] if reminder.to == "owner" else list(model.approval.approvers)
            for person in people:
                planned.append(Planned(
                    Purpose.REMINDER, Timing.BEFORE_START, reminder.template, person,
                    release.planned_start - reminder.before_start,
                    f"{release.ref}:remind:{reminder.template}:before-{format_duration(reminder.before_start)}"
                    f":{version}:{person}",
                    reminder.to, reminder.before_start,
                ))
        return planned

    def after_release(self, release: ReleaseRecord, model: ReleaseModel, released_at: datetime) -> list[Planned]:
        comms = model.communications
        return [
            Planned(Purpose.COMMUNICATION, Timing.AFTER_RELEASE, entry.template, comms.channel,
                    released_at + entry.after_release,
                    f"{release.ref}:comm:{entry.template}:after-{format_duration(entry.after_release)}",
                    "channel", entry.after_release)
            for entry in (comms.plan if comms else [])
            if comms and entry.after_release is not None
        ]

    async def _before_start(self, uow: UnitOfWork, release: ReleaseRecord, model: ReleaseModel,
                            now: datetime) -> list[Planned]:
        """The `before_start` messages, with what to do about due times already past."""
        due: list[Planned] = []
        skipped: list[Planned] = []
        for item in self.before_start(release, model):
            if item.due_at > now:
                due.append(item)
            elif release.planned_start > now:  # late, but still before the start: now
                due.append(replace(item, due_at=now))
            else:
                skipped.append(item)
        for item in skipped:
            await uow.events.append(release.id, EventKind.COMMUNICATION_SKIPPED.value, None, now, {
                "template": item.template, "channel": item.channel,
                "reason": "the planned start had passed when it came due",
            })
        return due

    async def _queue(self, uow: UnitOfWork, release: ReleaseRecord, model: ReleaseModel, item: Planned,
                     event: Event, now: datetime) -> None:
        rendered = render(self.catalog, release, model, item.template,
                          event=event if item.timing is Timing.EVENT else None,
                          offset=item.offset, audience=item.audience)
        await Message.post(
            channel=item.channel, rendered=rendered, dedupe_key=item.dedupe_key, release_id=release.id,
            notify_user=release.owner if item.purpose is Purpose.COMMUNICATION else None, due_at=item.due_at,
            purpose=item.purpose, timing=item.timing, template=item.template,
        ).enqueue(uow, now)

    async def _withdraw(self, uow: UnitOfWork, release: ReleaseRecord, now: datetime, keep: set[str],
                        unwanted: Callable[[OutboxRow], bool], *, reason: str, record: bool = True) -> None:
        rows = [row for row in await uow.outbox.planned_pending(release.id, now)
                if row.dedupe_key not in keep and unwanted(row)]
        if not await uow.outbox.withdraw([row.id for row in rows], now):
            return
        log.info("%s: withdrew %s (%s)", release.ref, ", ".join(r.dedupe_key for r in rows), reason)
        if record:
            await uow.events.append(release.id, EventKind.COMMUNICATIONS_WITHDRAWN.value, None, now, {
                "templates": sorted({row.template or "" for row in rows}), "count": len(rows), "reason": reason,
            })
