"""Events: the bot joining a conversation delivers what it could not post there before."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.context import Services
from handlers.slack.common import guarded


def register(app: AsyncApp, services: Services) -> None:
    @app.event("member_joined_channel")
    async def on_member_joined(event: dict[str, Any], context: AsyncBoltContext) -> None:
        if event.get("user") != context.bot_user_id:
            return
        channel = str(event["channel"])
        await guarded("redelivering after an invitation", None,
                      lambda: services.releases.bot_joined(channel), channel=channel)
