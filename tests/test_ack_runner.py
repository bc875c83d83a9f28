"""Slack gets its answer the moment a listener acks (handlers/slack/ack_runner.py), not at
Bolt's next 10 ms look; and the runner keeps Bolt's behaviour around the ack: an error before
it answers 500, an error after it is handled and the ack stands, no ack at all is warned of."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest

from handlers.app import Releasebot
from handlers.slack.ack_runner import PromptAckRunner
from tests.conftest import ALICE
from tests.workspace import Workspace

BOLT_POLL = 0.01


def _polls(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every `asyncio.sleep(0.01)` from now on: Bolt's runner looking whether the ack came."""
    seen: list[float] = []
    real = asyncio.sleep

    def counted(delay: float, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        if delay == BOLT_POLL:
            seen.append(delay)
        return real(delay, *args, **kwargs)

    monkeypatch.setattr(asyncio, "sleep", counted)
    return seen


async def test_a_slash_command_is_answered_as_it_is_acked_without_waiting_for_a_poll(
    bot: Releasebot, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(bot.bolt.listener_runner, PromptAckRunner)
    polls = _polls(monkeypatch)
    answer = await workspace.command("help", by=ALICE)
    assert answer.status == 200
    assert "/release" in answer.body
    assert polls == []  # Bolt's own runner: at least one, for every request


def _app() -> tuple[AsyncApp, PromptAckRunner]:
    async def authorize(**_: Any) -> AuthorizeResult:  # no auth.test: nothing here talks to Slack
        return AuthorizeResult(enterprise_id=None, team_id="T1", bot_token="xoxb-test", bot_user_id="UBOT",
                               bot_id="BBOT")

    bolt = AsyncApp(authorize=authorize, request_verification_enabled=False, process_before_response=False,
                    logger=logging.getLogger("test.ack_runner"))
    return bolt, PromptAckRunner.install(bolt)


def _command(text: str = "go") -> AsyncBoltRequest:
    body = urlencode({"command": "/t", "text": text, "team_id": "T1", "user_id": "U1", "channel_id": "C1",
                      "response_url": "http://127.0.0.1:9/hook", "trigger_id": "1.2"})
    return AsyncBoltRequest(body=body, headers={"content-type": ["application/x-www-form-urlencoded"]})


async def test_the_ack_is_answered_while_the_listener_goes_on_and_the_listener_finishes() -> None:
    bolt, runner = _app()
    go_on, finished = asyncio.Event(), asyncio.Event()

    @bolt.command("/t")
    async def listener(ack: AsyncAck) -> None:
        await ack(text="on it")
        await go_on.wait()
        finished.set()

    response = await bolt.async_dispatch(_command())
    assert (response.status, response.body) == (200, "on it")
    assert not finished.is_set() and len(runner._running) == 1
    go_on.set()
    await asyncio.wait_for(finished.wait(), 5)
    await asyncio.sleep(0)
    assert runner._running == set()


async def test_an_error_before_the_ack_answers_500_and_is_handled() -> None:
    bolt, _ = _app()
    handled: list[str] = []

    @bolt.error
    async def on_error(error: Exception) -> None:
        handled.append(str(error))

    @bolt.command("/t")
    async def listener(ack: AsyncAck) -> None:
        raise RuntimeError("broken before the ack")

    response = await bolt.async_dispatch(_command())
    assert response.status == 500
    assert handled == ["broken before the ack"]


async def test_an_error_after_the_ack_leaves_the_ack_and_is_handled() -> None:
    bolt, _ = _app()
    handled = asyncio.Event()

    @bolt.error
    async def on_error(error: Exception) -> None:
        handled.set()

    @bolt.command("/t")
    async def listener(ack: AsyncAck) -> None:
        await ack(text="acked")
        raise RuntimeError("broken after the ack")

    response = await bolt.async_dispatch(_command())
    assert (response.status, response.body) == (200, "acked"), response.body
    await asyncio.wait_for(handled.wait(), 5)


async def test_a_listener_that_never_acks_is_warned_of_after_the_ack_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bolt, _ = _app()

    @bolt.command("/t")
    async def listener(ack: AsyncAck) -> None:
        await asyncio.sleep(30)

    bolt._async_listeners[-1].ack_timeout = 0.2  # type: ignore[misc]
    with caplog.at_level(logging.WARNING, logger="test.ack_runner"):
        response = await bolt.async_dispatch(_command())
    assert response.status == 404  # Bolt's answer when no listener answered
    assert any("ack()" in r.getMessage() for r in caplog.records)


async def test_a_listener_that_ends_without_acking_is_warned_of_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bolt, _ = _app()

    @bolt.command("/t")
    async def listener() -> None:
        return None

    with caplog.at_level(logging.WARNING, logger="test.ack_runner"):
        response = await asyncio.wait_for(bolt.async_dispatch(_command()), 2.5)  # not the 3 s timeout
    assert response.status == 404
    assert any("ack()" in r.getMessage() for r in caplog.records)
