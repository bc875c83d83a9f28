"""Who a person is for a release — its owner, an approver of its release model, both or
neither — worked out before any lock is taken (user groups may need a Slack lookup)."""

from __future__ import annotations

from bot.catalog import ReleaseModel
from bot.directory import Directory, resolve
from bot.lifecycle import Actor, Role
from bot.releases import ReleaseService, no_such_release


async def actor_for(releases: ReleaseService, directory: Directory, release_id: int,
                    user: str) -> tuple[Actor, ReleaseModel] | str:
    """The actor and the release model, or a sentence saying why there is none."""
    release = await releases.get(release_id)
    if release is None:
        return no_such_release(release_id)
    model = releases.catalog.get(release.model_key)
    if model is None:
        return (f"{release.ref} uses the release model `{release.model_key}`, which is no longer in the "
                "catalog; ask an administrator to restore it.")
    roles = set()
    if user == release.owner:
        roles.add(Role.OWNER)
    if user in await resolve(directory, model.approval.approvers):
        roles.add(Role.APPROVER)
    return Actor(user, frozenset(roles)), model
