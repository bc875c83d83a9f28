"""Queries over the release model versions: insert-or-ignore (one row per distinct content,
whoever stores it first), the latest known version of a model, and giving the releases
planned before versions were kept the version of their model."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.repositories import insert_ignoring_conflicts
from storage.tables import ModelVersionRow, ReleaseRow


class ModelVersionRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add(self, model_key: str, version: str, content: str, now: datetime) -> bool:
        """Store a version; False when it was stored before (by this process or another)."""
        values = {"model_key": model_key, "version": version, "content": content, "first_seen_at": now}
        stmt = insert_ignoring_conflicts(self.session, ModelVersionRow, values, ["model_key", "version"])
        result = await self.session.execute(stmt.returning(ModelVersionRow.id))
        return result.scalar_one_or_none() is not None

    async def get(self, model_key: str, version: str) -> ModelVersionRow | None:
        result = await self.session.execute(
            select(ModelVersionRow).where(ModelVersionRow.model_key == model_key, ModelVersionRow.version == version))
        return result.scalar_one_or_none()

    async def keys(self) -> list[tuple[str, str]]:
        """Every stored (model, version), oldest first."""
        result = await self.session.execute(
            select(ModelVersionRow.model_key, ModelVersionRow.version).order_by(ModelVersionRow.id))
        return [(str(k), str(v)) for k, v in result.all()]

    async def latest(self, model_key: str) -> ModelVersionRow | None:
        """The version of `model_key` stored last, or None for a model never seen."""
        result = await self.session.execute(
            select(ModelVersionRow).where(ModelVersionRow.model_key == model_key)
            .order_by(ModelVersionRow.id.desc()).limit(1))
        return result.scalar_one_or_none()

    async def give_unversioned(self, model_key: str, version: str) -> int:
        """Releases of `model_key` planned before versions were kept get `version`."""
        result = await self.session.execute(
            update(ReleaseRow).where(ReleaseRow.model_key == model_key, ReleaseRow.model_version.is_(None))
            .values(model_version=version))
        return int(result.rowcount)  # type: ignore[attr-defined]
