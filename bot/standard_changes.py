"""Standard, pre-authorized changes (DESIGN.md §7): a release model with
`approval: {pre_authorized: true}` needs no person to approve. Its submitted release is
approved at once by releasebot, and the record says so twice over: a `pre_authorized` event,
then `approved` (with `pre_authorized: true`), after which everything that follows approval
follows (the card, the communication plan, ready at once when nothing is to verify)."""

from __future__ import annotations

from datetime import datetime

from bot import lifecycle
from bot.lifecycle import Event, EventKind, Moved
from bot.model_versions import ModelVersions
from bot.records import ReleaseRecord
from bot.transitions import FollowerRun
from storage.uow import UnitOfWork


def pre_authorize(versions: ModelVersions) -> FollowerRun:
    """Follows submission: approve a release whose model (as it keeps it) is pre-authorized."""
    async def follow(uow: UnitOfWork, release: ReleaseRecord, event: Event, now: datetime) -> lifecycle.Decision | None:
        model = await versions.for_release(release, uow)
        if model is None or not model.approval.pre_authorized:
            return None
        decision = lifecycle.pre_authorize(release.snapshot, now)
        if not isinstance(decision, Moved):
            return None
        await uow.events.append(release.id, EventKind.PRE_AUTHORIZED.value, None, now,
                                {"submitted_by": event.actor, "model": release.model_ref})
        return decision

    return follow
