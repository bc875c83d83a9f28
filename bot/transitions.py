"""The one way a release changes (DESIGN.md §2): lock it, decide, apply, follow, commit.

Every use case that moves a release or records a fact about it goes through `Transitions.run`:
the row is locked, the use case's `decide` asks `bot.lifecycle` (and may record rows of its
own: approvals, verification outcomes), and the decision is applied as a conditional update
with its event. Then the followers declared in `bot.followers` run in the same transaction
(the approval request, the communications…), and the card once as it ends, so a fact and
the messages it causes are committed together, or not at all: a refusal, a lost race or an
exception rolls back everything `decide` wrote.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.clock import Clock
from bot.lifecycle import Decision, Event, EventKind, Moved, Refused, Stayed, conflict, no_such_release
from bot.outcome import Outcome
from bot.records import ReleaseRecord
from storage.uow import UnitOfWork, UnitOfWorkFactory

#: What a use case decides, with the release locked: a lifecycle decision, or None when there
#: is nothing to apply (a repeated submission). It may write rows of its own through `uow`
#: first; they are kept unless the decision is a refusal.
Decide = Callable[[UnitOfWork, ReleaseRecord, datetime], Awaitable[Decision | None]]

#: What follows an event, in its transaction. It may answer with a further decision (an
#: approved release with nothing to verify becomes ready), which is applied in turn.
FollowerRun = Callable[[UnitOfWork, ReleaseRecord, Event, datetime], Awaitable[Decision | None]]

#: What runs once at the end of a transaction that changed the release, with the release as it
#: ends: the card. After each step of a cascade (submitted, approved, ready) it queued an
#: update only for the next step's to replace, reading what the card shows each time.
AtEnd = Callable[[UnitOfWork, ReleaseRecord, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Follower:
    name: str
    #: The event kinds it follows; None for every event.
    on: frozenset[EventKind] | None
    run: FollowerRun

    def follows(self, event: Event) -> bool:
        return self.on is None or event.kind in self.on


class Conflict(Exception):
    """A concurrent change won the race for the release's state; nothing is kept."""


class Transitions:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, followers: Sequence[Follower] = (),
                 at_end: Sequence[AtEnd] = ()):
        self.uow = uow
        self.clock = clock
        self.followers: Sequence[Follower] = followers
        self.at_end: Sequence[AtEnd] = at_end

    async def run(self, release_id: int, decide: Decide) -> Outcome[ReleaseRecord]:
        now = self.clock()
        async with self.uow() as uow:
            row = await uow.releases.get(release_id, for_update=True)
            if row is None:
                return Outcome.of(no_such_release(release_id).refusal)
            before = row.version
            decision = await decide(uow, ReleaseRecord.from_row(row), now)
            if isinstance(decision, Refused):
                return Outcome.of(decision.refusal)
            # As it is now: `decide` may have applied a step of its own (ready, then started).
            # Every change to a release row returns the row into the session's copy of it
            # (`move`, `touch`: RETURNING, populate_existing), so `row` is that, unread again.
            release = ReleaseRecord.from_row(row)
            if decision is not None:
                try:
                    release = await self.apply(uow, release, decision, now)
                except Conflict:
                    return Outcome.of(conflict(release_id).refusal)
            if release.version != before:  # a step was applied (by `decide`, or here)
                for end in self.at_end:
                    await end(uow, release, now)
            await uow.commit()
        return Outcome.success(release)

    async def apply(self, uow: UnitOfWork, release: ReleaseRecord, decision: Moved | Stayed,
                    now: datetime) -> ReleaseRecord:
        """Store a decision about `release` (as it was read, locked), then its followers.
        Returns the release as it is afterwards; raises Conflict if the state moved meanwhile."""
        if isinstance(decision, Moved):
            row = await uow.releases.move(release.id, release.state.value, decision.to.value, now)
            if row is None:
                raise Conflict(release.ref)
        else:
            row = await uow.releases.touch(release.id, now, **decision.changes)
        after = latest = ReleaseRecord.from_row(row)  # as the update returned it
        event = decision.event
        await uow.events.append(release.id, event.kind.value, event.actor, event.at, dict(event.data))
        for follower in self.followers:
            if not follower.follows(event):
                continue
            further = await follower.run(uow, after, event, now)
            if isinstance(further, Moved | Stayed):
                latest = await self.apply(uow, latest, further, now)
        return latest
