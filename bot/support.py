"""Early life support of a release (DESIGN.md §9): when it ends, read from the release model
as the release keeps it and from the release's first `released` event. Slack-free; used by
the card, the record, incident links and the watch that ends it."""

from __future__ import annotations

from datetime import datetime

from bot import lifecycle
from bot.model_versions import ModelVersions
from bot.records import ReleaseRecord
from storage.uow import UnitOfWork


async def support_end(uow: UnitOfWork, versions: ModelVersions, release: ReleaseRecord) -> datetime | None:
    """When the release's early life support ends (or ended): None when its model (as the
    release keeps it) has none, or it was never released."""
    model = await versions.for_release(release, uow)
    if model is None or model.early_life_support is None:
        return None
    return lifecycle.support_until(await uow.model_review.released_at(release.id), model.early_life_support)
