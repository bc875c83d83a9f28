"""What a planned window runs into: freezes in force during it, and other releases whose
window overlaps it on a shared component (DESIGN.md §8). Shown where decisions are made: to
the owner when a release is planned or its window moves, and on the approval request.
Slack-free; `bot.rendering.freezes` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.freezes import Freeze, FreezeService
from bot.lifecycle import Event
from bot.outbox import Message
from bot.records import ReleaseRecord
from bot.rendering.freezes import clash_notice
from bot.schedule import CLASH_CANDIDATES, SCHEDULED_STATES, Clash, clashes
from storage.uow import UnitOfWork


@dataclass(frozen=True)
class WindowClashes:
    freezes: list[Freeze] = field(default_factory=list)
    releases: list[Clash] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.freezes or self.releases)


class ClashFinder:
    def __init__(self, freezes: FreezeService):
        self.freezes = freezes

    async def of(self, uow: UnitOfWork, release: ReleaseRecord) -> WindowClashes:
        """In the caller's transaction, so a warning describes the window being committed.

        Every release meeting the window is a candidate (up to `CLASH_CANDIDATES`; it read the
        first 200 by start, and missed a clash with one planned later in a busy window), and
        only this release's pairs are compared."""
        start, end = release.planned_start, release.planned_end
        frozen = await self.freezes.overlapping_within(uow, release.model_key, start, end)
        if not release.components:
            return WindowClashes(frozen, [])
        rows = await uow.releases.in_window(start, end, SCHEDULED_STATES, limit=CLASH_CANDIDATES)
        others = [ReleaseRecord.from_row(r) for r in rows if r.id != release.id]
        return WindowClashes(frozen, clashes([release, *others], of={release.id}).get(release.id, []))


class ClashNotices:
    """The planning confirmation and the change-window confirmation: a direct message to the
    owner, through the outbox, when the window clashes (nothing when it does not)."""

    def __init__(self, finder: ClashFinder):
        self.finder = finder

    async def tell(self, uow: UnitOfWork, release: ReleaseRecord, now: datetime, moved: bool = False) -> None:
        found = await self.finder.of(uow, release)
        if not found:
            return
        await Message.post(channel=release.owner, rendered=clash_notice(release, found, moved),
                           dedupe_key=f"{release.ref}:clashes:v{release.version}",
                           release_id=release.id).enqueue(uow, now)

    async def follow(self, uow: UnitOfWork, release: ReleaseRecord, event: Event, now: datetime) -> None:
        await self.tell(uow, release, now, moved=True)
