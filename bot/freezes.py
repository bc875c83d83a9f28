"""Freezes of the change schedule (DESIGN.md §8): one-off `FRZ-n` records and recurring
blackouts from `freezes.yaml`, as one list of occurrences. Slack-free.

`FreezeService.in_force(model_key, at)` is what every surface asks before execution starts
(the Slack `start`, the pipeline API's gate): the freezes in force for a release model at a
moment, soonest ending first. Creating and ending a freeze are events of the freeze's own
log (`freeze_events`); overriding one is an event of the release that started
(`freeze_overridden`), where its record and review show it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.blackouts import Blackout
from bot.catalog import Catalog
from bot.clock import Clock
from bot.freeze_input import FreezeRequest, parse_freeze, shown
from bot.lifecycle import Actor, FreezeInForce, Role, may_freeze
from bot.outcome import Outcome
from bot.roles import Roles
from storage.tables import FreezeRow
from storage.uow import UnitOfWork, UnitOfWorkFactory

_REF = re.compile(r"^(?:frz-?)?(\d{1,12})$", re.IGNORECASE)
#: How far ahead `/release freezes` looks for the next occurrence of a recurring blackout.
BLACKOUT_LOOKAHEAD = timedelta(days=14)


def parse_freeze_ref(text: str) -> int | None:
    """`FRZ-3`, `frz-3` or `3` → 3; anything else → None."""
    match = _REF.match(text.strip())
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Freeze:
    """A one-off freeze, or one occurrence of a recurring blackout; times are UTC."""

    ref: str                          # FRZ-n, or the blackout's name
    reason: str
    start: datetime
    end: datetime
    models: tuple[str, ...] | None    # None: every release model
    recurring: bool = False
    id: int | None = None
    created_by: str | None = None
    ended_by: str | None = None

    def applies_to(self, model_key: str | None) -> bool:
        return model_key is None or self.models is None or model_key in self.models

    def in_force(self, at: datetime) -> bool:
        return self.start <= at < self.end

    @property
    def uid(self) -> str:
        """Stable across feeds, so calendar apps update an event rather than add another."""
        if self.recurring:
            slug = re.sub(r"[^a-z0-9]+", "-", self.ref.lower()).strip("-") or "blackout"
            return f"blackout-{slug}-{self.start:%Y%m%dT%H%MZ}@releasebot"
        return f"{self.ref.lower()}@releasebot"

    def for_rules(self, zone: ZoneInfo) -> FreezeInForce:
        return FreezeInForce(self.ref, self.reason, self.start.astimezone(zone), self.end.astimezone(zone),
                             self.recurring)

    @classmethod
    def from_row(cls, row: FreezeRow) -> Freeze:
        return cls(f"FRZ-{row.id}", row.reason, row.starts_at, row.ends_at,
                   tuple(row.models) if row.models is not None else None, False, row.id, row.created_by,
                   row.ended_by)

    @classmethod
    def occurrence(cls, blackout: Blackout, start: datetime, end: datetime) -> Freeze:
        return cls(blackout.name, blackout.reason or blackout.name, start, end,
                   tuple(blackout.models) if blackout.models is not None else None, recurring=True)


class FreezeService:
    def __init__(self, uow: UnitOfWorkFactory, catalog: Catalog, clock: Clock, roles: Roles,
                 blackouts: Sequence[Blackout] = (), zone: ZoneInfo | None = None):
        self.uow = uow
        self.catalog = catalog
        self.clock = clock
        self.roles = roles
        self.blackouts = list(blackouts)
        self.zone = zone or ZoneInfo("UTC")

    # -- queries ---------------------------------------------------------------------------

    async def in_force(self, model_key: str, at: datetime | None = None) -> list[Freeze]:
        """The freezes in force for `model_key` at `at` (now if None), soonest ending first.
        The pipeline API's gate asks this; `retry_after` is until the last of them ends."""
        moment = at or self.clock()
        async with self.uow(read_only=True) as uow:
            return await self.in_force_within(uow, model_key, moment)

    async def in_force_within(self, uow: UnitOfWork, model_key: str, at: datetime) -> list[Freeze]:
        """As `in_force`, read in the caller's transaction (a start decides with the row locked)."""
        found = [f for f in await self.overlapping_within(uow, model_key, at, at) if f.in_force(at)]
        return sorted(found, key=lambda f: (f.end, f.ref))

    async def overlapping(self, model_key: str | None, start: datetime, end: datetime) -> list[Freeze]:
        async with self.uow(read_only=True) as uow:
            return await self.overlapping_within(uow, model_key, start, end)

    async def overlapping_within(self, uow: UnitOfWork, model_key: str | None, start: datetime,
                                 end: datetime) -> list[Freeze]:
        """Freezes (for `model_key`, or all when None) in force at some moment of [start, end),
        soonest first: the one-off records and the blackouts' occurrences."""
        found = [Freeze.from_row(row) for row in await uow.freezes.overlapping(start, end)]
        for blackout in self.blackouts:
            found += [Freeze.occurrence(blackout, s, e) for s, e in blackout.occurrences(start, end)
                      if s < end or (start == end and s <= start)]
        return sorted((f for f in found if f.applies_to(model_key) and f.end > f.start),
                      key=lambda f: (f.start, f.ref))

    async def current_and_coming(self) -> list[Freeze]:
        """`/release freezes`: every one-off freeze not ended, and each blackout's occurrences
        in force now or in the next two weeks."""
        now = self.clock()
        async with self.uow(read_only=True) as uow:
            rows = await uow.freezes.overlapping(now, now + timedelta(days=3650))
        found = [Freeze.from_row(row) for row in rows]
        for blackout in self.blackouts:
            found += [Freeze.occurrence(blackout, s, e) for s, e in blackout.occurrences(now, now + BLACKOUT_LOOKAHEAD)]
        return sorted(found, key=lambda f: (f.start, f.ref))

    # -- commands --------------------------------------------------------------------------

    async def freeze(self, user: str, words: Sequence[str]) -> Outcome[Freeze]:
        """`/release freeze START END REASON… [models=…]` by a release manager → `FRZ-n`."""
        if refused := await self._may_freeze(user):
            return refused
        now = self.clock()
        request = parse_freeze(words, now, self.zone, self.catalog.keys)
        if isinstance(request, dict):
            return Outcome.invalid(request)
        return await self.create(user, request)

    async def create(self, user: str, request: FreezeRequest) -> Outcome[Freeze]:
        """Record a freeze already read and checked, for a `user` already allowed to freeze:
        a release manager (`freeze`), or a pipeline token created with `--freezes` (the API)."""
        now = self.clock()
        async with self.uow() as uow:
            row = await uow.freezes.add({
                "starts_at": request.start, "ends_at": request.end, "reason": request.reason,
                "models": list(request.models) if request.models is not None else None,
                "created_by": user, "created_at": now,
            })
            await uow.freezes.append_event(row.id, "created", user, now, {
                "start": request.start.isoformat(), "end": request.end.isoformat(), "reason": request.reason,
                "models": list(request.models) if request.models is not None else None,
            })
            freeze = Freeze.from_row(row)
            await uow.commit()
        return Outcome.success(freeze, created=True)

    async def unfreeze(self, user: str, ref: str) -> Outcome[Freeze]:
        """End a one-off freeze now (or call off one that has not started)."""
        if refused := await self._may_freeze(user):
            return refused
        freeze_id = parse_freeze_ref(ref)
        if freeze_id is None:
            return Outcome.refuse("no_such_freeze", f"“{ref}” is not a freeze; freezes are named like FRZ-3.")
        now = self.clock()
        async with self.uow() as uow:
            row = await uow.freezes.get(freeze_id, for_update=True)
            if row is None:
                return Outcome.refuse("no_such_freeze", f"There is no FRZ-{freeze_id}.")
            was = Freeze.from_row(row)
            ends = max(now, row.starts_at)
            if row.ended_at is not None or row.ends_at <= now or not await uow.freezes.end(freeze_id, now, ends, user):
                return Outcome.refuse("already_ended", f"FRZ-{freeze_id} has already ended "
                                                       f"({shown(was.end, self.zone)}).")
            await uow.freezes.append_event(freeze_id, "ended", user, now, {
                "planned_end": was.end.isoformat(), "early": True, "started": row.starts_at <= now})
            row = await uow.freezes.get(freeze_id)
            assert row is not None
            freeze = Freeze.from_row(row)
            await uow.commit()
        return Outcome.success(freeze)

    async def _may_freeze(self, user: str) -> Outcome[Freeze] | None:
        roles = frozenset({Role.MANAGER}) if await self.roles.is_manager(user) else frozenset()
        refused = may_freeze(Actor(user, roles), self.roles.managers)
        return Outcome.of(refused.refusal) if refused else None
