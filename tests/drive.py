"""Moves releases through the lifecycle the way the use cases of later issues will: a
decision of `bot.lifecycle`, stored by `Transitions.run`. Approvals, verification and
execution are built elsewhere; until they land, tests of what transitions *cause* use these."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot import lifecycle
from bot.lifecycle import Actor, ApprovalRules, Decision, Release, Role, Stage
from bot.records import ReleaseRecord
from bot.releases import PlanDraft
from handlers.app import Releasebot

OWNER_ROLES = frozenset({Role.OWNER})
APPROVER_ROLES = frozenset({Role.APPROVER})


async def decide(bot: Releasebot, release_id: int, decision: Callable[[Release, datetime], Decision]) -> ReleaseRecord:
    async def decide(uow: object, release: ReleaseRecord, now: datetime) -> Decision:
        return decision(release.snapshot, now)

    outcome = await bot.services.releases.transitions.run(release_id, decide)
    assert outcome.ok, outcome.refusal
    return outcome.unwrap()


def draft(model: str, start: datetime, *, title: str = "Payments API 2.3", owner: str = "UALICE",
          components: tuple[str, ...] = ("payments-api",), hours: int = 1) -> PlanDraft:
    """What the planning modal would collect, for planning straight through the service."""
    return PlanDraft(model_key=model, title=title, planned_start=start, planned_end=start + timedelta(hours=hours),
                     components=components, change_ref="", description="", owner=owner, channel_id="C0RELEASES")


def _owner(release: Release) -> Actor:
    return Actor(release.owner, OWNER_ROLES)


async def submit(bot: Releasebot, release_id: int) -> ReleaseRecord:
    return await decide(bot, release_id, lambda r, now: lifecycle.submit(r, _owner(r), now))


async def approve(bot: Releasebot, release_id: int, by: str = "UBOB") -> ReleaseRecord:
    """Submit (if planned) and approve with one approval: the quorum the approvals issue counts."""
    record = await bot.services.releases.get(release_id)
    assert record is not None
    if record.state == "planned":
        await submit(bot, release_id)
    return await decide(bot, release_id, lambda r, now: lifecycle.approve(
        r, Actor(by, APPROVER_ROLES), ApprovalRules(quorum=1), frozenset(), now))


async def reject(bot: Releasebot, release_id: int, reason: str = "Not now", by: str = "UBOB") -> ReleaseRecord:
    return await decide(bot, release_id, lambda r, now: lifecycle.reject(
        r, Actor(by, APPROVER_ROLES), ApprovalRules(), reason, now))


async def ready(bot: Releasebot, release_id: int) -> ReleaseRecord:
    return await decide(bot, release_id, lambda r, now: lifecycle.verify(
        r, _owner(r), Stage.COMPONENTS, {"checked": True}, ["checked"], now))


async def start(bot: Releasebot, release_id: int) -> ReleaseRecord:
    """Start execution, approving and verifying first as needed."""
    record = await bot.services.releases.get(release_id)
    assert record is not None
    if record.state in ("planned", "awaiting_approval"):
        record = await approve(bot, release_id)
    if record.state == "approved":
        await ready(bot, release_id)
    return await decide(bot, release_id, lambda r, now: lifecycle.start(r, _owner(r), [], now))


async def release(bot: Releasebot, release_id: int, passed: bool = True) -> ReleaseRecord:
    """Record the release verification: released when it passed, failed when not."""
    record = await bot.services.releases.get(release_id)
    assert record is not None
    if record.state != "executing":
        await start(bot, release_id)
    return await decide(bot, release_id, lambda r, now: lifecycle.verify(
        r, _owner(r), Stage.RELEASE, {"Smoke tests pass": passed}, ["Smoke tests pass"], now))


async def rollback(bot: Releasebot, release_id: int, reason: str = "Errors rose") -> ReleaseRecord:
    return await decide(bot, release_id, lambda r, now: lifecycle.rollback(r, _owner(r), reason, now))


async def cancel(bot: Releasebot, release_id: int, reason: str = "Freeze") -> ReleaseRecord:
    return await decide(bot, release_id, lambda r, now: lifecycle.cancel(r, _owner(r), reason, now))
