"""Queries over the tables, with primitive arguments: storage knows rows, not rules.

Conditional updates (`move`) and insert-or-ignore (`enqueue`) are how the layer above gets
race safety without checks in Python: the database decides who wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import (
    ApprovalRow,
    ChannelPaceRow,
    OutboxRow,
    ReleaseEventRow,
    ReleaseRow,
    SlackMessageRow,
    VerificationRow,
)


def insert_ignoring_conflicts(session: AsyncSession, table: Any, values: dict[str, Any], keys: list[str]) -> Any:
    """`INSERT … ON CONFLICT DO NOTHING` for the dialect in use (PostgreSQL or SQLite)."""
    bind = session.get_bind()
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)


class ReleaseRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add(self, values: dict[str, Any]) -> tuple[ReleaseRow, bool]:
        """Create a release; with an `origin_key` already used, return that release instead.

        Returns the row and whether it was created now.
        """
        stmt = insert_ignoring_conflicts(self.session, ReleaseRow, values, ["origin_key"]).returning(ReleaseRow.id)
        new_id = (await self.session.execute(stmt)).scalar_one_or_none()
        if new_id is not None:
            row = await self.get(new_id)
            assert row is not None
            return row, True
        existing = (
            await self.session.execute(select(ReleaseRow).where(ReleaseRow.origin_key == values["origin_key"]))
        ).scalar_one()
        return existing, False

    async def get(self, release_id: int, for_update: bool = False) -> ReleaseRow | None:
        stmt = select(ReleaseRow).where(ReleaseRow.id == release_id).execution_options(populate_existing=True)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def move(self, release_id: int, from_state: str, to_state: str, now: datetime) -> bool:
        """Change state only if it is still `from_state`: of two racing transitions, one wins."""
        result = await self.session.execute(
            update(ReleaseRow)
            .where(ReleaseRow.id == release_id, ReleaseRow.state == from_state)
            .values(state=to_state, version=ReleaseRow.version + 1, updated_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def touch(self, release_id: int, now: datetime, **changes: Any) -> None:
        """Record a change that is not a transition (a new window, say), bumping the version."""
        await self.session.execute(
            update(ReleaseRow)
            .where(ReleaseRow.id == release_id)
            .values(version=ReleaseRow.version + 1, updated_at=now, **changes)
        )

    async def in_window(self, start: datetime, end: datetime, states: Sequence[str], limit: int = 200
                        ) -> list[ReleaseRow]:
        """Releases in `states` whose planned window overlaps [start, end), soonest first."""
        result = await self.session.execute(
            select(ReleaseRow)
            .where(ReleaseRow.planned_start < end, ReleaseRow.planned_end > start, ReleaseRow.state.in_(states))
            .order_by(ReleaseRow.planned_start, ReleaseRow.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def newest(
        self, *, states: Sequence[str] | None = None, owner: str | None = None, limit: int = 20
    ) -> tuple[list[ReleaseRow], int]:
        """Releases newest first, and how many match in all."""
        conditions: list[Any] = []
        if states:
            conditions.append(ReleaseRow.state.in_(states))
        if owner:
            conditions.append(ReleaseRow.owner == owner)
        where = and_(*conditions) if conditions else None
        query = select(ReleaseRow).order_by(ReleaseRow.id.desc()).limit(limit)
        counter = select(func.count()).select_from(ReleaseRow)
        if where is not None:
            query = query.where(where)
            counter = counter.where(where)
        rows = list((await self.session.execute(query)).scalars())
        total = (await self.session.execute(counter)).scalar_one()
        return rows, total


class EventRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def append(
        self, release_id: int, kind: str, actor: str | None, at: datetime, data: dict[str, Any] | None = None
    ) -> None:
        self.session.add(ReleaseEventRow(release_id=release_id, kind=kind, actor=actor, at=at, data=data or {}))
        await self.session.flush()

    async def for_release(self, release_id: int) -> list[ReleaseEventRow]:
        result = await self.session.execute(
            select(ReleaseEventRow).where(ReleaseEventRow.release_id == release_id).order_by(ReleaseEventRow.id)
        )
        return list(result.scalars())


class ApprovalRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def awaiting_since(self, model_key: str) -> list[tuple[int, datetime]]:
        """Releases of a model awaiting approval, with when they were (last) submitted."""
        submitted = (
            select(ReleaseEventRow.release_id, func.max(ReleaseEventRow.at).label("at"))
            .where(ReleaseEventRow.kind == "submitted").group_by(ReleaseEventRow.release_id).subquery()
        )
        result = await self.session.execute(
            select(ReleaseRow.id, submitted.c.at)
            .join(submitted, submitted.c.release_id == ReleaseRow.id)
            .where(ReleaseRow.model_key == model_key, ReleaseRow.state == "awaiting_approval")
            .order_by(ReleaseRow.id)
        )
        return [(int(row[0]), _aware(row[1])) for row in result.all()]

    async def add(self, release_id: int, approver: str, decision: str, at: datetime,
                  reason: str | None = None) -> bool:
        """Record a decision; False when this person had already decided (the unique key says so)."""
        values = {"release_id": release_id, "approver": approver, "decision": decision, "reason": reason, "at": at}
        stmt = insert_ignoring_conflicts(self.session, ApprovalRow, values, ["release_id", "approver"])
        result = await self.session.execute(stmt.returning(ApprovalRow.id))
        return result.scalar_one_or_none() is not None

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


class OutboxRepository:
    def __init__(self, session: AsyncSession):
        self.session = session
        self.enqueued = 0

    async def enqueue(self, values: dict[str, Any]) -> bool:
        """Queue a message once per dedupe key; False when it was already queued."""
        stmt = insert_ignoring_conflicts(self.session, OutboxRow, values, ["dedupe_key"]).returning(OutboxRow.id)
        created = (await self.session.execute(stmt)).scalar_one_or_none() is not None
        self.enqueued += int(created)
        return created

    async def queued(self, dedupe_key: str) -> bool:
        """Whether this message was ever queued (whatever became of it)."""
        stmt = select(exists().where(OutboxRow.dedupe_key == dedupe_key))
        return bool((await self.session.execute(stmt)).scalar())

    async def claim(self, worker: str, now: datetime, lease: timedelta, limit: int) -> list[OutboxRow]:
        """Lease due rows to `worker`: at most one per conversation, and only for conversations
        whose pace allows a message now (see `take_slot`).

        SKIP LOCKED lets replicas claim disjoint rows at once; an expired lease (a worker that
        died) makes a row claimable again. A row left out because its conversation is paced
        is not touched: waiting for pace is not an attempt.
        """
        paced = select(ChannelPaceRow.channel).where(ChannelPaceRow.next_at > now)
        due = (
            select(OutboxRow.id, OutboxRow.channel)
            .where(
                OutboxRow.state == "pending",
                OutboxRow.due_at <= now,
                or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
                OutboxRow.channel.not_in(paced),
            )
            .order_by(OutboxRow.due_at, OutboxRow.id)
            .limit(limit * 4)
            .with_for_update(skip_locked=True)
        )
        first: dict[str, int] = {}
        for row_id, channel in (await self.session.execute(due)).all():
            first.setdefault(channel, row_id)
        ids: list[int] = []
        # Slots are taken in channel order so that two replicas never wait on each other in a cycle.
        for channel in sorted(first):
            if len(ids) >= limit:
                break
            if await self.take_slot(channel, now, now + lease):
                ids.append(first[channel])
        if not ids:
            return []
        await self.session.execute(
            update(OutboxRow).where(OutboxRow.id.in_(ids)).values(claimed_by=worker, claimed_until=now + lease)
        )
        rows = await self.session.execute(
            select(OutboxRow).where(OutboxRow.id.in_(ids)).order_by(OutboxRow.due_at, OutboxRow.id)
            .execution_options(populate_existing=True)
        )
        return list(rows.scalars())

    async def take_slot(self, channel: str, now: datetime, until: datetime) -> bool:
        """Reserve `channel` until `until` if its pace allows a message now.

        A conditional UPDATE on one row per conversation: of two replicas racing for the same
        channel, the second waits for the first to commit and then finds the slot taken.
        """
        await self.session.execute(
            insert_ignoring_conflicts(self.session, ChannelPaceRow, {"channel": channel, "next_at": now},
                                      ["channel"])
        )
        result = await self.session.execute(
            update(ChannelPaceRow)
            .where(ChannelPaceRow.channel == channel, ChannelPaceRow.next_at <= now)
            .values(next_at=until)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def pace(self, channel: str, until: datetime) -> None:
        """The next message to `channel` may leave at `until` (after a send, or a 429)."""
        await self.session.execute(
            update(ChannelPaceRow).where(ChannelPaceRow.channel == channel).values(next_at=until)
        )

    async def next_wake(self, now: datetime) -> datetime | None:
        """The earliest moment a pending row may become claimable: a row coming due, a paced
        conversation opening again, or another worker's lease running out."""
        pending = OutboxRow.state == "pending"
        due_now = select(OutboxRow.channel).where(pending, OutboxRow.due_at <= now)
        candidates = [
            select(func.min(OutboxRow.due_at)).where(pending, OutboxRow.due_at > now),
            select(func.min(ChannelPaceRow.next_at)).where(ChannelPaceRow.next_at > now,
                                                          ChannelPaceRow.channel.in_(due_now)),
            select(func.min(OutboxRow.claimed_until)).where(pending, OutboxRow.claimed_until > now),
        ]
        moments = [(await self.session.execute(query)).scalar_one_or_none() for query in candidates]
        found = [_aware(m) for m in moments if m is not None]
        return min(found) if found else None

    async def finish(self, row_id: int, worker: str, **values: Any) -> bool:
        """Settle a claimed row (sent, failed, rescheduled); only its claimant may."""
        result = await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id, OutboxRow.claimed_by == worker, OutboxRow.state == "pending")
            .values(claimed_by=None, claimed_until=None, **values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def overtaken(self, anchor: str, row_id: int) -> bool:
        """Whether a later version of the anchored message is queued or already sent.

        Versions are inserted under the release's row lock, so a higher id is a later version,
        whatever its due time says (a use case reads the clock before it waits for the lock)."""
        stmt = select(
            exists().where(OutboxRow.anchor == anchor, OutboxRow.id > row_id,
                           OutboxRow.state.in_(("pending", "sent")))
        )
        return bool((await self.session.execute(stmt)).scalar())

    async def post_pending(self, anchor: str) -> bool:
        stmt = select(
            exists().where(OutboxRow.anchor == anchor, OutboxRow.method == "post", OutboxRow.state == "pending")
        )
        return bool((await self.session.execute(stmt)).scalar())

    async def requeue_undelivered(self, channel: str, errors: Sequence[str], now: datetime) -> int:
        """Give messages refused for a reason now fixed (the bot was invited) another go."""
        result = await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.channel == channel, OutboxRow.state == "failed", OutboxRow.last_error.in_(errors))
            .values(state="pending", attempts=0, due_at=now, claimed_by=None, claimed_until=None)
        )
        count = int(result.rowcount)  # type: ignore[attr-defined]
        self.enqueued += count
        return count

    async def for_release(self, release_id: int) -> list[OutboxRow]:
        result = await self.session.execute(
            select(OutboxRow).where(OutboxRow.release_id == release_id).order_by(OutboxRow.id)
        )
        return list(result.scalars())

    async def planned_pending(self, release_id: int, now: datetime) -> list[OutboxRow]:
        """A release's communications and reminders not sent yet and not being sent now,
        soonest first."""
        result = await self.session.execute(
            select(OutboxRow)
            .where(OutboxRow.release_id == release_id, OutboxRow.state == "pending",
                   OutboxRow.purpose.is_not(None),
                   or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now))
            .order_by(OutboxRow.due_at, OutboxRow.id)
            .execution_options(populate_existing=True)
        )
        return list(result.scalars())

    async def withdraw(self, row_ids: Sequence[int], now: datetime, state: str = "withdrawn") -> int:
        """Take pending rows out of the queue (unless a dispatcher is sending one right now)."""
        if not row_ids:
            return 0
        result = await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(row_ids), OutboxRow.state == "pending",
                   or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now))
            .values(state=state, claimed_by=None, claimed_until=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def bring_forward(self, row_id: int, now: datetime) -> bool:
        """Make a pending row due now (it keeps its place if it was due already)."""
        result = await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id, OutboxRow.state == "pending", OutboxRow.due_at > now)
            .values(due_at=now)
        )
        self.enqueued += int(result.rowcount)  # type: ignore[attr-defined]
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def get(self, row_id: int) -> OutboxRow | None:
        stmt = select(OutboxRow).where(OutboxRow.id == row_id).execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def next_due(self) -> datetime | None:
        result = await self.session.execute(
            select(func.min(OutboxRow.due_at)).where(OutboxRow.state == "pending")
        )
        value = result.scalar_one_or_none()
        return value if value is None else _aware(value)

    async def anchor(self, anchor: str) -> SlackMessageRow | None:
        return await self.session.get(SlackMessageRow, anchor)

    async def set_anchor(
        self, anchor: str, channel: str, ts: str, release_id: int | None, now: datetime
    ) -> None:
        row = await self.session.get(SlackMessageRow, anchor)
        if row is None:
            self.session.add(SlackMessageRow(anchor=anchor, channel=channel, ts=ts, release_id=release_id,
                                             updated_at=now))
        else:
            row.channel, row.ts, row.updated_at = channel, ts, now
        await self.session.flush()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
