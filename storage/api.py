"""Queries of the pipeline API (DESIGN.md §7): its tokens, its idempotent requests, and the
pages it reads (releases by cursor, the audit trail). Rows only: no rules."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.repositories import dialect_insert, insert_ignoring_conflicts
from storage.tables import ApiRequestRow, ApiTokenRow, ReleaseEventRow, ReleaseRow


@dataclass
class PendingClaim:
    """A POST's Idempotency-Key, to be claimed by the first unit of work of the request's own
    task (`task`) to commit, in that transaction (bot/idempotency.py says why)."""

    token: str
    key: str
    fingerprint: str
    at: datetime
    #: When the claim of an attempt that died was made: this one takes it over.
    stale_since: datetime | None
    task: asyncio.Task[Any] | None
    #: Committed: the key is this request's.
    claimed: bool = False


#: The key the request being served claims with its first commit (None outside a POST with a key).
#: Tasks the request starts inherit the variable; only the request's own task claims.
PENDING: ContextVar[PendingClaim | None] = ContextVar("releasebot_pending_claim", default=None)


class KeyTaken(Exception):
    """Another attempt under the same Idempotency-Key claimed it first: what this one did is
    rolled back, and it gets the first attempt's answer."""


class TokenRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add(self, values: dict[str, Any]) -> bool:
        """False when the name is taken (the unique key says so)."""
        stmt = insert_ignoring_conflicts(self.session, ApiTokenRow, values, ["name"])
        return (await self.session.execute(stmt.returning(ApiTokenRow.id))).scalar_one_or_none() is not None

    async def by_hash(self, token_hash: str) -> ApiTokenRow | None:
        stmt = select(ApiTokenRow).where(ApiTokenRow.token_hash == token_hash)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def all(self) -> list[ApiTokenRow]:
        return list((await self.session.execute(select(ApiTokenRow).order_by(ApiTokenRow.name))).scalars())

    async def revoke(self, name: str, now: datetime) -> bool:
        """False when there is no such token, or it was revoked already."""
        result = await self.session.execute(
            update(ApiTokenRow).where(ApiTokenRow.name == name, ApiTokenRow.revoked_at.is_(None))
            .values(revoked_at=now))
        return bool(result.rowcount)  # type: ignore[attr-defined]


class ApiRequestRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def claim_pending(self) -> PendingClaim | None:
        """Claim the key of the request this unit of work serves, if it is still to be claimed:
        the claim to mark `claimed` once committed. `KeyTaken` when another attempt has it."""
        pending = PENDING.get()
        if pending is None or pending.claimed or pending.task is not asyncio.current_task():
            return None
        if pending.stale_since is None:
            taken = await self.claim(pending.token, pending.key, pending.fingerprint, pending.at)
        else:
            taken = await self.take_over(pending.token, pending.key, pending.stale_since, pending.at)
        if not taken:
            raise KeyTaken(pending.key)
        return pending

    async def claim(self, token: str, key: str, fingerprint: str, now: datetime) -> bool:
        """Insert the request; False when (token, key) was claimed before."""
        values = {"token_name": token, "idempotency_key": key, "fingerprint": fingerprint, "claimed_at": now}
        stmt = insert_ignoring_conflicts(self.session, ApiRequestRow, values, ["token_name", "idempotency_key"])
        return (await self.session.execute(stmt.returning(ApiRequestRow.id))).scalar_one_or_none() is not None

    async def get(self, token: str, key: str) -> ApiRequestRow | None:
        stmt = (select(ApiRequestRow)
                .where(ApiRequestRow.token_name == token, ApiRequestRow.idempotency_key == key)
                .execution_options(populate_existing=True))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def take_over(self, token: str, key: str, claimed_at: datetime, now: datetime) -> bool:
        """Claim again a request whose first attempt never answered: only if nobody did meanwhile."""
        result = await self.session.execute(
            update(ApiRequestRow)
            .where(ApiRequestRow.token_name == token, ApiRequestRow.idempotency_key == key,
                   ApiRequestRow.claimed_at == claimed_at, ApiRequestRow.status.is_(None))
            .values(claimed_at=now))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def answer(self, request: PendingClaim, status: int, response: dict[str, Any], now: datetime) -> None:
        """Store the answer; the row too, when the request committed nothing (a refusal). Never
        over another request's claim of the key (another body under the same key)."""
        answered = {"status": status, "response": response, "answered_at": now}
        stmt = dialect_insert(self.session, ApiRequestRow).values(
            token_name=request.token, idempotency_key=request.key, fingerprint=request.fingerprint,
            claimed_at=request.at, **answered)
        await self.session.execute(stmt.on_conflict_do_update(
            index_elements=["token_name", "idempotency_key"], set_=answered,
            where=ApiRequestRow.status.is_(None) & (ApiRequestRow.fingerprint == request.fingerprint)))

    async def release(self, token: str, key: str) -> None:
        """Forget a claim whose request failed unexpectedly: a retry runs it afresh."""
        row = await self.get(token, key)
        if row is not None and row.status is None:
            await self.session.delete(row)


class PipelineQueries:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def releases(self, *, before: int | None, states: Sequence[str] | None,
                       models: Sequence[str] | None, limit: int) -> list[ReleaseRow]:
        """Releases newest first, below id `before` (the cursor), `limit` of them."""
        query = select(ReleaseRow).order_by(ReleaseRow.id.desc()).limit(limit)
        if before is not None:
            query = query.where(ReleaseRow.id < before)
        if states:
            query = query.where(ReleaseRow.state.in_(list(states)))
        if models is not None:
            query = query.where(ReleaseRow.model_key.in_(list(models)))
        return list((await self.session.execute(query)).scalars())

    async def events(self, *, after: int | None, since: datetime | None, release_id: int | None,
                     models: Sequence[str] | None, limit: int) -> list[tuple[ReleaseEventRow, str]]:
        """Events oldest first after event id `after` (the cursor), with their release's model."""
        query = (select(ReleaseEventRow, ReleaseRow.model_key)
                 .join(ReleaseRow, ReleaseRow.id == ReleaseEventRow.release_id)
                 .order_by(ReleaseEventRow.id).limit(limit))
        if after is not None:
            query = query.where(ReleaseEventRow.id > after)
        if since is not None:
            query = query.where(ReleaseEventRow.at >= since)
        if release_id is not None:
            query = query.where(ReleaseEventRow.release_id == release_id)
        if models is not None:
            query = query.where(ReleaseRow.model_key.in_(list(models)))
        return [(row, str(model)) for row, model in (await self.session.execute(query)).all()]
