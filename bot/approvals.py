"""Change authorization by the release model's release authority (DESIGN.md §1, `approval`).

Who counts as an approver is resolved (user groups through the Directory) before the
transaction, so no Slack call holds a database lock. Inside it, the release row is locked,
the lifecycle decides, and the unique (release, approver) key makes a double click or a
retried request count once; of two approvers racing to the quorum, the row lock and the
conditional state update let exactly one transition happen.
"""

from __future__ import annotations

from datetime import datetime

from bot import lifecycle
from bot.catalog import ReleaseModel, format_duration
from bot.directory import Directory, resolve
from bot.lifecycle import Actor, Event, EventKind, Moved, Refused, State
from bot.outbox import Message
from bot.records import ApprovalRecord, ReleaseRecord
from bot.releases import Conflict, Outcome, ReleaseService, as_outcome, no_such_release
from bot.rendering.approvals import approval_anchor, approval_reminder, approval_request, owner_notice
from bot.roles import actor_for
from storage.tables import ReleaseRow
from storage.uow import UnitOfWork

#: Events after which an existing approval request must show the new state.
REQUEST_EVENTS = frozenset({EventKind.APPROVAL_RECORDED, EventKind.APPROVED, EventKind.REJECTED,
                            EventKind.CANCELLED, EventKind.WINDOW_CHANGED})


class ApprovalService:
    def __init__(self, releases: ReleaseService, directory: Directory):
        self.releases = releases
        self.directory = directory
        releases.hooks.append(self._follow)

    async def approvers(self, model: ReleaseModel) -> frozenset[str]:
        return await resolve(self.directory, model.approval.approvers)

    async def _actor(self, release_id: int, user: str) -> tuple[Actor, ReleaseModel] | str:
        return await actor_for(self.releases, self.directory, release_id, user)

    async def submit(self, release_id: int, user: str) -> Outcome:
        """Ask the release authority: the request goes to the model's approval channel."""
        who = await self._actor(release_id, user)
        if isinstance(who, str):
            return Outcome(refused=who)
        actor, model = who
        now = self.releases.clock()
        return await self._decide(release_id, lambda row, _: lifecycle.submit(_snapshot(row), actor, now), now)

    async def approve(self, release_id: int, user: str) -> Outcome:
        who = await self._actor(release_id, user)
        if isinstance(who, str):
            return Outcome(refused=who)
        actor, model = who
        now = self.releases.clock()

        def decide(row: ReleaseRow, decisions: list[ApprovalRecord]) -> lifecycle.Decision:
            approved_by = frozenset(d.approver for d in decisions if d.approved)
            return lifecycle.approve(_snapshot(row), actor, model.approval.rules, approved_by, now)

        return await self._decide(release_id, decide, now, record=("approve", user, None))

    async def reject(self, release_id: int, user: str, reason: str) -> Outcome:
        who = await self._actor(release_id, user)
        if isinstance(who, str):
            return Outcome(refused=who)
        actor, model = who
        now = self.releases.clock()

        def decide(row: ReleaseRow, _: list[ApprovalRecord]) -> lifecycle.Decision:
            return lifecycle.reject(_snapshot(row), actor, model.approval.rules, reason, now)

        return await self._decide(release_id, decide, now, record=("reject", user, reason.strip()))

    async def may_decide(self, release_id: int, user: str) -> str | None:
        """Why `user` cannot decide this release now, if they cannot (before asking a reason)."""
        who = await self._actor(release_id, user)
        if isinstance(who, str):
            return who
        actor, model = who
        release = await self.releases.get(release_id)
        assert release is not None
        decision = lifecycle.reject(release.snapshot, actor, model.approval.rules, "a reason", self.releases.clock())
        return decision.reason if isinstance(decision, Refused) else None

    async def remind(self) -> None:
        """Scheduled: nudge approvers who have not answered, once per `remind_every` waited."""
        now = self.releases.clock()
        for model in self.releases.catalog:
            every = model.approval.remind_every
            if every is None:
                continue
            async with self.releases.uow() as uow:
                waiting = await uow.approvals.awaiting_since(model.key)
            if not waiting:
                continue
            approvers = await self.approvers(model)
            for release_id, submitted_at in waiting:
                turn = int((now - submitted_at) / every)
                if turn >= 1:
                    await self._nudge(release_id, model, approvers, turn, now)

    async def _nudge(self, release_id: int, model: ReleaseModel, approvers: frozenset[str], turn: int,
                     now: datetime) -> None:
        async with self.releases.uow() as uow:
            row = await uow.releases.get(release_id)
            if row is None or row.state != State.AWAITING_APPROVAL.value:
                return
            release = ReleaseRecord.from_row(row)
            decided = {a.approver for a in await uow.approvals.for_release(release_id)}
            waited = format_duration(model.approval.remind_every * turn) if model.approval.remind_every else ""
            for approver in sorted(approvers - decided):
                if approver == release.owner and not model.approval.self_approval:
                    continue
                await Message.post(channel=approver, rendered=approval_reminder(release, model, waited),
                                   dedupe_key=f"{release.ref}:approval-reminder:{turn}:{approver}",
                                   release_id=release.id).enqueue(uow, now)

    async def _decide(self, release_id: int, decide: object, now: datetime,
                      record: tuple[str, str, str | None] | None = None) -> Outcome:
        try:
            async with self.releases.uow() as uow:
                row = await uow.releases.get(release_id, for_update=True)
                if row is None:
                    return Outcome(refused=no_such_release(release_id))
                decisions = [ApprovalRecord.from_row(a) for a in await uow.approvals.for_release(release_id)]
                decision = decide(row, decisions)  # type: ignore[operator]
                if record and not isinstance(decision, Refused):
                    kind, approver, reason = record
                    if not await uow.approvals.add(release_id, approver, kind, now, reason):
                        return Outcome(refused=f"You have already decided on REL-{release_id}; "
                                               "each approver counts once.")
                result = await self.releases.apply(uow, row, decision, now)
                if isinstance(decision, Moved) and decision.to in (State.APPROVED, State.REJECTED):
                    await self._tell_owner(uow, as_outcome(result).release, now)
                return as_outcome(result)
        except Conflict as exc:
            return Outcome(refused=str(exc))

    async def _tell_owner(self, uow: UnitOfWork, release: ReleaseRecord | None, now: datetime) -> None:
        if release is None:
            return
        decisions = [ApprovalRecord.from_row(a) for a in await uow.approvals.for_release(release.id)]
        await Message.post(channel=release.owner, rendered=owner_notice(release, decisions),
                           dedupe_key=f"{release.ref}:decision:{release.state.value}",
                           release_id=release.id).enqueue(uow, now)

    async def _follow(self, uow: UnitOfWork, release: ReleaseRecord, event: Event, now: datetime) -> None:
        """Post the approval request on submission; keep it current as decisions arrive."""
        model = self.releases.catalog.get(release.model_key)
        if model is None:
            return
        if event.kind is EventKind.SUBMITTED:
            rendered = approval_request(release, model, [])
            await Message.post(channel=model.approval.channel, rendered=rendered,
                               anchor=approval_anchor(release.id), dedupe_key=f"{release.ref}:approval:post",
                               release_id=release.id, notify_user=release.owner).enqueue(uow, now)
            return
        if event.kind not in REQUEST_EVENTS:
            return
        if release.state is State.PLANNED or (
                event.kind is EventKind.CANCELLED and event.data.get("from") == State.PLANNED.value):
            return  # never submitted: there is no request to update
        decisions = [ApprovalRecord.from_row(a) for a in await uow.approvals.for_release(release.id)]
        reason = str(event.data.get("reason")) if event.kind is EventKind.CANCELLED else None
        rendered = approval_request(release, model, decisions, cancel_reason=reason)
        await Message.update(channel=model.approval.channel, rendered=rendered, anchor=approval_anchor(release.id),
                             dedupe_key=f"{release.ref}:approval:v{release.version}", release_id=release.id,
                             notify_user=release.owner).enqueue(uow, now)


def _snapshot(row: ReleaseRow) -> lifecycle.Release:
    return ReleaseRecord.from_row(row).snapshot
