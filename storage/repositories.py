"""Queries over the tables, with primitive arguments: storage knows rows, not rules.

Conditional updates (`move`) and insert-or-ignore (`enqueue`) are how the layer above gets
race safety without checks in Python: the database decides who wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.changes import note
from storage.facts import COUNTED_COLUMNS, COUNTED_KINDS, FactsRepository
from storage.tables import (
    ApprovalRow,
    MetricsDayRow,
    ReleaseEventRow,
    ReleaseRow,
    VerificationRow,
)


class AwaitingApproval(NamedTuple):
    """A release awaiting approval, the model version it keeps, and its (last) submission."""

    release_id: int
    model_key: str
    model_version: str | None
    owner: str
    submitted_at: datetime


# Built once: a statement built per call is most of a short statement's CPU (its clauses, its
# cache key); these run several times in every request (bench/api.py).
_GET = (select(ReleaseRow).where(ReleaseRow.id == bindparam("release_id"))
        .execution_options(populate_existing=True))
_GET_FOR_UPDATE = _GET.with_for_update()
#: A plain INSERT, not the ORM's unit of work (an object added and flushed for each event).
_APPEND_EVENT = insert(ReleaseEventRow.__table__)  # type: ignore[arg-type]


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """The `INSERT` of the dialect in use (PostgreSQL or SQLite): it knows `ON CONFLICT`."""
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert(table)


def insert_ignoring_conflicts(session: AsyncSession, table: Any, values: dict[str, Any], keys: list[str]) -> Any:
    """`INSERT … ON CONFLICT DO NOTHING` for the dialect in use (PostgreSQL or SQLite)."""
    return dialect_insert(session, table).values(**values).on_conflict_do_nothing(index_elements=keys)


class ReleaseRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add(self, values: dict[str, Any]) -> tuple[ReleaseRow, bool]:
        """Create a release; with an `origin_key` already used, return that release instead.

        Returns the row and whether it was created now.
        """
        # RETURNING the whole row: the release as stored, without reading it back.
        stmt = insert_ignoring_conflicts(self.session, ReleaseRow, values, ["origin_key"]).returning(ReleaseRow)
        row: ReleaseRow | None = (await self.session.execute(stmt)).scalar_one_or_none()
        if row is not None:
            await FactsRepository(self.session).mark(row.id, created=True)
            note(self.session, row.id)
            return row, True
        existing = (
            await self.session.execute(select(ReleaseRow).where(ReleaseRow.origin_key == values["origin_key"]))
        ).scalar_one()
        return existing, False

    async def get(self, release_id: int, for_update: bool = False) -> ReleaseRow | None:
        stmt = _GET_FOR_UPDATE if for_update else _GET
        return (await self.session.execute(stmt, {"release_id": release_id})).scalar_one_or_none()

    async def by_ids(self, ids: Sequence[int]) -> list[ReleaseRow]:
        if not ids:
            return []
        result = await self.session.execute(select(ReleaseRow).where(ReleaseRow.id.in_(list(ids))))
        return list(result.scalars())

    async def move(self, release_id: int, from_state: str, to_state: str, now: datetime) -> ReleaseRow | None:
        """Change state only if it is still `from_state`: of two racing transitions, one wins.
        The release as it now is (RETURNING, not read again), or None when the race was lost."""
        note(self.session, release_id)
        result = await self.session.execute(
            update(ReleaseRow)
            .where(ReleaseRow.id == release_id, ReleaseRow.state == from_state)
            .values(state=to_state, version=ReleaseRow.version + 1, updated_at=now)
            .returning(ReleaseRow).execution_options(populate_existing=True)
        )
        row: ReleaseRow | None = result.scalar_one_or_none()
        return row

    async def touch(self, release_id: int, now: datetime, **changes: Any) -> ReleaseRow:
        """Record a change that is not a transition (a new window, say), bumping the version;
        the release as it now is."""
        if COUNTED_COLUMNS.intersection(changes):
            await FactsRepository(self.session).mark(release_id)
        note(self.session, release_id)
        result = await self.session.execute(
            update(ReleaseRow)
            .where(ReleaseRow.id == release_id)
            .values(version=ReleaseRow.version + 1, updated_at=now, **changes)
            .returning(ReleaseRow).execution_options(populate_existing=True)
        )
        row: ReleaseRow = result.scalar_one()
        return row

    @staticmethod
    def _in_window(start: datetime, end: datetime, states: Sequence[str]) -> list[Any]:
        return [ReleaseRow.planned_start < end, ReleaseRow.planned_end > start, ReleaseRow.state.in_(states)]

    async def in_window(self, start: datetime, end: datetime, states: Sequence[str], *, limit: int
                        ) -> list[ReleaseRow]:
        """Releases in `states` whose planned window overlaps [start, end), soonest first: the
        first `limit` (each caller says how many it can use, and what it does beyond them)."""
        result = await self.session.execute(
            select(ReleaseRow).where(*self._in_window(start, end, states))
            .order_by(ReleaseRow.planned_start, ReleaseRow.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def reach_of_first(self, start: datetime, end: datetime, states: Sequence[str], first: int
                             ) -> datetime | None:
        """When the latest of the first `first` releases `in_window` would give ends (None:
        there are none), read without loading those releases."""
        soonest = (select(ReleaseRow.planned_end).where(*self._in_window(start, end, states))
                   .order_by(ReleaseRow.planned_start, ReleaseRow.id).limit(first).subquery())
        result = await self.session.execute(select(func.max(soonest.c.planned_end)))
        reach: datetime | None = result.scalar_one()
        return reach

    async def count_in_window(self, start: datetime, end: datetime, states: Sequence[str]) -> int:
        """How many releases `in_window` would give without its limit."""
        result = await self.session.execute(
            select(func.count()).select_from(ReleaseRow).where(*self._in_window(start, end, states)))
        return int(result.scalar_one())

    async def newest(
        self, *, states: Sequence[str] | None = None, owner: str | None = None, limit: int = 20
    ) -> tuple[list[ReleaseRow], int]:
        """Releases newest first, and how many match in all.

        All releases are counted from `metrics_days`, where each is counted once (by its day
        of creation, model and risk) in the transaction that creates it: a few rows a day,
        where counting the releases themselves reads every one of them (on PostgreSQL, 15 ms
        of the database's CPU at 100,000 releases, for every `/release list`)."""
        conditions: list[Any] = []
        if states:
            conditions.append(ReleaseRow.state.in_(states))
        if owner:
            conditions.append(ReleaseRow.owner == owner)
        where = and_(*conditions) if conditions else None
        query = select(ReleaseRow).order_by(ReleaseRow.id.desc()).limit(limit)
        counter = (select(func.count()).select_from(ReleaseRow) if where is not None
                   else select(func.coalesce(func.sum(MetricsDayRow.created), 0)))
        if where is not None:
            query = query.where(where)
            counter = counter.where(where)
        rows = list((await self.session.execute(query)).scalars())
        total = int((await self.session.execute(counter)).scalar_one())
        return rows, total


class EventRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def append(
        self, release_id: int, kind: str, actor: str | None, at: datetime, data: dict[str, Any] | None = None
    ) -> None:
        # Not noted as a change of the release (storage/changes.py): what a held gate waits for
        # (state, approvals, verifications) is noted where it is written, and a message sent
        # or failed woke every held gate of its release for nothing.
        if kind in COUNTED_KINDS:
            await FactsRepository(self.session).mark(release_id)
        await self.session.execute(
            _APPEND_EVENT, {"release_id": release_id, "kind": kind, "actor": actor, "at": at, "data": data or {}})

    async def for_release(self, release_id: int) -> list[ReleaseEventRow]:
        result = await self.session.execute(
            select(ReleaseEventRow).where(ReleaseEventRow.release_id == release_id).order_by(ReleaseEventRow.id)
        )
        return list(result.scalars())


class ApprovalRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def awaiting_since(self, model_key: str | None) -> list[AwaitingApproval]:
        """Releases of a model (None: of any) awaiting approval, with when they were (last)
        submitted: only the columns the reminders need (loading two thousand whole releases
        cost more than the query)."""
        # Per awaiting release, through the (release, kind, at) index: grouping every release's
        # submissions first read the whole history (half a second at 100,000 releases).
        submitted = (
            select(func.max(ReleaseEventRow.at))
            .where(ReleaseEventRow.release_id == ReleaseRow.id, ReleaseEventRow.kind == "submitted")
            .scalar_subquery()
        )
        result = await self.session.execute(
            select(ReleaseRow.id, ReleaseRow.model_key, ReleaseRow.model_version, ReleaseRow.owner, submitted)
            .where(ReleaseRow.state == "awaiting_approval",
                   *([ReleaseRow.model_key == model_key] if model_key is not None else []))
            .order_by(ReleaseRow.id)
        )
        return [AwaitingApproval(int(row[0]), row[1], row[2], row[3], aware_utc(row[4]))
                for row in result.all() if row[4] is not None]

    async def add(self, release_id: int, approver: str, decision: str, at: datetime,
                  reason: str | None = None) -> bool:
        """Record a decision; False when this person had already decided (the unique key says so)."""
        note(self.session, release_id)
        values = {"release_id": release_id, "approver": approver, "decision": decision, "reason": reason, "at": at}
        stmt = insert_ignoring_conflicts(self.session, ApprovalRow, values, ["release_id", "approver"])
        result = await self.session.execute(stmt.returning(ApprovalRow.id))
        return result.scalar_one_or_none() is not None

    async def withdraw(self, release_id: int) -> int:
        """Withdraw every decision on a release (approvals given for a plan that changed): the
        approvers may decide again. The events keep who had decided and when."""
        note(self.session, release_id)
        result = await self.session.execute(delete(ApprovalRow).where(ApprovalRow.release_id == release_id))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def for_release(self, release_id: int) -> list[ApprovalRow]:
        result = await self.session.execute(
            select(ApprovalRow).where(ApprovalRow.release_id == release_id).order_by(ApprovalRow.id)
        )
        return list(result.scalars())


class VerificationRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add(self, values: dict[str, Any]) -> bool:
        """Record an outcome; False when this submission already recorded it (the unique key says so)."""
        note(self.session, values["release_id"])
        stmt = insert_ignoring_conflicts(self.session, VerificationRow, values,
                                         ["submission", "stage", "criterion"])
        result = await self.session.execute(stmt.returning(VerificationRow.id))
        return result.scalar_one_or_none() is not None

    async def for_release(self, release_id: int) -> list[VerificationRow]:
        """Every outcome of the release, oldest first: the last one per criterion counts."""
        result = await self.session.execute(
            select(VerificationRow).where(VerificationRow.release_id == release_id).order_by(VerificationRow.id)
        )
        return list(result.scalars())


def aware_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
