"""Who a person is for a release — its owner, an approver of its release model (as the
release keeps it), a release manager, some or none of these — worked out before any lock
is taken (user groups may need a Slack lookup, which must not hold a database lock)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.catalog import ReleaseModel
from bot.directory import Directory, resolve
from bot.lifecycle import Actor, Refused, Role, is_pipeline, model_missing, no_such_release
from bot.model_versions import ModelVersions
from bot.records import ReleaseRecord
from storage.uow import UnitOfWorkFactory


@dataclass(frozen=True)
class Who:
    actor: Actor
    model: ReleaseModel
    release: ReleaseRecord


class Roles:
    def __init__(self, uow: UnitOfWorkFactory, versions: ModelVersions, directory: Directory,
                 managers: tuple[str, ...] = ()):
        self.uow = uow
        self.versions = versions
        self.directory = directory
        #: RELEASEBOT_MANAGERS as configured: users and user groups.
        self.managers = managers

    async def approvers(self, model: ReleaseModel) -> frozenset[str]:
        return await resolve(self.directory, model.approval.approvers)

    async def is_manager(self, user: str) -> bool:
        return bool(self.managers) and user in await resolve(self.directory, self.managers)

    async def may_plan(self, model: ReleaseModel, user: str) -> Refused | None:
        """Planners of the model (anyone when it names none) may plan releases of it."""
        if model.planners is None or user in await resolve(self.directory, model.planners):
            return None
        return Refused("not_allowed", f"Only the planners of {model.key} ({', '.join(model.planners)}) can plan "
                                      f"{model.name} releases; ask one of them.", tuple(model.planners))

    async def actor(self, user: str, release: ReleaseRecord, model: ReleaseModel | None) -> Actor:
        """The person's roles for `release` under `model` (the release's own version)."""
        roles = set()
        if is_pipeline(user):
            # A pipeline token: the API has checked it covers this release's model (403 else),
            # and a Slack user id never starts `token:`. Never an approver nor a manager.
            approvers = tuple(model.approval.approvers) if model else ()
            return Actor(user, frozenset({Role.PIPELINE}), approvers=approvers, managers=self.managers)
        if user == release.owner:
            roles.add(Role.OWNER)
        if model is not None and user in await self.approvers(model):
            roles.add(Role.APPROVER)
        if await self.is_manager(user):
            roles.add(Role.MANAGER)
        approvers = tuple(model.approval.approvers) if model else ()
        return Actor(user, frozenset(roles), approvers=approvers, managers=self.managers)

    async def general(self, user: str) -> Actor:
        """The person's roles where no release is concerned (freezes): a manager or nobody."""
        roles = frozenset({Role.MANAGER}) if await self.is_manager(user) else frozenset()
        return Actor(user, roles, managers=self.managers)

    async def of(self, release_id: int, user: str) -> Who | Refused:
        """The actor, the release model (the release's version) and the release as read now;
        or why there is none."""
        async with self.uow(read_only=True) as uow:
            row = await uow.releases.get(release_id)
            if row is None:
                return no_such_release(release_id)
            release = ReleaseRecord.from_row(row)
            model = await self.versions.for_release(release, uow)
        if model is None:
            return model_missing(release.snapshot)
        return Who(await self.actor(user, release, model), model, release)
