"""Who a person is for a release — its owner, an approver of its release model, both or
neither — worked out before any lock is taken (user groups may need a Slack lookup, which
must not hold a database lock)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.catalog import Catalog, ReleaseModel
from bot.directory import Directory, resolve
from bot.lifecycle import Actor, Refused, Role, model_missing, no_such_release
from bot.records import ReleaseRecord
from storage.uow import UnitOfWorkFactory


@dataclass(frozen=True)
class Who:
    actor: Actor
    model: ReleaseModel
    release: ReleaseRecord


class Roles:
    def __init__(self, uow: UnitOfWorkFactory, catalog: Catalog, directory: Directory,
                 managers: tuple[str, ...] = ()):
        self.uow = uow
        self.catalog = catalog
        self.directory = directory
        #: `RELEASEBOT_MANAGERS` as configured (users and user groups).
        self.managers = managers

    async def is_manager(self, user: str) -> bool:
        return bool(self.managers) and user in await resolve(self.directory, self.managers)

    async def approvers(self, model: ReleaseModel) -> frozenset[str]:
        return await resolve(self.directory, model.approval.approvers)

    async def of(self, release_id: int, user: str) -> Who | Refused:
        """The actor, the release model and the release as read now; or why there is none."""
        async with self.uow(read_only=True) as uow:
            row = await uow.releases.get(release_id)
        if row is None:
            return no_such_release(release_id)
        release = ReleaseRecord.from_row(row)
        model = self.catalog.get(release.model_key)
        if model is None:
            return model_missing(release.snapshot)
        roles = set()
        if user == release.owner:
            roles.add(Role.OWNER)
        if user in await self.approvers(model):
            roles.add(Role.APPROVER)
        if await self.is_manager(user):
            roles.add(Role.MANAGER)
        return Who(Actor(user, frozenset(roles)), model, release)
