"""The work after an ack waits for one of a few slots (handlers/slack/after_ack.py), and for a
lull in the acks: more commands than slots are all acked, all answered, none lost, and never
more at once than the limit."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from bot import foreground
from handlers.app import Releasebot
from handlers.slack import after_ack
from tests.conftest import ALICE
from tests.fake_slack import FakeSlack
from tests.workspace import Workspace


async def test_more_commands_than_slots_are_all_answered_never_more_at_once_than_the_limit(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(after_ack, "LIMIT", 2)
    running, most = 0, 0
    original = bot.services.releases.list

    async def slow_list(*args: Any, **kw: Any) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(0.1)  # long enough that the commands overlap
            return await original(*args, **kw)
        finally:
            running -= 1

    monkeypatch.setattr(bot.services.releases, "list", slow_list)
    commands = 8  # eight people's own releases: eight questions, none sharing another's answer
    answers = await asyncio.gather(*(workspace.command("list mine", by=f"U0PERSON{n}") for n in range(commands)))
    assert [a.status for a in answers] == [200] * commands
    await slack.wait_for(lambda: len(slack.responses()) >= commands, timeout=30)
    assert len(slack.responses()) == commands
    assert all("Your releases" in r.all_text() for r in slack.responses())
    assert most == 2  # queued behind the limit, and the limit used


async def test_answers_share_one_http_session(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bolt's own respond() opens a session (and a connection) for every answer; ours reuses one."""
    await workspace.command("list", by=ALICE)  # warm up: authorization, the shared session
    await slack.next_response(0)
    opened: list[aiohttp.ClientSession] = []
    real = aiohttp.ClientSession

    def counted(*args: Any, **kw: Any) -> aiohttp.ClientSession:
        opened.append(real(*args, **kw))
        return opened[-1]

    monkeypatch.setattr(aiohttp, "ClientSession", counted)
    for n in range(1, 4):
        await workspace.command("list", by=ALICE)
        await slack.next_response(n)
    assert opened == []


async def test_post_ack_work_waits_for_a_lull_in_the_acks() -> None:
    """Answers follow the acks of a burst instead of slowing them down."""
    ran: list[str] = []

    async def work() -> None:
        ran.append("answered")

    with foreground.serving():  # a request being acked
        answering = asyncio.create_task(after_ack.bounded(work))
        await asyncio.sleep(0.1)
        assert ran == []
    await asyncio.wait_for(answering, 2)
    assert ran == ["answered"]


async def test_post_ack_work_waits_for_a_lull_no_longer_than_its_patience(monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst that never lets up still gets its answers, late."""
    monkeypatch.setattr(after_ack, "PATIENCE_SECONDS", 0.2)
    ran: list[str] = []

    async def work() -> None:
        ran.append("answered")

    with foreground.serving():
        await asyncio.wait_for(after_ack.bounded(work), 2)
        assert ran == ["answered"]
