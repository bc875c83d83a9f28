"""The one road to Slack: sends due outbox rows, retries, and marks each sent exactly once.

Rows are leased (`claimed_by`, `claimed_until`) in a short transaction, sent outside any
transaction, then settled by their claimant only. A replica never takes a row another holds
(SKIP LOCKED on PostgreSQL); a worker that dies leaves a lease that expires, so a restart
loses nothing. The narrow window between Slack accepting a post and the row being marked
sent is the one place a crash can repeat a message; it is kept as short as one UPDATE.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot import blocks as bk
from bot.clock import Clock
from bot.lifecycle import EventKind
from bot.messages import Rendered, where
from bot.outbox import CHANNEL_ERRORS, DeliveryState, Message, Method
from storage.tables import OutboxRow
from storage.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=60)
ANCHOR_WAIT = timedelta(seconds=1)


class DeliveryError(Exception):
    """Slack did not take a message. `retry_after` (seconds) is set for rate limits."""

    def __init__(self, error: str, *, permanent: bool, retry_after: float | None = None):
        super().__init__(error)
        self.error = error
        self.permanent = permanent
        self.retry_after = retry_after


class MessageGone(DeliveryError):
    """The message to update no longer exists (deleted): post it anew."""

    def __init__(self) -> None:
        super().__init__("message_not_found", permanent=True)


class Gateway(Protocol):
    async def post(self, channel: str, text: str, blocks: list[bk.Block] | None) -> tuple[str, str]: ...

    async def update(self, channel: str, ts: str, text: str, blocks: list[bk.Block] | None) -> None: ...


@dataclass(frozen=True)
class _Target:
    channel: str
    ts: str | None


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** attempts, 300))


class Dispatcher:
    def __init__(self, uow: UnitOfWorkFactory, gateway: Gateway, clock: Clock, batch: int = 20):
        self.uow = uow
        self.gateway = gateway
        self.clock = clock
        self.batch = batch
        self.worker = f"dispatcher-{uuid.uuid4().hex[:12]}"

    async def dispatch_due(self) -> int:
        """Send every row due now; returns how many were settled."""
        settled = 0
        while True:
            async with self.uow() as uow:
                rows = await uow.outbox.claim(self.worker, self.clock(), LEASE, self.batch)
            if not rows:
                return settled
            for row in rows:
                try:
                    await self._deliver(row)
                except Exception:  # a bug must not stop the other rows; the lease expires
                    log.exception("outbox row %s (%s) could not be handled", row.id, row.dedupe_key)
                settled += 1

    async def _deliver(self, row: OutboxRow) -> None:
        target = await self._target(row)
        if target is None:
            return
        try:
            if target.ts is not None:
                try:
                    await self.gateway.update(target.channel, target.ts, row.text, row.blocks)
                    channel, ts = target.channel, target.ts
                except MessageGone:
                    channel, ts = await self.gateway.post(row.channel, row.text, row.blocks)
            else:
                # Slack answers with the conversation it posted in: for a user id, the DM's id,
                # which is what a later chat.update needs.
                channel, ts = await self.gateway.post(row.channel, row.text, row.blocks)
        except DeliveryError as exc:
            await self._failed(row, exc)
            return
        now = self.clock()
        async with self.uow() as uow:
            if row.anchor and ts != target.ts:
                await uow.outbox.set_anchor(row.anchor, channel, ts, row.release_id, now)
            settled = await uow.outbox.finish(
                row.id, self.worker, state=DeliveryState.SENT.value, sent_at=now,
                attempts=row.attempts + 1, last_error=None,
            )
        if not settled:
            log.warning("outbox row %s was sent after its lease expired (%s)", row.id, row.dedupe_key)
        log.info("sent %s to %s", row.dedupe_key, row.channel)

    async def _target(self, row: OutboxRow) -> _Target | None:
        """Where the row goes: a new message, or the anchored one. None: not now, or never.

        For an anchored message only the newest pending row matters: older ones are
        superseded, so a card never goes back to an earlier version. A post whose anchor has
        landed already is done; an update whose post is still on its way waits for it.
        """
        if not row.anchor:
            return _Target(row.channel, None)
        async with self.uow() as uow:
            existing = await uow.outbox.anchor(row.anchor)
            newer = await uow.outbox.newer_pending(row.anchor, row.id)
            if newer or (row.method == Method.POST and existing is not None):
                await uow.outbox.finish(row.id, self.worker, state=DeliveryState.SUPERSEDED.value)
                return None
            if existing is None and row.method == Method.UPDATE and await uow.outbox.post_pending(row.anchor):
                await uow.outbox.finish(row.id, self.worker, due_at=self.clock() + ANCHOR_WAIT)
                return None
        return _Target(existing.channel, existing.ts) if existing else _Target(row.channel, None)

    async def _failed(self, row: OutboxRow, exc: DeliveryError) -> None:
        now = self.clock()
        attempts = row.attempts + 1
        give_up = exc.permanent or attempts >= MAX_ATTEMPTS
        async with self.uow() as uow:
            if not give_up:
                delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else backoff(attempts)
                await uow.outbox.finish(row.id, self.worker, attempts=attempts, last_error=exc.error,
                                        due_at=now + delay)
                log.warning("outbox row %s (%s) to %s: %s; retrying in %ss",
                            row.id, row.dedupe_key, row.channel, exc.error, delay.total_seconds())
                return
            await uow.outbox.finish(row.id, self.worker, state=DeliveryState.FAILED.value,
                                    attempts=attempts, last_error=exc.error)
            log.error("outbox row %s (%s) to %s failed for good after %d attempts: %s",
                      row.id, row.dedupe_key, row.channel, attempts, exc.error)
            if row.release_id is not None:
                await uow.events.append(row.release_id, EventKind.MESSAGE_FAILED.value, None, now,
                                        {"channel": row.channel, "error": exc.error, "message": row.dedupe_key})
            if row.notify_user and exc.error in CHANNEL_ERRORS and row.channel != row.notify_user:
                await _tell_how_to_fix(uow, row, exc.error, now)


async def _tell_how_to_fix(uow: object, row: OutboxRow, error: str, now: datetime) -> None:
    """The person whose action caused the message learns why it is missing and what to do."""
    assert row.notify_user is not None
    ref = f"REL-{row.release_id}" if row.release_id else "your release"
    if error == "is_archived":
        advice = "That channel is archived; plan the release from an active channel."
    else:
        advice = ("I am not a member of that conversation: invite me there with `/invite @releasebot` "
                  "and I will post it as soon as I have joined.")
    text = (f":warning: I could not post the message for {ref} in {where(row.channel)} "
            f"(`{error}`). {advice} The release itself is saved: `/release show {ref}`.")
    await Message.post(
        channel=row.notify_user, rendered=Rendered(text, [bk.section(text)]),
        dedupe_key=f"outbox:{row.id}:undeliverable", release_id=row.release_id,
    ).enqueue(uow, now)  # type: ignore[arg-type]
