"""Queries behind a person's App Home: the releases waiting for their decision.

Who is an approver of which release model is worked out above (user groups come from
Slack); here the database picks the releases awaiting approval of those models that the
person has not decided, newest first and capped, with the total for "…and N more".
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import ApprovalRow, ReleaseRow


class HomeQueries:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def awaiting_decision(
        self, user: str, state: str, model_keys: Collection[str], own_allowed: Collection[str], limit: int
    ) -> tuple[list[ReleaseRow], int]:
        """Releases in `state` of `model_keys` that `user` has not decided yet; their own
        releases only for models in `own_allowed` (self-approval). Newest first, and the total."""
        if not model_keys:
            return [], 0
        decided = exists().where(ApprovalRow.release_id == ReleaseRow.id, ApprovalRow.approver == user)
        conditions: list[Any] = [
            ReleaseRow.state == state,
            ReleaseRow.model_key.in_(sorted(model_keys)),
            ~decided,
        ]
        if own_allowed:
            conditions.append(or_(ReleaseRow.owner != user, ReleaseRow.model_key.in_(sorted(own_allowed))))
        else:
            conditions.append(ReleaseRow.owner != user)
        rows = await self.session.execute(
            select(ReleaseRow).where(*conditions).order_by(ReleaseRow.id.desc()).limit(limit))
        total = (await self.session.execute(select(func.count()).select_from(ReleaseRow).where(*conditions)))
        return list(rows.scalars()), int(total.scalar_one())
