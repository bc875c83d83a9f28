"""Verification and execution (DESIGN.md §1–2): the checklists before execution, start,
release verification after it, and rollback.

Who someone is for a release (its owner, an approver of its model through user groups) is
worked out before the transaction, so no Slack call holds a database lock. Inside it the
release row is locked, outcomes are inserted (unique per submission and criterion: a double
submit or a retried request records once), the latest outcome per criterion is read back, and
the lifecycle decides once for the whole submission; `Transitions` stores it with its event
and its followers (the card, communications).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot import lifecycle
from bot.catalog import ReleaseModel
from bot.checklist import Checklist, Entry, Phase, items, phase_for
from bot.freezes import Freeze, FreezeService
from bot.lifecycle import Event, EventKind, Moved, Refused, State, is_pipeline
from bot.model_versions import ModelVersions
from bot.outcome import Outcome
from bot.records import ReleaseRecord, VerificationRecord
from bot.release_plan import PlanFollowed
from bot.roles import Roles
from bot.transitions import FollowerRun, Transitions
from storage.uow import UnitOfWork, UnitOfWorkFactory

NO_CHECKS = "the release model asks for no pre-execution checks"
ALL_PASSED = "every pre-execution check stands passed"


@dataclass(frozen=True)
class ChecklistOpening:
    """What `/release verify` finds: the checklist of the release's current stage, or (with
    `ready_because`) that there is nothing left to verify before execution."""

    release: ReleaseRecord
    model: ReleaseModel
    checklist: Checklist
    ready_because: str | None = None


class VerificationService:
    def __init__(self, uow: UnitOfWorkFactory, versions: ModelVersions, transitions: Transitions, roles: Roles,
                 freezes: FreezeService | None = None):
        self.uow = uow
        self.versions = versions
        self.transitions = transitions
        self.roles = roles
        self.freezes = freezes

    async def checklist(self, release_id: int, user: str) -> Outcome[ChecklistOpening]:
        """The checklist of the release's current stage, or why this person cannot verify. An
        approved release with nothing left to pass becomes ready now, saying why."""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)
        release, model = who.release, who.model
        async with self.uow(read_only=True) as uow:
            checklist = Checklist.of(model, phase_for(release.state), await _records(uow, release_id))
        stage = checklist.items[0].stage if checklist.items else checklist.phase.stages[0]
        probe = lifecycle.verify(release.snapshot, who.actor, stage, checklist.outcomes, checklist.criteria,
                                 self.transitions.clock())
        if isinstance(probe, Refused):
            return Outcome.of(probe.refusal)
        why = NO_CHECKS if not checklist.items else ALL_PASSED
        if release.state is State.APPROVED and not checklist.missing():
            async def decide(uow: UnitOfWork, locked: ReleaseRecord, now: datetime) -> lifecycle.Decision:
                return lifecycle.become_ready(locked.snapshot, [], why, now, actor=user)

            became = await self.transitions.run(release_id, decide)
            if became.refusal:
                return Outcome.of(became.refusal)
            return Outcome.success(ChecklistOpening(became.unwrap(), model, checklist, why))
        if not checklist.items:
            return Outcome.success(ChecklistOpening(release, model, checklist,
                                                    f"{NO_CHECKS}, so there is nothing to verify"))
        return Outcome.success(ChecklistOpening(release, model, checklist))

    async def record(self, release_id: int, user: str, phase: Phase, entries: Sequence[Entry],
                     submission: str) -> Outcome[ReleaseRecord]:
        """Record the outcomes of one checklist page; `submission` (the modal's view id) makes a
        repeated submission record nothing new."""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)
        listed = {item.criterion for item in items(who.model, phase)}
        if not is_pipeline(user):
            # What the model leaves to the pipeline, a person cannot record (the checklist
            # shows it read-only; this keeps a crafted submission from recording it either).
            listed -= set(who.model.verification.by_pipeline)
        entries = [e for e in entries if e.criterion in listed]
        if not entries:
            return Outcome.success(who.release)

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision | None:
            new = [e for e in entries if await uow.verifications.add(_values(release_id, e, user, now, submission))]
            if not new:
                return None  # a repeat: recorded before
            # Failures last: the decision names the last outcome (a ready release that is no
            # longer ready says which check failed).
            new = [e for e in new if e.passed] + [e for e in new if not e.passed]
            checklist = Checklist.of(who.model, phase, await _records(uow, release_id))
            last = new[-1]
            decision = lifecycle.verify(release.snapshot, who.actor, last.stage, checklist.outcomes,
                                        checklist.criteria, now, last.data)
            if isinstance(decision, Refused):
                return decision  # what was inserted above is rolled back
            # Every outcome is a fact of the record; the decision's own event carries the last
            # one when it is one (Stayed), and follows it when the state moves.
            for entry in new if isinstance(decision, Moved) else new[:-1]:
                await uow.events.append(release_id, EventKind.VERIFICATION_RECORDED.value, user, now, entry.data)
            return decision

        return await self.transitions.run(release_id, decide)

    async def start(self, release_id: int, user: str, override: str | None = None) -> Outcome[ReleaseRecord]:
        """Start execution of a ready release; refused, naming what is still to pass, or the
        freeze in force (DESIGN.md §8), otherwise. `override` is a release manager's reason to
        start through a freeze, recorded as `freeze_overridden`."""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision:
            snapshot = release.snapshot
            checklist = Checklist.of(who.model, Phase.PRE_EXECUTION, await _records(uow, release_id))
            missing = checklist.missing()
            held = await self.freezes.in_force_within(uow, release.model_key, now) if self.freezes else []
            zone = self.freezes.zone if self.freezes else None
            rules = [f.for_rules(zone) for f in held] if zone else []
            probe = lifecycle.start(replace(snapshot, state=State.READY), who.actor, missing, now, rules, override)
            if snapshot.state is State.APPROVED and not missing:
                if isinstance(probe, Refused):
                    return probe  # not allowed, or frozen: nothing becomes ready on the way
                # Nothing left to pass (none asked for, or all passed before): ready first, so
                # the record says why execution was allowed.
                why = NO_CHECKS if not checklist.items else ALL_PASSED
                ready = lifecycle.become_ready(snapshot, [], why, now, user)
                assert isinstance(ready, Moved)
                snapshot = (await self.transitions.apply(uow, release, ready, now)).snapshot
            decision = lifecycle.start(snapshot, who.actor, missing, now, rules, override)
            if isinstance(decision, Moved):
                await self._freeze_facts(uow, release, held, decision, now)
            return decision

        return await self.transitions.run(release_id, decide)

    async def _freeze_facts(self, uow: UnitOfWork, release: ReleaseRecord, held: Sequence[Freeze],
                            decision: Moved, now: datetime) -> None:
        """What the record says about freezes when a release starts: overridden ones, or that a
        freeze held its start past the planned one (the metrics count that as such)."""
        overridden = decision.event.data.get("freeze_overridden")
        if overridden:
            await uow.events.append(release.id, EventKind.FREEZE_OVERRIDDEN.value, decision.event.actor, now,
                                    {**overridden, "until": {f.ref: f.end.isoformat() for f in held}})
        elif self.freezes and now > release.planned_start:
            holding = await self.freezes.overlapping_within(uow, release.model_key, release.planned_start, now)
            if holding:
                await uow.events.append(release.id, EventKind.DELAYED_BY_FREEZE.value, None, now, {
                    "freezes": [f.ref for f in holding], "planned_start": release.planned_start.isoformat()})

    async def rollback(self, release_id: int, user: str, reason: str,
                       plan_followed: PlanFollowed | None = None) -> Outcome[ReleaseRecord]:
        """Roll back; `plan_followed` says whether the rollback plan was followed (a release
        without one records that there was none)."""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision:
            followed = plan_followed if release.plan.rollback_plan else PlanFollowed.NO_PLAN
            return lifecycle.rollback(release.snapshot, who.actor, reason, now, followed)

        return await self.transitions.run(release_id, decide)


def ready_without_checks(versions: ModelVersions) -> FollowerRun:
    """Follows approval: a release approved under a model with no pre-execution checks is
    ready at once; there is nothing anyone could verify, and `start` only starts a ready one."""
    async def follow(uow: UnitOfWork, release: ReleaseRecord, event: Event, now: datetime) -> lifecycle.Decision | None:
        model = await versions.for_release(release, uow)
        if model is None or items(model, Phase.PRE_EXECUTION):
            return None
        decision = lifecycle.become_ready(release.snapshot, [], NO_CHECKS, now)
        return decision if isinstance(decision, Moved) else None

    return follow


async def _records(uow: UnitOfWork, release_id: int) -> list[VerificationRecord]:
    return [VerificationRecord.from_row(v) for v in await uow.verifications.for_release(release_id)]


def _values(release_id: int, entry: Entry, user: str, now: datetime, submission: str) -> dict[str, object]:
    return {"release_id": release_id, "stage": entry.stage.value, "criterion": entry.criterion,
            "outcome": "pass" if entry.passed else "fail", "note": entry.note, "evidence_url": entry.evidence_url,
            "verified_by": user, "verified_at": now, "submission": submission[:255]}

