"""Use cases of the release plan (DESIGN.md §5a), Slack-free: read it, edit it, and say after
a rollback whether its rollback plan was followed; and the follower that tells approvers of
a plan changed under their approval.

An edit goes through `Transitions` like every change of a release: locked, decided by
`lifecycle.edit_plan` (who may edit, until when), applied with its `plan_changed` event, then
followed in the same transaction: the card and the approval request show the new plan, the
pending announcements are rendered again with the new notes, and `PlanFollowers.after_change`
tells each approver whose approval predates the change, and, when the release model says
`approval: {reapprove_on_change: true}`, withdraws those approvals (`lifecycle.after_plan_change`,
a further decision: back to awaiting approval).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot import lifecycle, release_plan
from bot.catalog import Catalog
from bot.lifecycle import Event, EventKind, Refused
from bot.outbox import Message
from bot.outcome import Outcome, Refusal
from bot.records import ReleaseRecord
from bot.release_plan import PlanFollowed
from bot.rendering.approvals import plan_changed_notice
from bot.roles import Roles
from bot.transitions import Transitions
from storage.uow import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class PlanReading:
    """A release's plan, whether the person asking may change it now (if not, why), and the
    parts its release model requires."""

    release: ReleaseRecord
    why_not: Refusal | None = None
    require: tuple[str, ...] = ()
    model_name: str = ""

    @property
    def editable(self) -> bool:
        return self.why_not is None


class PlanService:
    def __init__(self, uow: UnitOfWorkFactory, catalog: Catalog, transitions: Transitions, roles: Roles):
        self.uow = uow
        self.catalog = catalog
        self.transitions = transitions
        self.roles = roles

    async def read(self, release_id: int, user: str) -> Outcome[PlanReading]:
        """The plan as it stands, for *Read the plan* and the edit form. Asked while a click's
        trigger_id is fresh, so it reads one row and looks nothing up in Slack: editing is
        the owner's (`lifecycle.MAY`), which the release says by itself."""
        async with self.uow(read_only=True) as uow:
            row = await uow.releases.get(release_id)
        if row is None:
            return Outcome.of(lifecycle.no_such_release(release_id).refusal)
        release = ReleaseRecord.from_row(row)
        model = self.catalog.get(release.model_key)
        if model is None:
            return Outcome.success(PlanReading(release, lifecycle.model_missing(release.snapshot).refusal))
        actor = lifecycle.Actor(user, frozenset({lifecycle.Role.OWNER}) if user == release.owner else frozenset())
        refused = lifecycle.may_edit_plan(release.snapshot, actor)
        return Outcome.success(PlanReading(release, refused.refusal if refused else None,
                                           release_plan.required_parts(model.plan.require), model.name))

    async def edit(self, release_id: int, user: str, changes: Mapping[str, str | None],
                   risk_given: str = "") -> Outcome[ReleaseRecord]:
        """Change the fields named in `changes` (a field left out, or None, is kept; "" clears
        it). Refused when the person may not edit or nothing changed; invalid, field by
        field, when the release model requires a part the edit would leave out."""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)
        errors = release_plan.problems(who.release.plan.with_changes(changes), who.model.plan.require,
                                       risk_given=risk_given, model_name=f"The release model “{who.model.name}”")
        if errors:
            return Outcome.invalid(errors)

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision:
            return lifecycle.edit_plan(release.snapshot, who.actor, release.plan, release.plan.with_changes(changes),
                                       now)

        return await self.transitions.run(release_id, decide)

    async def note_rollback_plan(self, release_id: int, user: str, followed: PlanFollowed) -> Outcome[ReleaseRecord]:
        """After `/release rollback REL-n REASON…`: was the rollback plan followed?"""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision:
            said = any(e.kind == EventKind.ROLLBACK_PLAN_NOTED.value
                       or (e.kind == EventKind.ROLLED_BACK.value and (e.data or {}).get("plan_followed"))
                       for e in await uow.events.for_release(release_id))
            return lifecycle.note_rollback_plan(release.snapshot, who.actor, followed, said, now)

        return await self.transitions.run(release_id, decide)


class PlanFollowers:
    """Follows `plan_changed`: the approvers who had approved hear of it, and a release model
    that asks for approval again gets it asked (a further decision, applied in turn)."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    async def after_change(self, uow: UnitOfWork, release: ReleaseRecord, event: Event,
                           now: datetime) -> lifecycle.Decision | None:
        model = self.catalog.get(release.model_key)
        if model is None:
            return None
        approved_by = frozenset(a.approver for a in await uow.approvals.for_release(release.id)
                                if a.decision == "approve")
        further = lifecycle.after_plan_change(release.snapshot, approved_by, model.approval.reapprove_on_change,
                                              event.actor or release.owner, now)
        changed = [str(name) for name in event.data.get("changed") or []]
        for approver in sorted(approved_by):
            notice = plan_changed_notice(release, model.approval.channel, changed, event.actor or release.owner,
                                         withdrawn=further is not None)
            await Message.post(channel=approver, rendered=notice, release_id=release.id,
                               dedupe_key=f"{release.ref}:plan-changed:v{release.version}:{approver}",
                               ).enqueue(uow, now)
        if further is not None:
            await uow.approvals.withdraw(release.id)
        return further
