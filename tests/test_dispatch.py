"""The dispatcher against the fake Web API: rate limits, server errors, timeouts, giving up,
pacing per conversation, and two replicas on one PostgreSQL database."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta
from typing import Any

import pytest

from bot.catalog import Catalog
from bot.config import Settings
from bot.outbox import Message
from bot.rendering.messages import Rendered
from handlers.app import Releasebot, build
from storage import migrate
from tests.conftest import MovableClock, eventually, plan_release, settle
from tests.fake_slack import FakeSlack
from tests.workspace import Workspace


async def queue(bot: Releasebot, *messages: tuple[str, str], release_id: int | None = None) -> None:
    """Queue (channel, text) posts in one transaction; the text doubles as the dedupe key."""
    async with bot.services.releases.uow() as uow:
        for channel, text in messages:
            await Message.post(channel=channel, rendered=Rendered(text, []), dedupe_key=text,
                               release_id=release_id).enqueue(uow, bot.services.clock())
        await uow.commit()


async def row(bot: Releasebot, dedupe_key: str) -> dict:
    async with bot.services.releases.uow() as uow:
        from sqlalchemy import select

        from storage.tables import OutboxRow

        found = (await uow.session.execute(select(OutboxRow).where(OutboxRow.dedupe_key == dedupe_key))).scalar_one()
        return {"state": found.state, "attempts": found.attempts, "last_error": found.last_error,
                "due_at": found.due_at}


async def test_a_429_delays_only_its_conversation_for_retry_after(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, clock: MovableClock
) -> None:
    slack.fail("chat.postMessage", status=429, headers={"Retry-After": "30"},
               when=lambda p: p["channel"] == "CBUSY")
    await queue(bot, ("CBUSY", "busy"), ("CQUIET", "quiet"))
    await slack.wait_for_calls("chat.postMessage", channel="CQUIET")
    await eventually(lambda: _attempts(bot, "busy", 1))
    await settle(bot)
    assert slack.posts("CBUSY") == []
    limited = await row(bot, "busy")
    assert limited["state"] == "pending" and limited["last_error"] == "ratelimited"
    assert limited["due_at"] >= clock() + timedelta(seconds=25)  # Retry-After, not a short backoff

    clock.advance(timedelta(seconds=30))
    await slack.wait_for_calls("chat.postMessage", channel="CBUSY")
    await settle(bot)
    assert [c.status for c in slack.attempts_to("chat.postMessage") if c["channel"] == "CBUSY"] == [429, 200]
    assert (await row(bot, "busy"))["state"] == "sent"


async def _attempts(bot: Releasebot, key: str, count: int) -> bool:
    return bool((await row(bot, key))["attempts"] >= count)


async def test_a_timeout_is_retried_and_the_message_lands_once(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, clock: MovableClock
) -> None:
    bot.dispatcher.gateway.client.timeout = 1  # type: ignore[attr-defined]
    slack.delays["chat.postMessage"] = 3.0
    await queue(bot, ("CSLOW", "slow"))
    await eventually(lambda: _attempts(bot, "slow", 1), timeout=15)
    assert (await row(bot, "slow"))["last_error"].startswith("network")
    slack.delays.clear()
    clock.advance(timedelta(seconds=2))
    await slack.wait_for_calls("chat.postMessage", channel="CSLOW")
    await settle(bot)
    assert [c.text for c in slack.posts("CSLOW")] == ["slow"]
    assert (await row(bot, "slow")) | {"due_at": None} == {"state": "sent", "attempts": 2, "last_error": None,
                                                             "due_at": None}


async def test_after_the_last_attempt_the_message_is_failed_logged_and_on_the_record(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, clock: MovableClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    release_id, _ = await plan_release(workspace)
    bot.dispatcher.give_up = timedelta(minutes=8)
    bot.dispatcher.probe_every = timedelta(hours=1)  # no early tries: exactly the attempts the clock allows
    slack.fail("chat.postMessage", status=503, times=99, body="Service Unavailable",
               when=lambda p: p["channel"] == "CDOWN")
    caplog.set_level(logging.ERROR, logger="bot.dispatcher")
    await queue(bot, ("CDOWN", "doomed"), release_id=release_id)
    for attempt in (1, 2):  # 5 and 10 minutes after it was due: the second is past the give-up point
        await eventually(lambda n=attempt: _attempts(bot, "doomed", n))
        clock.advance(timedelta(minutes=5))
    await eventually(lambda: _failed(bot, "doomed"))
    assert len(slack.attempts_to("chat.postMessage")) - len(slack.posts()) == 3
    assert "failed for good after 3 attempts" in caplog.text and "doomed" in caplog.text

    details = await bot.services.releases.show(release_id)
    assert details is not None
    assert details.events[-1].kind == "message_failed" and details.events[-1].data["channel"] == "CDOWN"
    seen = len(slack.responses())
    await workspace.command(f"show REL-{release_id}", by="UALICE")
    record = (await slack.next_response(seen)).all_text()
    assert "Messages not delivered" in record and "<#CDOWN>" in record and "http_503" in record


async def _failed(bot: Releasebot, key: str) -> bool:
    return (await row(bot, key))["state"] == "failed"


async def test_one_conversation_gets_at_most_one_message_per_second(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack
) -> None:
    await queue(bot, *[("CPACED", f"paced {n}") for n in range(3)], ("COTHER", "other"))
    posts = await slack.wait_for_calls("chat.postMessage", 3, channel="CPACED")
    assert [p.text for p in posts] == ["paced 0", "paced 1", "paced 2"]
    gaps = [b.at - a.at for a, b in zip(posts, posts[1:], strict=False)]
    assert all(gap >= 0.95 for gap in gaps), gaps
    other = slack.posts("COTHER")[0]
    assert other.at - posts[0].at < 0.9  # another conversation does not wait in line
    await settle(bot)
    for n in range(3):  # held back for pace is not an attempt
        assert (await row(bot, f"paced {n}"))["attempts"] == 1


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="replicas claim with SKIP LOCKED: PostgreSQL")
async def test_two_replicas_on_postgresql_send_each_message_once_and_pace_together(
    settings: Settings, catalog: Catalog, slack: FakeSlack
) -> None:
    """Two bots on one database, as two `releasebot serve` processes would be, race over 120
    messages in 20 conversations: every message reaches Slack once, and each conversation's
    messages keep their pace although different replicas send them."""
    replicas = [build(settings, catalog), build(settings, catalog)]
    await migrate.upgrade(replicas[0].engine)
    sent_by: dict[str, int] = {}
    for replica in replicas:
        replica.dispatcher.pace = timedelta(milliseconds=200)
        replica.dispatcher.batch = 5
        sent_by[replica.dispatcher.worker] = 0
        _count_posts(replica, sent_by)
    slack.delays["chat.postMessage"] = 0.02  # sends take a while, so the replicas overlap
    channels = [f"CREPLICA{c}" for c in range(20)]
    keys = [(channel, f"{channel} message {n}") for n in range(6) for channel in channels]
    await queue(replicas[0], *keys)

    async def run(replica: Releasebot) -> None:
        while len(slack.posts()) < len(keys):
            await replica.dispatcher.dispatch_due()
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(asyncio.gather(*(run(r) for r in replicas)), timeout=60)
        for replica in replicas:  # nothing is left to send by either
            assert await replica.dispatcher.dispatch_due() == 0
    finally:
        for replica in replicas:
            await replica.engine.dispose()
    texts = [p.text for p in slack.posts()]
    assert sorted(texts) == sorted(text for _, text in keys)  # each exactly once
    for channel in channels:
        arrivals = [p.at for p in slack.posts(channel)]
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
        assert all(gap >= 0.19 for gap in gaps), (channel, gaps)
    assert all(count > 0 for count in sent_by.values()), sent_by  # both really raced


def _count_posts(replica: Releasebot, sent_by: dict[str, int]) -> None:
    gateway = replica.dispatcher.gateway
    original = gateway.post
    worker = replica.dispatcher.worker

    async def post(channel: str, text: str, blocks: list | None, **kw: Any) -> tuple[str, str]:
        result = await original(channel, text, blocks, **kw)
        sent_by[worker] += 1
        return result

    gateway.post = post  # type: ignore[method-assign]


async def test_stopping_lets_a_send_under_way_settle(
    settings: Settings, catalog: Catalog, slack: FakeSlack
) -> None:
    """A graceful stop (SIGTERM) must not cut a send in half: a cancelled send leaves a lease,
    and after it expires the message would go a second time."""
    bot = build(settings, catalog)
    await bot.start()
    slack.delays["chat.postMessage"] = 1.0
    async with bot.services.releases.uow() as uow:  # due shortly: sent from a scheduler job, not a wake-up
        now = bot.services.clock()
        await Message.post(channel="CSTOP", rendered=Rendered("in flight", []), dedupe_key="in flight",
                           due_at=now + timedelta(milliseconds=300)).enqueue(uow, now)
        await uow.commit()

    async def leased() -> bool:
        async with bot.services.releases.uow() as uow:
            from sqlalchemy import select

            from storage.tables import OutboxRow

            found = await uow.session.execute(select(OutboxRow.claimed_by).where(OutboxRow.dedupe_key == "in flight"))
            return found.scalar_one() is not None

    await eventually(leased)
    await bot.heartbeat.shutdown()
    assert (await row(bot, "in flight"))["state"] == "sent"
    await bot.stop()
    assert [c.text for c in slack.posts("CSTOP")] == ["in flight"]
