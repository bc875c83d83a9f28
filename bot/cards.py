"""The release card: posted where the release was planned, then kept current in place, one
version per change of the release (the outbox never lets an older version replace a newer)."""

from __future__ import annotations

from datetime import datetime

from bot.lifecycle import Event
from bot.model_versions import ModelVersions
from bot.outbox import Message, card_anchor
from bot.records import ReleaseRecord, VerificationRecord
from bot.rendering.messages import release_card
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

    async def refresh(self, uow: UnitOfWork, release: ReleaseRecord, event: Event | None, now: datetime) -> None:
        """Follows every event: queue the card's update to the release as it now is."""
        verifications = [VerificationRecord.from_row(v) for v in await uow.verifications.for_release(release.id)]
        await Message.update(
            channel=release.channel_id,
            rendered=release_card(release, await self.versions.for_release(release, uow), verifications),
            anchor=card_anchor(release.id), dedupe_key=f"{release.ref}:card:v{release.version}",
            release_id=release.id, notify_user=release.owner,
        ).enqueue(uow, now)
