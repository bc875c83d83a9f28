"""The deployment gate (DESIGN.md §7): may the pipeline deploy this release now? Slack-free.

`go` is true when the release is ready and no freeze is in force for its model, or when it is
executing already; otherwise false, with the reason it waits for (approval, verification, a
freeze by id) and `retry_after`: whole seconds until the last freeze in force ends, a polling
hint while people decide, or None when waiting changes nothing (a final state).

`wait` long-polls: the answer is held until it changes (a commit that changed the release,
or a freeze, wakes its waiters; the clock is read again every second, for freezes that end),
or the wait is over. Only the waiters of a changed release look again: woken by every
commit, 25 held requests read their releases after each of a hundred commits a second, and
the pipelines' own requests queued behind those reads (bench/api.py: create p99 2.8 s,
0.7 s once they were not woken).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from bot.checklist import Checklist, Phase
from bot.freezes import FreezeService
from bot.lifecycle import OUTCOMES, State
from bot.model_versions import ModelVersions
from bot.records import ReleaseRecord, VerificationRecord
from storage.uow import UnitOfWork, UnitOfWorkFactory

#: The longest a gate request may be held (seconds).
LONGEST_WAIT = 60
#: What a pipeline is told to wait while people approve or verify.
POLL_HINT = 30
#: How often a held request looks again without being woken.
RECHECK = 1.0


@dataclass(frozen=True)
class GateAnswer:
    go: bool
    state: str
    reason: str
    retry_after: int | None

    @property
    def settled(self) -> bool:
        """Nothing to wait for: the pipeline may go, or never will."""
        return self.go or self.retry_after is None


class Gate:
    def __init__(self, uow: UnitOfWorkFactory, versions: ModelVersions, freezes: FreezeService):
        self.uow = uow
        self.versions = versions
        self.freezes = freezes
        #: The held requests' wake-ups, by the release they wait on.
        self._waiting: dict[int, set[asyncio.Event]] = {}

    def changed(self, releases: Collection[int] | None = None) -> None:
        """A commit changed `releases` (None: something any release may wait for, a freeze):
        their held requests look again (the unit of work's hook)."""
        held = (self._waiting.values() if releases is None
                else [self._waiting[r] for r in releases if r in self._waiting])
        for wakes in held:
            for wake in wakes:
                wake.set()

    async def ask(self, release_id: int) -> tuple[ReleaseRecord, GateAnswer] | None:
        """The release and the gate's answer, read in one transaction; None: no such release.
        The caller sees whether the asker may reach the release before it shows the answer."""
        now = self.freezes.clock()
        async with self.uow(read_only=True) as uow:
            row = await uow.releases.get(release_id)
            if row is None:
                return None
            current = ReleaseRecord.from_row(row)
            return current, await self._answer(uow, current, now)

    async def _answer(self, uow: UnitOfWork, current: ReleaseRecord, now: datetime) -> GateAnswer:
        state = current.state
        ref = current.ref
        if state is State.EXECUTING:
            return GateAnswer(True, state.value, f"{ref} is executing.", None)
        if state is State.READY:
            held = await self.freezes.in_force_within(uow, current.model_key, now)
            if not held:
                return GateAnswer(True, state.value, f"{ref} is ready and no freeze is in force.", None)
            named = "; ".join(f"{f.ref} ({f.reason}) until {f.end.isoformat()}" for f in held)
            wait = math.ceil((max(f.end for f in held) - now).total_seconds())
            return GateAnswer(False, state.value, f"{ref} is ready, but the change schedule is frozen: {named}.",
                              max(wait, 1))
        if state is State.PLANNED:
            return GateAnswer(False, state.value, f"{ref} is planned: submit it for approval.", POLL_HINT)
        if state is State.AWAITING_APPROVAL:
            approvals = [a for a in await uow.approvals.for_release(current.id) if a.decision == "approve"]
            model = await self.versions.for_release(current, uow)
            quorum = model.approval.quorum if model else 1
            return GateAnswer(False, state.value, f"{ref} is waiting for approval ({len(approvals)} of {quorum} "
                                                  "approvals).", POLL_HINT)
        if state is State.APPROVED:
            model = await self.versions.for_release(current, uow)
            records = [VerificationRecord.from_row(v) for v in await uow.verifications.for_release(current.id)]
            missing = Checklist.of(model, Phase.PRE_EXECUTION, records).missing() if model else []
            what = f": still to pass: {', '.join(missing)}" if missing else ""
            return GateAnswer(False, state.value, f"{ref} is approved and waiting for verification{what}.",
                              POLL_HINT)
        done = "has been executed" if state in OUTCOMES or state is State.CLOSED else "will not be executed"
        return GateAnswer(False, state.value, f"{ref} is {state.label}: it {done}, there is nothing to deploy.",
                          None)

    async def hold(self, release_id: int, first: GateAnswer, seconds: float) -> GateAnswer:
        """Hold the `first` answer up to `seconds` until it changes (at once when it is settled)."""
        deadline = time.monotonic() + min(seconds, LONGEST_WAIT)
        answer = first
        wake = asyncio.Event()
        wakes = self._waiting.setdefault(release_id, set())
        wakes.add(wake)
        try:
            while not answer.settled and (left := deadline - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(wake.wait(), timeout=min(RECHECK, left))
                except TimeoutError:
                    pass
                wake.clear()  # before reading: a change committed while it reads wakes it again
                looked = await self.ask(release_id)
                if looked is None:
                    return answer
                answer = looked[1]
                if (answer.go, answer.state, answer.reason) != (first.go, first.state, first.reason):
                    return answer
            return answer
        finally:
            wakes.discard(wake)
            if not wakes and self._waiting.get(release_id) is wakes:
                del self._waiting[release_id]
