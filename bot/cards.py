"""The release card: posted where the release was planned, then kept current in place, one
version per change of the release (the outbox never lets an older version replace a newer)."""

from __future__ import annotations

from datetime import datetime

from bot.lifecycle import in_support
from bot.model_versions import ModelVersions
from bot.outbox import Message, card_anchor
from bot.records import IncidentRecord, ReleaseRecord, VerificationRecord
from bot.rendering.incidents import support_line
from bot.rendering.messages import release_card
from bot.support import support_end
from storage.uow import UnitOfWork


class ReleaseCards:
    def __init__(self, versions: ModelVersions):
        self.versions = versions

    async def post(self, uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> None:
        await Message.post(
            channel=release.channel_id, rendered=release_card(release, await self.versions.for_release(release, uow)),
            anchor=card_anchor(release.id), dedupe_key=f"{release.ref}:card:post", release_id=release.id,
            notify_user=release.owner,
        ).enqueue(uow, now)

    async def refresh(self, uow: UnitOfWork, release: ReleaseRecord, now: datetime) -> None:
        """At the end of every transaction that changed the release: queue the card's update
        to the release as it now is."""
        verifications = [VerificationRecord.from_row(v) for v in await uow.verifications.for_release(release.id)]
        incidents = [IncidentRecord.from_row(i) for i in await uow.incidents.for_release(release.id)]
        model = await self.versions.for_release(release, uow)
        support = None
        if model is not None and model.early_life_support is not None:
            until = await support_end(uow, self.versions, release)
            support = support_line(until, in_support(release.state, until, now))
        await Message.update(
            channel=release.channel_id,
            rendered=release_card(release, model, verifications, incidents=incidents, support=support),
            anchor=card_anchor(release.id), dedupe_key=f"{release.ref}:card:v{release.version}",
            release_id=release.id, notify_user=release.owner,
        ).enqueue(uow, now)
