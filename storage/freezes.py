"""Queries over the freezes of the change schedule and their event log. Rows only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.changes import note
from storage.tables import FreezeEventRow, FreezeRow


class FreezeRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add(self, values: dict[str, Any]) -> FreezeRow:
        note(self.session, None)  # a held gate of any release may now wait for it
        row = FreezeRow(**values)
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, freeze_id: int, for_update: bool = False) -> FreezeRow | None:
        stmt = select(FreezeRow).where(FreezeRow.id == freeze_id).execution_options(populate_existing=True)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def overlapping(self, start: datetime, end: datetime, limit: int = 500) -> list[FreezeRow]:
        """Freezes in force at some moment of [start, end), soonest first (`start == end`: at
        that moment)."""
        stmt = select(FreezeRow).where(FreezeRow.ends_at > start)
        stmt = stmt.where(FreezeRow.starts_at <= start) if start == end else stmt.where(FreezeRow.starts_at < end)
        result = await self.session.execute(stmt.order_by(FreezeRow.starts_at, FreezeRow.id).limit(limit))
        return list(result.scalars())

    async def end(self, freeze_id: int, now: datetime, ends_at: datetime, by: str) -> bool:
        """End a freeze early (at `ends_at`: now, or its start if it has not begun); False when
        it had already ended (of two racing, one wins)."""
        note(self.session, None)
        result = await self.session.execute(
            update(FreezeRow).where(FreezeRow.id == freeze_id, FreezeRow.ends_at > now, FreezeRow.ended_at.is_(None))
            .values(ends_at=ends_at, ended_at=now, ended_by=by)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def append_event(self, freeze_id: int, kind: str, actor: str | None, at: datetime,
                           data: dict[str, Any] | None = None) -> None:
        self.session.add(FreezeEventRow(freeze_id=freeze_id, kind=kind, actor=actor, at=at, data=data or {}))
        await self.session.flush()

    async def events(self, freeze_id: int) -> list[FreezeEventRow]:
        result = await self.session.execute(
            select(FreezeEventRow).where(FreezeEventRow.freeze_id == freeze_id).order_by(FreezeEventRow.id))
        return list(result.scalars())
