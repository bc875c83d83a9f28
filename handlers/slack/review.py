"""The review report's buttons: lessons learnt (a modal) and closing the release."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import actions as ids
from bot.context import Services
from bot.records import parse_ref
from bot.rendering.views import lessons_modal
from handlers.slack.common import guarded, refuse, told


def register(app: AsyncApp, services: Services) -> None:
    @app.action(ids.LESSONS)
    async def on_lessons(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                         client: AsyncWebClient) -> None:
        await ack()
        user, release_id = body["user"]["id"], parse_ref(str(body["actions"][0].get("value", "")))
        if release_id is None:
            return
        channel = str(body.get("channel", {}).get("id", ""))
        await guarded("opening the lessons learnt modal", respond,
                      lambda: client.views_open(trigger_id=body["trigger_id"], view=lessons_modal(release_id, channel)),
                      user=user, release=release_id)

    @app.view(ids.LESSONS_VIEW)
    async def on_lessons_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                                   client: AsyncWebClient) -> None:
        user = body["user"]["id"]
        values = view.get("state", {}).get("values", {})
        text = str(values.get(ids.FIELD_LESSONS, {}).get(ids.FIELD_LESSONS, {}).get("value") or "").strip()
        if not text:
            await ack(response_action="errors", errors={ids.FIELD_LESSONS: "Write what you learnt."})
            return
        await ack()
        metadata = json.loads(view.get("private_metadata") or "{}")
        release_id = int(metadata["release_id"])

        async def work() -> None:
            outcome = await services.reviews.add_lessons(release_id, user, text)
            if outcome.refusal and metadata.get("channel"):
                await client.chat_postEphemeral(channel=metadata["channel"], user=user,
                                                text=told(outcome.refusal, release_id))

        await guarded("adding lessons learnt", None, work, user=user, release=release_id)

    @app.action(ids.CLOSE)
    async def on_close(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user, release_id = body["user"]["id"], parse_ref(str(body["actions"][0].get("value", "")))
        if release_id is None:
            return

        async def work() -> None:
            outcome = await services.reviews.close(release_id, user)
            if outcome.refusal:
                await refuse(respond, outcome.refusal, release_id)

        await guarded("closing a release", respond, work, user=user, release=release_id)
