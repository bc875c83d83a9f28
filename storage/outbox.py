"""The outbox: messages stored with the facts that caused them, claimed by one dispatcher
at a time (SKIP LOCKED on PostgreSQL, leases everywhere), marked sent once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.repositories import aware_utc as _aware
from storage.repositories import dialect_insert, insert_ignoring_conflicts
from storage.tables import (
    ChannelPaceRow,
    OutboxRow,
    SlackMessageRow,
)

#: Keys looked up per statement by `existing` (well under any driver's bound parameters).
EXISTING_CHUNK = 500


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

    async def existing(self, dedupe_keys: Sequence[str]) -> set[str]:
        """Which of these messages were ever queued, by key (a few hundred keys a statement)."""
        found: set[str] = set()
        keys = sorted(set(dedupe_keys))
        for at in range(0, len(keys), EXISTING_CHUNK):
            chunk = keys[at:at + EXISTING_CHUNK]
            result = await self.session.execute(select(OutboxRow.dedupe_key).where(OutboxRow.dedupe_key.in_(chunk)))
            found.update(result.scalars())
        return found

    async def any_claimable(self, now: datetime) -> bool:
        """Whether `claim` would find a row now: asked in a read-only unit of work first, so
        that a dispatch finding nothing to send (most of them, when every commit that queues
        a message wakes the dispatcher and the rows wait for their conversation's pace) takes
        no write lock on SQLite."""
        return bool((await self.session.execute(select(exists().where(*_claimable(now))))).scalar())

    async def claim(self, worker: str, now: datetime, lease: timedelta, limit: int) -> list[OutboxRow]:
        """Lease due rows to `worker`: at most one per conversation, and only for conversations
        whose pace allows a message now (see `take_slot`).

        SKIP LOCKED lets replicas claim disjoint rows at once; an expired lease (a worker that
        died) makes a row claimable again. A row left out because its conversation is paced
        is not touched: waiting for pace is not an attempt.
        """
        due = (
            select(OutboxRow.id, OutboxRow.channel)
            .where(*_claimable(now))
            .order_by(OutboxRow.due_at, OutboxRow.id)
            .limit(limit * 4)
            .with_for_update(skip_locked=True)
        )
        first: dict[str, int] = {}
        for row_id, channel in (await self.session.execute(due)).all():
            first.setdefault(channel, row_id)
        wanted = sorted(first)[:limit]
        ids = [first[channel] for channel in await self.take_slots(wanted, now, now + lease)]
        if not ids:
            return []
        # `sending_since` survives an unsettled claim: a row still carrying an earlier one may
        # have been posted already (bot/delivery_check.py looks before posting again).
        await self.session.execute(
            update(OutboxRow).where(OutboxRow.id.in_(ids)).values(
                claimed_by=worker, claimed_until=now + lease,
                sending_since=func.coalesce(OutboxRow.sending_since, now))
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

    async def take_slots(self, channels: Sequence[str], now: datetime, until: datetime) -> list[str]:
        """`take_slot` for many conversations in three statements (a fan-out claims a thousand
        direct messages): the ones whose pace allowed a message now, reserved until `until`.

        Rows are written and locked in channel order, so two replicas never wait on each other
        in a cycle; a conversation another replica is reserving right now is skipped.
        """
        if not channels:
            return []
        ordered = sorted(set(channels))
        await self.session.execute(
            dialect_insert(self.session, ChannelPaceRow).values([{"channel": c, "next_at": now} for c in ordered])
            .on_conflict_do_nothing(index_elements=["channel"])
        )
        free = (await self.session.execute(
            select(ChannelPaceRow.channel)
            .where(ChannelPaceRow.channel.in_(ordered), ChannelPaceRow.next_at <= now)
            .order_by(ChannelPaceRow.channel)
            .with_for_update(skip_locked=True)
        )).scalars().all()
        if not free:
            return []
        result = await self.session.execute(
            update(ChannelPaceRow)
            .where(ChannelPaceRow.channel.in_(free), ChannelPaceRow.next_at <= now)
            .values(next_at=until)
            .returning(ChannelPaceRow.channel)
        )
        return sorted(result.scalars().all())

    async def claim_held(self, worker: str, now: datetime, lease: timedelta) -> OutboxRow | None:
        """Lease the first row an outage holds back (see `held`), although its retry is not
        due yet: the probe that finds out whether Slack answers again."""
        candidates = (await self.session.execute(
            select(OutboxRow.id, OutboxRow.channel).where(*_held(now))
            .order_by(OutboxRow.failing_since, OutboxRow.id).limit(5)
            .with_for_update(skip_locked=True)
        )).all()
        for row_id, channel in candidates:
            if await self.take_slot(channel, now, now + lease):
                await self.session.execute(
                    update(OutboxRow).where(OutboxRow.id == row_id)
                    .values(claimed_by=worker, claimed_until=now + lease,
                            sending_since=func.coalesce(OutboxRow.sending_since, now))  # as `claim`
                )
                return await self.get(row_id)
        return None

    async def release_held(self, now: datetime) -> int:
        """Slack answered again: every row an outage held back is due at once, in the order it
        first came due (`failing_since`), instead of waiting out its grown backoff."""
        result = await self.session.execute(
            update(OutboxRow).where(*_held(now)).values(due_at=OutboxRow.failing_since)
        )
        self.enqueued += int(result.rowcount)  # type: ignore[attr-defined]
        return int(result.rowcount)  # type: ignore[attr-defined]

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
        # One statement: it runs after every dispatch, and each statement is a round trip.
        moments = (await self.session.execute(select(*(c.scalar_subquery() for c in candidates)))).one()
        found = [_aware(m) for m in moments if m is not None]
        return min(found) if found else None

    async def finish(self, row_id: int, worker: str, **values: Any) -> bool:
        """Settle a claimed row (sent, failed, rescheduled); only its claimant may. The attempt
        is over, so `sending_since` is cleared unless the caller keeps it (still unsure)."""
        values.setdefault("sending_since", None)
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

    async def anchored(self, anchors: Sequence[str]) -> tuple[dict[str, SlackMessageRow], dict[str, int], set[str]]:
        """For many anchors at once (the rows of one claim): the messages that landed, the id
        of each anchor's latest version queued or sent, and the anchors whose post is pending.
        `anchor`, `overtaken` and `post_pending` in three statements instead of three per row."""
        if not anchors:
            return {}, {}, set()
        wanted = sorted(set(anchors))
        landed = await self.session.execute(select(SlackMessageRow).where(SlackMessageRow.anchor.in_(wanted)))
        latest = await self.session.execute(
            select(OutboxRow.anchor, func.max(OutboxRow.id))
            .where(OutboxRow.anchor.in_(wanted), OutboxRow.state.in_(("pending", "sent")))
            .group_by(OutboxRow.anchor))
        pending = await self.session.execute(
            select(OutboxRow.anchor).distinct()
            .where(OutboxRow.anchor.in_(wanted), OutboxRow.method == "post", OutboxRow.state == "pending"))
        return ({m.anchor: m for m in landed.scalars()}, {str(a): int(i) for a, i in latest.all()},
                {str(a) for a in pending.scalars()})

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
            .values(state="pending", attempts=0, due_at=now, claimed_by=None, claimed_until=None,
                    failing_since=None)
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


#: The error a rate limit leaves on a row: its wait is Slack's Retry-After, not an outage's.
RATE_LIMITED = "ratelimited"


def _claimable(now: datetime) -> list[ColumnElement[bool]]:
    """A pending row due now, not leased (or its lease expired), whose conversation's pace
    allows a message now."""
    paced = select(ChannelPaceRow.channel).where(ChannelPaceRow.next_at > now)
    return [
        OutboxRow.state == "pending",
        OutboxRow.due_at <= now,
        or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
        OutboxRow.channel.not_in(paced),
    ]


def _held(now: datetime) -> list[ColumnElement[bool]]:
    """Rows held back by an outage: pending, failing for a passing reason other than a rate
    limit, their retry not due yet, and nobody sending them."""
    return [
        OutboxRow.state == "pending",
        OutboxRow.failing_since.is_not(None),
        OutboxRow.last_error != RATE_LIMITED,
        OutboxRow.due_at > now,
        or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
    ]
