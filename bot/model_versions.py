"""Release model versions (DESIGN.md §6): a release keeps the model as it was when it was
planned.

Each distinct content of a model file is stored once (`model_versions`), and a release
names the version it was planned with. Every rule of a release — approvers, quorum,
self-approval, criteria, communication plan, reminders, survey — is read from that version
through `for_release`, so editing or deleting a file changes no release in flight; new
releases use the file as loaded now. Versions never change, so they are cached in memory
for good once read.

When `serve` starts, `sync` stores the versions it loaded and, for a model it knew under
another version, queues one notice to the model's audience saying what changed (release
model communication). The notice's dedupe key is the model and the new version, and the
version row is inserted-or-ignored, so replicas starting together post it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot.catalog import Catalog, ReleaseModel, parse_model
from bot.clock import Clock
from bot.model_changes import Change, changes
from bot.outbox import Message
from bot.records import ReleaseRecord
from bot.rendering.models import version_notice
from storage.uow import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionChange:
    """A model loaded now under a version it was not known by: what a notice says."""

    key: str
    name: str
    old: str
    new: str
    #: Where the notice goes: the model's communications channel (else its approval channel).
    channel: str
    lines: list[Change]


class ModelVersions:
    def __init__(self, uow: UnitOfWorkFactory, catalog: Catalog, clock: Clock):
        self.uow = uow
        self.catalog = catalog
        self.clock = clock
        self._cache: dict[tuple[str, str], ReleaseModel | None] = {}
        #: Versions known to be in `model_versions`, committed: rows are never deleted, so a
        #: release planned with one needs no insert-or-ignore of it any more.
        self._stored: set[tuple[str, str]] = set()
        for model in catalog:
            version = catalog.version(model.key)
            if version:
                self._cache[(model.key, version)] = model

    def current(self, key: str) -> str | None:
        """The version new releases of `key` are planned with (None: no such model now)."""
        return self.catalog.version(key)

    async def get(self, key: str, version: str, uow: UnitOfWork | None = None) -> ReleaseModel | None:
        """A stored version of a model (None if it was never stored or no longer validates)."""
        if (key, version) in self._cache:
            return self._cache[(key, version)]
        if uow is None:
            async with self.uow(read_only=True) as own:
                row = await own.model_versions.get(key, version)
        else:
            row = await uow.model_versions.get(key, version)
        if row is None:
            return None  # not cached: another replica may store it yet
        model = parse_model(row.content)
        if model is None:
            log.error("release model %s@%s is stored but no longer valid", key, version)
        self._cache[(key, version)] = model
        return model

    async def for_release(self, release: ReleaseRecord, uow: UnitOfWork | None = None) -> ReleaseModel | None:
        """The release model of this release: the version it was planned with. A release
        planned before versions were kept, whose file was gone when they began, has only the
        file (if it comes back)."""
        return await self.kept(release.model_key, release.model_version, uow)

    async def kept(self, key: str, version: str | None, uow: UnitOfWork | None = None) -> ReleaseModel | None:
        """The model a release keeps, from its key and version (None: planned before versions
        were kept), for callers that read only those columns."""
        if version is None:
            return self.catalog.get(key)
        return await self.get(key, version, uow)

    async def with_early_life_support(self, uow: UnitOfWork) -> list[tuple[str, str | None]]:
        """The stored versions (and, as None, the unversioned releases' current files) whose
        model gives early life support: only their releases need watching."""
        found: list[tuple[str, str | None]] = [
            (key, version) for key, version in await uow.model_versions.keys()
            if (model := await self.get(key, version, uow)) is not None and model.early_life_support]
        found += [(model.key, None) for model in self.catalog if model.early_life_support]
        return found

    async def remember(self, uow: UnitOfWork, key: str, now: datetime) -> str | None:
        """Store the current version of `key` (if it is not yet) in `uow`'s transaction, so a
        release that names it can always find it; returns the version."""
        source = self.catalog.sources.get(key)
        if source is None:
            return None
        if (key, source.version) not in self._stored and not await uow.model_versions.add(
                key, source.version, source.text, now):
            # Stored before: the conflicting row is committed (PostgreSQL waits for the
            # transaction that inserted it; SQLite has one writer), so it stays.
            self._stored.add((key, source.version))
        return source.version

    async def sync(self) -> list[VersionChange]:
        """At start: store the loaded versions, give unversioned releases their model's
        version, and queue a notice for each known model loaded under a new version."""
        now = self.clock()
        announced: list[VersionChange] = []
        async with self.uow() as uow:
            for model in self.catalog:  # sorted by key: replicas insert in one order
                source = self.catalog.sources.get(model.key)
                if source is None:
                    continue
                change = await self._compare(uow, model, source.version)
                if await uow.model_versions.add(model.key, source.version, source.text, now) and change:
                    await Message.post(
                        channel=change.channel,
                        rendered=version_notice(change.key, change.name, change.old, change.new, change.lines),
                        dedupe_key=f"model:{change.key}:{change.new}:notice",
                    ).enqueue(uow, now)
                    announced.append(change)
                    log.info("release model %s changed: %s → %s", model.key, change.old, change.new)
                given = await uow.model_versions.give_unversioned(model.key, source.version)
                if given:
                    log.info("%d release(s) of %s now keep version %s", given, model.key, source.version)
            await uow.commit()
        self._stored.update((key, source.version) for key, source in self.catalog.sources.items())
        return announced

    async def pending(self) -> list[VersionChange | str]:
        """What `sync` would announce, without storing anything (`releasebot models check`):
        a change per model loaded under a new version, or a sentence for a model never seen."""
        found: list[VersionChange | str] = []
        async with self.uow(read_only=True) as uow:
            for model in self.catalog:
                version = self.catalog.version(model.key)
                if version is None:
                    continue
                if await uow.model_versions.get(model.key, version) is not None:
                    continue
                change = await self._compare(uow, model, version)
                found.append(change or f"{model.key}@{version}: a release model the database has not seen")
        return found

    async def _compare(self, uow: UnitOfWork, model: ReleaseModel, version: str) -> VersionChange | None:
        """The change from the version stored last, or None (never seen, or the same)."""
        latest = await uow.model_versions.latest(model.key)
        if latest is None or latest.version == version:
            return None
        old = await self.get(model.key, latest.version, uow)
        lines = changes(old, model) if old else [Change("the previous version no longer validates")]
        channel = model.communications.channel if model.communications else model.approval.channel
        return VersionChange(model.key, model.name, latest.version, version, channel, lines)
