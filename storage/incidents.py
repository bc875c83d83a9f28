"""Incidents related to releases: the links, and the counts the key metrics read.

Kept as plain queries in their own functions, over the incidents table and its indexes
(`uq_incidents_release_ref` leads with release_id, so a cohort of releases joins its
incidents by index), so that a faster metrics store can fold them in as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.repositories import insert_ignoring_conflicts
from storage.tables import IncidentRow, ReleaseRow


@dataclass(frozen=True)
class IncidentFigures:
    """Incidents linked to the releases of a cohort, and how many releases have at least one."""

    incidents: int
    releases_with: int


class IncidentRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add(self, values: dict[str, Any]) -> IncidentRow | None:
        """Link an incident; None when this release already has this reference (the unique
        key decides, so two requests at once link it once)."""
        stmt = insert_ignoring_conflicts(self.session, IncidentRow, values, ["release_id", "ref"])
        new_id = (await self.session.execute(stmt.returning(IncidentRow.id))).scalar_one_or_none()
        if new_id is None:
            return None
        return await self.session.get(IncidentRow, new_id)

    async def for_release(self, release_id: int) -> list[IncidentRow]:
        result = await self.session.execute(
            select(IncidentRow).where(IncidentRow.release_id == release_id).order_by(IncidentRow.id))
        return list(result.scalars())

    async def for_releases(self, release_ids: list[int]) -> list[IncidentRow]:
        if not release_ids:
            return []
        result = await self.session.execute(
            select(IncidentRow).where(IncidentRow.release_id.in_(release_ids)).order_by(IncidentRow.id))
        return list(result.scalars())

    async def cohort(self, since: datetime, until: datetime, model_key: str | None) -> IncidentFigures:
        return await cohort_incidents(self.session, since, until, model_key)

    async def by_model(self, since: datetime, until: datetime) -> dict[str, IncidentFigures]:
        return await incidents_by_model(self.session, since, until)


def _cohort(since: datetime, until: datetime, model_key: str | None) -> list[Any]:
    conditions: list[Any] = [ReleaseRow.created_at >= since, ReleaseRow.created_at <= until]
    if model_key:
        conditions.append(ReleaseRow.model_key == model_key)
    return conditions


async def cohort_incidents(session: AsyncSession, since: datetime, until: datetime,
                           model_key: str | None) -> IncidentFigures:
    """Incidents of the releases created in [since, until] (of one release model or all)."""
    count, releases = (await session.execute(
        select(func.count(IncidentRow.id), func.count(distinct(IncidentRow.release_id)))
        .select_from(ReleaseRow).join(IncidentRow, IncidentRow.release_id == ReleaseRow.id)
        .where(*_cohort(since, until, model_key))
    )).one()
    return IncidentFigures(int(count), int(releases))


async def incidents_by_model(session: AsyncSession, since: datetime, until: datetime) -> dict[str, IncidentFigures]:
    """`cohort_incidents` per release model, for the models that have any."""
    rows = (await session.execute(
        select(ReleaseRow.model_key, func.count(IncidentRow.id), func.count(distinct(IncidentRow.release_id)))
        .select_from(ReleaseRow).join(IncidentRow, IncidentRow.release_id == ReleaseRow.id)
        .where(*_cohort(since, until, None)).group_by(ReleaseRow.model_key)
    )).all()
    return {str(key): IncidentFigures(int(n), int(r)) for key, n, r in rows}
