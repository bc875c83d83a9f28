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
from bot.clashes import ClashFinder, WindowClashes
from bot.clock import Clock
from bot.lifecycle import Event, EventKind, Refused, State
from bot.model_versions import ModelVersions
from bot.outbox import Message
from bot.outcome import Outcome
from bot.records import ApprovalRecord, EventRecord, ReleaseRecord
from bot.rendering.approvals import approval_anchor, approval_reminder, approval_request, owner_notice
from bot.roles import Roles
from bot.transitions import Transitions
from storage.uow import UnitOfWork, UnitOfWorkFactory

#: Events after which an existing approval request must show the new state.
REQUEST_EVENTS = frozenset({EventKind.APPROVAL_RECORDED, EventKind.APPROVED, EventKind.REJECTED,
                            EventKind.CANCELLED, EventKind.WINDOW_CHANGED, EventKind.PLAN_CHANGED,
                            EventKind.APPROVALS_RESET})
#: Decisions the owner hears about by direct message.
DECISIONS = frozenset({EventKind.APPROVED, EventKind.REJECTED})


class ApprovalService:
    def __init__(self, uow: UnitOfWorkFactory, versions: ModelVersions, clock: Clock, transitions: Transitions,
                 roles: Roles):
        self.uow = uow
        self.versions = versions
        self.clock = clock
        self.transitions = transitions
        self.roles = roles

    async def approvers(self, model: ReleaseModel) -> frozenset[str]:
        return await self.roles.approvers(model)

    async def submit(self, release_id: int, user: str) -> Outcome[ReleaseRecord]:
        """Ask the release authority: the request goes to the model's approval channel."""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision:
            return lifecycle.submit(release.snapshot, who.actor, now)

        return await self.transitions.run(release_id, decide)

    async def approve(self, release_id: int, user: str) -> Outcome[ReleaseRecord]:
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision:
            decisions = await uow.approvals.for_release(release_id)
            approved_by = frozenset(d.approver for d in decisions if d.decision == "approve")
            decision = lifecycle.approve(release.snapshot, who.actor, who.model.approval.rules, approved_by, now)
            return await _record(uow, release, decision, user, "approve", None, now)

        return await self.transitions.run(release_id, decide)

    async def reject(self, release_id: int, user: str, reason: str) -> Outcome[ReleaseRecord]:
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)

        async def decide(uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> lifecycle.Decision:
            decision = lifecycle.reject(release.snapshot, who.actor, who.model.approval.rules, reason, now)
            return await _record(uow, release, decision, user, "reject", reason.strip(), now)

        return await self.transitions.run(release_id, decide)

    async def may_decide(self, release_id: int, user: str) -> Outcome[ReleaseRecord]:
        """Whether `user` may decide this release now (asked before the reason modal opens)."""
        who = await self.roles.of(release_id, user)
        if isinstance(who, Refused):
            return Outcome.of(who.refusal)
        refused = lifecycle.may_decide(who.release.snapshot, who.actor, who.model.approval.rules)
        return Outcome.of(refused.refusal) if refused else Outcome.success(who.release)

    async def remind(self) -> None:
        """Scheduled: nudge approvers who have not answered, once per `remind_every` waited.

        A release whose reminders of its current turn are already queued is left alone, as
        one read finds: with two thousand releases awaiting approval, every run (one comes
        due every few seconds, and a restarted process runs at once) opened a write
        transaction per release to find its reminders there. A release with nobody to remind
        (its approvers' group could not be read, or is only its owner) is not nudged; one
        whose nudge queued nothing is tried again on the next run. The outbox's unique keys
        keep each reminder once when replicas run it together."""
        now = self.clock()
        async with self.uow(read_only=True) as uow:
            waiting = await uow.approvals.awaiting_since(None)
        due: list[tuple[int, ReleaseModel, frozenset[str], int]] = []
        approvers: dict[tuple[str, str | None], frozenset[str]] = {}
        for release_id, key, version, owner, submitted_at in waiting:
            # The release's own version says whether and how often its approvers are nudged.
            model = await self.versions.kept(key, version)
            every = model.approval.remind_every if model else None
            if model is None or every is None:
                continue
            turn = int((now - submitted_at) / every)
            if turn < 1:
                continue
            if (key, version) not in approvers:
                approvers[(key, version)] = await self.approvers(model)
            people = reminded(approvers[(key, version)], owner, model)
            if people:
                due.append((release_id, model, people, turn))
        keys = {release_id: {reminder_key(release_id, turn, person) for person in people}
                for release_id, _, people, turn in due}
        async with self.uow(read_only=True) as uow:
            queued = await uow.outbox.existing([key for some in keys.values() for key in some])
        for release_id, model, people, turn in due:
            if queued.isdisjoint(keys[release_id]):
                await self._nudge(release_id, model, people, turn, now)

    async def next_due(self, after: datetime) -> datetime | None:
        """The first moment after `after` an approver who has not answered is due a nudge."""
        async with self.uow(read_only=True) as uow:
            waiting = await uow.approvals.awaiting_since(None)
        moments: list[datetime] = []
        for _, key, version, _, submitted_at in waiting:
            model = await self.versions.kept(key, version)
            every = model.approval.remind_every if model else None
            if every:
                turn = max(int((after - submitted_at) / every) + 1, 1)
                moments.append(submitted_at + every * turn)
        return min(moments, default=None)

    async def _nudge(self, release_id: int, model: ReleaseModel, approvers: frozenset[str], turn: int,
                     now: datetime) -> None:
        async with self.uow() as uow:
            row = await uow.releases.get(release_id)
            if row is None or row.state != State.AWAITING_APPROVAL.value:
                return
            release = ReleaseRecord.from_row(row)
            decided = {a.approver for a in await uow.approvals.for_release(release_id)}
            waited = format_duration(model.approval.remind_every * turn) if model.approval.remind_every else ""
            for approver in sorted(reminded(approvers, release.owner, model) - decided):
                await Message.post(channel=approver, rendered=approval_reminder(release, model, waited),
                                   dedupe_key=reminder_key(release.id, turn, approver),
                                   release_id=release.id).enqueue(uow, now)
            await uow.commit()


def reminded(approvers: frozenset[str], owner: str, model: ReleaseModel) -> frozenset[str]:
    """Who is nudged while a release waits: its approvers, but not its owner unless the
    model lets owners approve their own releases."""
    return approvers if model.approval.self_approval else approvers - {owner}


def reminder_key(release_id: int, turn: int, approver: str) -> str:
    """The outbox key of one approver's reminder for one turn of waiting: queued once."""
    return f"REL-{release_id}:approval-reminder:{turn}:{approver}"


async def _record(uow: UnitOfWork, release: ReleaseRecord, decision: lifecycle.Decision, approver: str,
                  kind: str, reason: str | None, now: datetime) -> lifecycle.Decision:
    """Store the approver's decision once: the unique key, not this check, keeps it once."""
    if isinstance(decision, Refused):
        return decision
    if not await uow.approvals.add(release.id, approver, kind, now, reason):
        return Refused("already_decided", f"You have already decided on {release.ref}; each approver counts once.")
    return decision


class ApprovalRequests:
    """Followers: the approval request in the model's approval channel, and the owner's notice."""

    def __init__(self, versions: ModelVersions, clash_finder: ClashFinder | None = None):
        self.versions = versions
        self.clash_finder = clash_finder

    async def _clashes(self, uow: UnitOfWork, release: ReleaseRecord) -> WindowClashes | None:
        if self.clash_finder is None or release.state is not State.AWAITING_APPROVAL:
            return None
        return await self.clash_finder.of(uow, release)

    async def follow(self, uow: UnitOfWork, release: ReleaseRecord, event: Event, now: datetime) -> None:
        """Post the approval request on submission; keep it current as decisions arrive."""
        model = await self.versions.for_release(release, uow)
        if model is None or model.approval.pre_authorized:
            return  # a pre-authorized model asks nobody (bot/standard_changes.py)
        if event.kind is EventKind.SUBMITTED:
            rendered = approval_request(release, model, [], clashes=await self._clashes(uow, release))
            await Message.post(channel=model.approval.channel, rendered=rendered,
                               anchor=approval_anchor(release.id), dedupe_key=f"{release.ref}:approval:post",
                               release_id=release.id, notify_user=release.owner).enqueue(uow, now)
            return
        if release.state is State.PLANNED or (
                event.kind is EventKind.CANCELLED and event.data.get("from") == State.PLANNED.value):
            return  # never submitted: there is no request to update
        decisions = [ApprovalRecord.from_row(a) for a in await uow.approvals.for_release(release.id)]
        reason = str(event.data.get("reason")) if event.kind is EventKind.CANCELLED else None
        history = [EventRecord.from_row(e) for e in await uow.events.for_release(release.id)]
        rendered = approval_request(release, model, decisions, cancel_reason=reason, history=history,
                                    clashes=await self._clashes(uow, release))
        await Message.update(channel=model.approval.channel, rendered=rendered, anchor=approval_anchor(release.id),
                             dedupe_key=f"{release.ref}:approval:v{release.version}", release_id=release.id,
                             notify_user=release.owner).enqueue(uow, now)

    async def tell_owner(self, uow: UnitOfWork, release: ReleaseRecord, event: Event, now: datetime) -> None:
        """The approvers' decision, when approvers made it (not when releasebot moved it)."""
        decisions = [ApprovalRecord.from_row(a) for a in await uow.approvals.for_release(release.id)]
        if not decisions:
            return
        key = f"{release.ref}:decision:{release.state.value}"
        notice = owner_notice(release, decisions)
        if not await Message.post(channel=release.owner, rendered=notice, dedupe_key=key,
                                  release_id=release.id).enqueue(uow, now):
            # Decided again after the approvals were withdrawn (a changed plan): once per version.
            await Message.post(channel=release.owner, rendered=notice, dedupe_key=f"{key}:v{release.version}",
                               release_id=release.id).enqueue(uow, now)
