"""Exactly once across a crash: posts carry their outbox id as Slack message metadata, and a row
whose attempt was never settled is looked for in the conversation's history before it is posted
again (bot/delivery_check.py), against the fake Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.catalog import Catalog
from bot.config import Settings
from bot.dispatcher import LEASE
from bot.outbox import Message
from bot.rendering.messages import Rendered
from handlers.app import Releasebot, build
from storage import migrate
from storage.tables import OutboxRow
from tests.conftest import MovableClock
from tests.fake_slack import FakeSlack


class Killed(BaseException):
    """The process dies: nothing after this point runs (no except Exception catches it)."""


@pytest.fixture
async def replicas(settings: Settings, catalog: Catalog, clock: MovableClock) -> AsyncIterator[list[Releasebot]]:
    """Two bots on one database, not serving: the first is killed mid-send, the second takes over."""
    bots = [build(settings, catalog, clock=clock), build(settings, catalog, clock=clock)]
    await migrate.upgrade(bots[0].engine)
    yield bots
    for bot in bots:
        await bot.engine.dispose()


async def queue(bot: Releasebot, channel: str, key: str, anchor: str | None = None) -> int:
    async with bot.services.releases.uow() as uow:
        await Message.post(channel=channel, rendered=Rendered(key, []), dedupe_key=key,
                           anchor=anchor).enqueue(uow, bot.services.clock())
        await uow.commit()
        found = await uow.session.execute(select(OutboxRow.id).where(OutboxRow.dedupe_key == key))
        return int(found.scalar_one())


async def stored(bot: Releasebot, row_id: int) -> OutboxRow:
    async with bot.services.releases.uow() as uow:
        row = await uow.outbox.get(row_id)
        assert row is not None
        return row


def kill_after_slack_answers(bot: Releasebot, *, before: bool = False) -> None:
    """Slack takes the post (or, with `before`, never sees it), then the process dies before the
    transaction that marks the row sent."""
    gateway = bot.dispatcher.gateway
    original = gateway.post

    async def post(channel: str, text: str, blocks: Any, **kw: Any) -> tuple[str, str]:
        if before:
            raise Killed()
        await original(channel, text, blocks, **kw)
        raise Killed()

    gateway.post = post  # type: ignore[method-assign]


async def test_a_post_carries_its_outbox_id_and_history_returns_it_only_when_asked(
    replicas: list[Releasebot], slack: FakeSlack
) -> None:
    bot = replicas[0]
    row_id = await queue(bot, "CTAGGED", "tagged")
    await bot.dispatcher.dispatch_due()
    [post] = slack.posts("CTAGGED")
    assert post["metadata"] == {"event_type": "releasebot_outbox", "event_payload": {"outbox_id": row_id}}

    client = bot.dispatcher.gateway.client  # type: ignore[attr-defined]
    plain = await client.conversations_history(channel="CTAGGED")
    assert [m["ts"] for m in plain["messages"]] == [post.result["ts"]] and "metadata" not in plain["messages"][0]
    full = await client.conversations_history(channel="CTAGGED", include_all_metadata=True)
    assert full["messages"][0]["metadata"]["event_payload"]["outbox_id"] == row_id

    since = (await stored(bot, row_id)).created_at - timedelta(minutes=1)
    found = await bot.dispatcher.gateway.find_tagged("CTAGGED", row_id, since)
    assert found == ("CTAGGED", post.result["ts"])
    assert await bot.dispatcher.gateway.find_tagged("CTAGGED", row_id + 1, since) is None


@pytest.mark.parametrize("channel", ["CCRASH", "UCRASH"])  # a channel, and a direct message by user id
async def test_killed_between_slacks_answer_and_the_commit_the_next_dispatcher_posts_nothing_twice(
    replicas: list[Releasebot], slack: FakeSlack, clock: MovableClock, channel: str
) -> None:
    first, second = replicas
    row_id = await queue(first, channel, f"card for {channel}", anchor=f"test:{channel}:card")
    kill_after_slack_answers(first)
    with pytest.raises(Killed):
        await first.dispatcher.dispatch_due()
    [post] = slack.posts(channel)
    assert (await stored(first, row_id)).state == "pending"  # Slack has it; the record does not

    assert await second.dispatcher.dispatch_due() == 0  # the dead worker's lease still holds
    clock.advance(LEASE + timedelta(seconds=1))
    assert await second.dispatcher.dispatch_due() == 1

    assert slack.posts(channel) == [post]  # nothing posted twice
    assert slack.calls_to("conversations.history")  # it looked before posting again
    row = await stored(second, row_id)
    assert (row.state, row.sending_since, row.attempts) == ("sent", None, 1)
    async with second.services.releases.uow() as uow:
        anchor = await uow.outbox.anchor(f"test:{channel}:card")
    assert anchor is not None and (anchor.channel, anchor.ts) == (post.result["channel"], post.result["ts"])


async def test_killed_before_slack_saw_the_post_the_next_dispatcher_posts_it_once(
    replicas: list[Releasebot], slack: FakeSlack, clock: MovableClock
) -> None:
    first, second = replicas
    row_id = await queue(first, "CLOST", "never reached slack")
    kill_after_slack_answers(first, before=True)
    with pytest.raises(Killed):
        await first.dispatcher.dispatch_due()
    clock.advance(LEASE + timedelta(seconds=1))
    await second.dispatcher.dispatch_due()
    assert [p.text for p in slack.posts("CLOST")] == ["never reached slack"]
    assert slack.calls_to("conversations.history", channel="CLOST")
    assert (await stored(second, row_id)).state == "sent"


async def test_a_first_attempt_does_not_read_history(replicas: list[Releasebot], slack: FakeSlack) -> None:
    await queue(replicas[0], "CFIRST", "first try")
    await replicas[0].dispatcher.dispatch_due()
    assert len(slack.posts("CFIRST")) == 1 and slack.calls_to("conversations.history") == []


async def test_a_conversation_the_bot_cannot_read_is_posted_again_with_a_warning(
    replicas: list[Releasebot], slack: FakeSlack, clock: MovableClock, caplog: pytest.LogCaptureFixture
) -> None:
    """What remains: without the history scopes (an older manifest) the look fails, so the row
    is posted again, as before the check existed, and the log says that it may repeat."""
    first, second = replicas
    await queue(first, "CUNREAD", "unreadable")
    kill_after_slack_answers(first)
    with pytest.raises(Killed):
        await first.dispatcher.dispatch_due()
    slack.fail("conversations.history", error="missing_scope", times=5)
    clock.advance(LEASE + timedelta(seconds=1))
    await second.dispatcher.dispatch_due()
    assert len(slack.posts("CUNREAD")) == 2
    assert "posting it again may repeat it" in caplog.text
