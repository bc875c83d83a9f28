"""Verification and execution (DESIGN.md §1–2): the checklists before execution, start,
release verification after it, and rollback.

Who someone is for a release (its owner, an approver of its model through user groups) is
worked out before the transaction, so no Slack call holds a database lock. Inside it the
release row is locked, outcomes are inserted (unique per submission and criterion: a double
submit or a retried request records once), the latest outcome per criterion is read back, and
the lifecycle decides once for the whole submission, which `ReleaseService.apply` stores with
its event, the card update and whatever other capabilities hook on (communications).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from bot import lifecycle
from bot.catalog import ReleaseModel
from bot.checklist import Checklist, Entry, Phase, items, phase_for
from bot.directory import Directory
from bot.lifecycle import Actor, Event, EventKind, Moved, Refused, State
from bot.records import ReleaseRecord, VerificationRecord
from bot.releases import Conflict, Outcome, ReleaseService, as_outcome, no_such_release
from bot.rendering import blocks as bk
from bot.rendering.verification import ChecklistModal, checklist_view
from bot.roles import actor_for
from storage.uow import UnitOfWork

NO_CHECKS = "the release model asks for no pre-execution checks"
ALL_PASSED = "every pre-execution check stands passed"


class _Refusal(Exception):
    """Refused after something was written: raised to roll the unit of work back."""


class VerificationService:
    def __init__(self, releases: ReleaseService, directory: Directory):
        self.releases = releases
        self.directory = directory
        releases.hooks.append(self._follow)

    async def _actor(self, release_id: int, user: str) -> tuple[Actor, ReleaseModel] | str:
        return await actor_for(self.releases, self.directory, release_id, user)

    async def checklist(self, release_id: int, user: str, channel: str) -> bk.Block | str:
        """The checklist modal of the release's current stage, or what to tell the person
        instead: why they cannot verify, or that there is nothing to verify (in which case an
        approved release becomes ready now, saying why)."""
        who = await self._actor(release_id, user)
        if isinstance(who, str):
            return who
        actor, model = who
        now = self.releases.clock()
        try:
            async with self.releases.uow() as uow:
                row = await uow.releases.get(release_id, for_update=True)
                if row is None:
                    return no_such_release(release_id)
                release = ReleaseRecord.from_row(row)
                checklist = Checklist.of(model, phase_for(release.state), await _records(uow, release_id))
                stage = checklist.items[0].stage if checklist.items else checklist.phase.stages[0]
                probe = lifecycle.verify(release.snapshot, actor, stage, checklist.outcomes, checklist.criteria, now)
                if isinstance(probe, Refused):
                    return probe.reason
                if release.state is State.APPROVED and not checklist.missing():
                    why = NO_CHECKS if not checklist.items else ALL_PASSED
                    decision = lifecycle.become_ready(release.snapshot, [], why, now, actor=user)
                    await self.releases.apply(uow, row, decision, now)
                    return f"{release.ref} is ready: {why}. Start it with `/release start {release.ref}`."
                if not checklist.items:
                    return (f"{release.ref} is ready: {NO_CHECKS}, so there is nothing to verify. "
                            f"Start it with `/release start {release.ref}`.")
                return checklist_view(ChecklistModal.opening(release, checklist, channel), model)
        except Conflict as exc:
            return str(exc)

    async def record(self, release_id: int, user: str, phase: Phase, entries: Sequence[Entry],
                     submission: str) -> Outcome:
        """Record the outcomes of one checklist page; `submission` (the modal's view id) makes a
        repeated submission record nothing new."""
        who = await self._actor(release_id, user)
        if isinstance(who, str):
            return Outcome(refused=who)
        actor, model = who
        listed = {item.criterion for item in items(model, phase)}
        entries = [e for e in entries if e.criterion in listed]
        if not entries:
            return Outcome()
        now = self.releases.clock()
        try:
            async with self.releases.uow() as uow:
                row = await uow.releases.get(release_id, for_update=True)
                if row is None:
                    return Outcome(refused=no_such_release(release_id))
                new = [e for e in entries if await uow.verifications.add(_values(release_id, e, user, now,
                                                                                 submission))]
                if not new:
                    return Outcome(release=ReleaseRecord.from_row(row))  # a repeat: recorded before
                # Failures last: the decision names the last outcome (a ready release that is
                # no longer ready says which check failed).
                new = [e for e in new if e.passed] + [e for e in new if not e.passed]
                checklist = Checklist.of(model, phase, await _records(uow, release_id))
                last = new[-1]
                decision = lifecycle.verify(ReleaseRecord.from_row(row).snapshot, actor, last.stage,
                                            checklist.outcomes, checklist.criteria, now, last.data)
                if isinstance(decision, Refused):
                    raise _Refusal(decision.reason)
                # Every outcome is a fact of the record; the decision's own event carries the
                # last one when it is one (Stayed), and follows it when the state moves.
                for entry in new if isinstance(decision, Moved) else new[:-1]:
                    await _fact(uow, release_id, user, now, entry)
                return as_outcome(await self.releases.apply(uow, row, decision, now))
        except (_Refusal, Conflict) as exc:
            return Outcome(refused=str(exc))

    async def start(self, release_id: int, user: str) -> Outcome:
        """Start execution of a ready release; refused, naming what is still to pass, otherwise."""
        who = await self._actor(release_id, user)
        if isinstance(who, str):
            return Outcome(refused=who)
        actor, model = who
        now = self.releases.clock()
        try:
            async with self.releases.uow() as uow:
                row = await uow.releases.get(release_id, for_update=True)
                if row is None:
                    return Outcome(refused=no_such_release(release_id))
                snapshot = ReleaseRecord.from_row(row).snapshot
                checklist = Checklist.of(model, Phase.PRE_EXECUTION, await _records(uow, release_id))
                missing = checklist.missing()
                would_start = isinstance(lifecycle.start(replace(snapshot, state=State.READY), actor, missing, now),
                                         Moved)
                if snapshot.state is State.APPROVED and not missing and would_start:
                    # Nothing left to pass (none asked for, or all passed before): ready first,
                    # so the record says why execution was allowed.
                    why = NO_CHECKS if not checklist.items else ALL_PASSED
                    await self.releases.apply(uow, row, lifecycle.become_ready(snapshot, [], why, now, user), now)
                    snapshot = ReleaseRecord.from_row(row).snapshot
                decision = lifecycle.start(snapshot, actor, missing, now)
                return as_outcome(await self.releases.apply(uow, row, decision, now))
        except Conflict as exc:
            return Outcome(refused=str(exc))

    async def rollback(self, release_id: int, user: str, reason: str) -> Outcome:
        who = await self._actor(release_id, user)
        if isinstance(who, str):
            return Outcome(refused=who)
        actor, _ = who
        now = self.releases.clock()
        try:
            async with self.releases.uow() as uow:
                row = await uow.releases.get(release_id, for_update=True)
                if row is None:
                    return Outcome(refused=no_such_release(release_id))
                decision = lifecycle.rollback(ReleaseRecord.from_row(row).snapshot, actor, reason, now)
                return as_outcome(await self.releases.apply(uow, row, decision, now))
        except Conflict as exc:
            return Outcome(refused=str(exc))

    async def _follow(self, uow: UnitOfWork, release: ReleaseRecord, event: Event, now: datetime) -> None:
        """A release approved under a model with no pre-execution checks is ready at once:
        there is nothing anyone could verify, and `start` only starts a ready release."""
        if event.kind is not EventKind.APPROVED:
            return
        model = self.releases.catalog.get(release.model_key)
        if model is None or items(model, Phase.PRE_EXECUTION):
            return
        row = await uow.releases.get(release.id)
        assert row is not None
        decision = lifecycle.become_ready(ReleaseRecord.from_row(row).snapshot, [], NO_CHECKS, now)
        if isinstance(decision, Moved):
            await self.releases.apply(uow, row, decision, now)


async def _records(uow: UnitOfWork, release_id: int) -> list[VerificationRecord]:
    return [VerificationRecord.from_row(v) for v in await uow.verifications.for_release(release_id)]


def _values(release_id: int, entry: Entry, user: str, now: datetime, submission: str) -> dict[str, object]:
    return {"release_id": release_id, "stage": entry.stage.value, "criterion": entry.criterion,
            "outcome": "pass" if entry.passed else "fail", "note": entry.note, "evidence_url": entry.evidence_url,
            "verified_by": user, "verified_at": now, "submission": submission[:255]}


async def _fact(uow: UnitOfWork, release_id: int, user: str, now: datetime, entry: Entry) -> None:
    await uow.events.append(release_id, EventKind.VERIFICATION_RECORDED.value, user, now, entry.data)
