"""The one road to Slack: sends due outbox rows, retries, and marks each sent exactly once.

Rows are leased (`claimed_by`, `claimed_until`) in a short transaction, sent outside any
transaction, then settled by their claimant only. A replica never takes a row another holds
(SKIP LOCKED on PostgreSQL); a worker that dies leaves a lease that expires, so a restart
loses nothing. The narrow window between Slack accepting a post and the row being marked
sent is kept as short as one commit (which the sends that finished meanwhile share:
bot/group_commit.py), and closed by bot/delivery_check.py: posts carry their outbox id as
message metadata, and a row whose earlier attempt was never settled is looked for in Slack
before it is posted again.

Each conversation gets at most one message per `pace` (Slack allows about one per second
per channel): a claim takes one row per conversation and reserves the conversation in the
`channel_pace` table, which replicas share. A row held back for pace is left untouched, so
waiting is never counted as an attempt. The rows of a claim (a fan-out's direct messages are
as many conversations) are sent concurrently and settled together (bot/group_commit.py).

Failures are retried with backoff, honouring a 429's Retry-After for that conversation only,
for `give_up` after the row came due (RELEASEBOT_DELIVERY_GIVE_UP_HOURS, hours: an
afternoon's outage marks nothing failed); then the row is failed, logged, and recorded on the
release. While an outage holds rows back, their backoff grows, but every `probe_every` one
of them is tried anyway: the first success releases the whole backlog in due order
(`OutboxRepository.release_held`), so messages leave seconds after Slack answers again,
not when each row's backoff runs out.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot import delivery_check
from bot.clock import Clock
from bot.group_commit import GroupCommit
from bot.lifecycle import EventKind
from bot.outbox import CHANNEL_ERRORS, DeliveryState, Message, Method, Purpose, Timing, is_user_group
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered, where
from storage.tables import OutboxRow
from storage.uow import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

#: How long after its due time a message is retried before it is failed (the setting's default).
GIVE_UP = timedelta(hours=24)
#: While an outage holds messages back, one of them is tried this often to see if Slack is back.
PROBE_EVERY = timedelta(seconds=4)
#: Rows claimed (and sent concurrently) at a time: each in a different conversation.
BATCH = 100
LEASE = timedelta(seconds=60)
ANCHOR_WAIT = timedelta(seconds=1)
PACE = timedelta(seconds=1)


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
    async def post(self, channel: str, text: str, blocks: list[bk.Block] | None, *,
                   metadata: dict[str, Any] | None = None) -> tuple[str, str]: ...

    async def find_tagged(self, channel: str, row_id: int, oldest: datetime) -> tuple[str, str] | None: ...

    async def update(self, channel: str, ts: str, text: str, blocks: list[bk.Block] | None) -> None: ...

    async def members(self, group: str) -> list[str]: ...

    async def upload(self, channel: str, file: FileToShare, comment: str) -> None: ...


@dataclass(frozen=True)
class FileToShare:
    """The file of an `upload` row, as the gateway sends it (Slack's files upload v2)."""

    filename: str
    title: str
    alt_text: str
    content: bytes


@dataclass(frozen=True)
class _Target:
    channel: str
    ts: str | None


@dataclass(frozen=True)
class _Anchored:
    """What decides where an anchored row goes: the message that landed (if any), whether a
    later version is queued or sent, and whether the anchor's post is still pending."""

    landed: _Target | None
    newer: bool
    post_pending: bool


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** attempts, 300))


class Dispatcher:
    def __init__(self, uow: UnitOfWorkFactory, gateway: Gateway, clock: Clock, batch: int = BATCH, *,
                 pace: timedelta = PACE, give_up: timedelta = GIVE_UP, probe_every: timedelta = PROBE_EVERY):
        self.uow = uow
        self.gateway = gateway
        self.clock = clock
        self.batch = batch
        self.pace = pace
        self.give_up = give_up
        self.probe_every = probe_every
        self.worker = f"dispatcher-{uuid.uuid4().hex[:12]}"
        self.settle = GroupCommit(uow).run
        self._last_probe: datetime | None = None
        #: What `_target` needs of the claimed rows' anchors, read for the whole claim at once.
        self._anchors: dict[int, _Anchored] = {}
        #: Cleared at shutdown: the rows under way settle, no new ones are taken.
        self.claiming = True

    async def dispatch_due(self) -> int:
        """Send every row due now that pace allows; returns how many were settled.

        The rows of one claim are in different conversations, so they are sent concurrently.
        """
        settled = 0
        while self.claiming:
            async with self.uow(read_only=True) as uow:
                if not await uow.outbox.any_claimable(self.clock()):
                    break
            async with self.uow() as uow:
                rows = await uow.outbox.claim(self.worker, self.clock(), LEASE, self.batch)
                await uow.commit()
            if not rows:
                break
            await self._read_anchors(rows)
            await asyncio.gather(*(self._handle(row) for row in rows))
            self._anchors.clear()
            settled += len(rows)
        return settled + await self._probe()

    async def _probe(self) -> int:
        """Try one row an outage holds back, at most every `probe_every` (see the module)."""
        now = self.clock()
        if not self.claiming or (self._last_probe is not None and now < self._last_probe + self.probe_every):
            return 0
        self._last_probe = now
        async with self.uow() as uow:
            row = await uow.outbox.claim_held(self.worker, now, LEASE)
            await uow.commit()
        if row is None:
            return 0
        log.info("trying %s to %s early to see whether Slack answers again", row.dedupe_key, row.channel)
        await self._handle(row)
        return 1

    async def next_wake(self) -> datetime | None:
        """When a pending row may next become sendable (by this dispatcher's clock). Read
        only: on SQLite it takes no write lock, which every commit that queues a message
        would otherwise wait for once more."""
        async with self.uow(read_only=True) as uow:
            return await uow.outbox.next_wake(self.clock())

    async def _handle(self, row: OutboxRow) -> None:
        try:
            if is_user_group(row.channel) and row.method == Method.POST:
                await self._expand(row)
            else:
                await self._deliver(row)
        except Exception:  # a bug must not stop the other rows; the lease expires
            log.exception("outbox row %s (%s) could not be handled", row.id, row.dedupe_key)

    async def _deliver(self, row: OutboxRow) -> None:
        target = await self._target(row)
        if target is None:
            return
        try:
            if row.method == Method.UPLOAD:
                await self.gateway.upload(row.channel, await self._file(row), row.text)
                channel, ts = row.channel, ""
            elif target.ts is not None:
                try:
                    await self.gateway.update(target.channel, target.ts, row.text, row.blocks)
                    channel, ts = target.channel, target.ts
                except MessageGone:
                    channel, ts = await delivery_check.post_once(self.gateway, row, LEASE)
            else:
                # Slack answers with the conversation it posted in: for a user id, the DM's id,
                # which is what a later chat.update needs. Tagged with the row's id, and looked
                # for first if an earlier attempt may have landed (bot/delivery_check.py).
                channel, ts = await delivery_check.post_once(self.gateway, row, LEASE)
        except DeliveryError as exc:
            await self._failed(row, exc)
            return
        now = self.clock()

        async def mark_sent(uow: UnitOfWork) -> bool:
            if row.anchor and ts != target.ts:
                await uow.outbox.set_anchor(row.anchor, channel, ts, row.release_id, now)
            settled = await uow.outbox.finish(
                row.id, self.worker, state=DeliveryState.SENT.value, sent_at=now,
                attempts=row.attempts + 1, last_error=None, failing_since=None,
            )
            await uow.outbox.pace(row.channel, now + self.pace)
            if settled and row.purpose and row.release_id is not None:
                await uow.events.append(row.release_id, EventKind.COMMUNICATION_SENT.value, None, now, {
                    "template": row.template, "channel": row.channel, "message": row.dedupe_key,
                })
            await _release_backlog(uow, row, now)
            return settled

        settled = await self.settle(mark_sent)
        if not settled:
            log.warning("outbox row %s was sent after its lease expired (%s)", row.id, row.dedupe_key)
        log.info("sent %s to %s (attempt %d)", row.dedupe_key, row.channel, row.attempts + 1)

    async def _file(self, row: OutboxRow) -> FileToShare:
        async with self.uow(read_only=True) as uow:
            stored = await uow.model_review.file(row.dedupe_key)
            if stored is None:
                raise DeliveryError("file_missing", permanent=True)
            return FileToShare(stored.filename, stored.title, stored.alt_text, bytes(stored.content))

    async def _expand(self, row: OutboxRow) -> None:
        """A message for a user group becomes one direct message per member, queued in the
        transaction that settles the group's row; dedupe keys end in the member's id, so a
        person listed directly and through a group hears it once."""
        try:
            members = await self.gateway.members(row.channel)
        except DeliveryError as exc:
            await self._failed(row, exc)
            return
        now = self.clock()
        base = row.dedupe_key.removesuffix(f":{row.channel}")
        async with self.uow() as uow:
            for member in members:
                await Message(
                    Method.POST, member, row.text, row.blocks, f"{base}:{member}", release_id=row.release_id,
                    notify_user=row.notify_user, purpose=Purpose(row.purpose) if row.purpose else None,
                    timing=Timing(row.timing) if row.timing else None, template=row.template,
                ).enqueue(uow, now)
            await uow.outbox.finish(row.id, self.worker, state=DeliveryState.EXPANDED.value, sent_at=now,
                                    attempts=row.attempts + 1, last_error=None, failing_since=None)
            await uow.outbox.pace(row.channel, now)
            await _release_backlog(uow, row, now)
            await uow.commit()
        log.info("%s for group %s: one direct message to each of %d members",
                 row.dedupe_key, row.channel, len(members))

    async def _read_anchors(self, rows: list[OutboxRow]) -> None:
        """Read the anchors of a claim's rows in one read-only transaction: a fan-out's survey
        messages are all anchored, and a transaction per row would queue them on SQLite."""
        anchored = [row for row in rows if row.anchor]
        if not anchored:
            return
        async with self.uow(read_only=True) as uow:
            landed, latest, pending = await uow.outbox.anchored([row.anchor for row in anchored if row.anchor])
        for row in anchored:
            assert row.anchor is not None
            message = landed.get(row.anchor)
            self._anchors[row.id] = _Anchored(
                _Target(message.channel, message.ts) if message else None,
                newer=latest.get(row.anchor, row.id) > row.id, post_pending=row.anchor in pending)

    async def _anchored(self, row: OutboxRow) -> _Anchored:
        read = self._anchors.pop(row.id, None)
        if read is not None:
            return read
        assert row.anchor is not None
        async with self.uow(read_only=True) as uow:
            existing = await uow.outbox.anchor(row.anchor)
            return _Anchored(_Target(existing.channel, existing.ts) if existing else None,
                             newer=await uow.outbox.overtaken(row.anchor, row.id),
                             post_pending=await uow.outbox.post_pending(row.anchor))

    async def _target(self, row: OutboxRow) -> _Target | None:
        """Where the row goes: a new message, or the anchored one. None: not now, or never.

        For an anchored message only the newest pending row matters: older ones are
        superseded, so a card never goes back to an earlier version. A post whose anchor has
        landed already is done; an update whose post is still on its way waits for it.
        """
        if not row.anchor:
            return _Target(row.channel, None)
        # Read without the write lock (see `_read_anchors`); the rare row that is superseded or
        # must wait is settled with the others.
        anchored = await self._anchored(row)
        existing = anchored.landed
        waits = existing is None and row.method == Method.UPDATE and anchored.post_pending
        target = existing or _Target(row.channel, None)
        if anchored.newer or (row.method == Method.POST and existing is not None):
            await self.settle(lambda uow: self._set_aside(uow, row, state=DeliveryState.SUPERSEDED.value))
            return None
        if waits:
            await self.settle(lambda uow: self._set_aside(uow, row, due_at=self.clock() + ANCHOR_WAIT))
            return None
        return target

    async def _set_aside(self, uow: UnitOfWork, row: OutboxRow, **values: object) -> None:
        await uow.outbox.finish(row.id, self.worker, **values)
        await uow.outbox.pace(row.channel, self.clock())

    async def _failed(self, row: OutboxRow, exc: DeliveryError) -> None:
        await self.settle(lambda uow: self._settle_failure(uow, row, exc))

    async def _settle_failure(self, uow: UnitOfWork, row: OutboxRow, exc: DeliveryError) -> None:
        now = self.clock()
        attempts = row.attempts + 1
        # The row's due time when its first attempt failed: the give-up clock starts there.
        failing_since = row.failing_since or row.due_at
        give_up = exc.permanent or now - failing_since >= self.give_up
        if exc.retry_after is not None:  # Slack asks this conversation to wait
            await uow.outbox.pace(row.channel, now + timedelta(seconds=exc.retry_after))
        else:
            await uow.outbox.pace(row.channel, now + self.pace)
        if not give_up:
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else backoff(attempts)
            await uow.outbox.finish(row.id, self.worker, attempts=attempts, last_error=exc.error,
                                    due_at=now + delay, failing_since=failing_since,
                                    **delivery_check.still_unsure(row, exc, LEASE))
            log.warning("outbox row %s (%s) to %s: %s; retrying in %ss (attempt %d, failing since %s)",
                        row.id, row.dedupe_key, row.channel, exc.error, delay.total_seconds(),
                        attempts, failing_since.isoformat(timespec="seconds"))
            return
        await uow.outbox.finish(row.id, self.worker, state=DeliveryState.FAILED.value,
                                attempts=attempts, last_error=exc.error)
        log.error("outbox row %s (%s) to %s failed for good after %d attempts: %s",
                  row.id, row.dedupe_key, row.channel, attempts, exc.error)
        if row.release_id is not None:
            await uow.events.append(row.release_id, EventKind.MESSAGE_FAILED.value, None, now,
                                    {"channel": row.channel, "error": exc.error, "message": row.dedupe_key,
                                     "attempts": attempts})
        if row.notify_user and exc.error in CHANNEL_ERRORS and row.channel != row.notify_user:
            await _tell_how_to_fix(uow, row, exc.error, now)


async def _release_backlog(uow: UnitOfWork, row: OutboxRow, now: datetime) -> None:
    """A row that had been failing went through: Slack answers again, so whatever an outage
    holds back is due now, in the order it came due (pace still spaces each conversation)."""
    if row.failing_since is None:
        return
    released = await uow.outbox.release_held(now)
    if released:
        log.info("Slack answers again (%s went through): %d held messages released", row.dedupe_key, released)


async def _tell_how_to_fix(uow: UnitOfWork, row: OutboxRow, error: str, now: datetime) -> None:
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
    ).enqueue(uow, now)
