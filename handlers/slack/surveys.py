"""Survey buttons (ratings 1–5, comments) and the comment modal."""

from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import actions as ids
from bot.context import Services
from bot.records import parse_ref
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered
from bot.rendering.views import comment_modal
from handlers.slack.common import guarded, refuse, told


def register(app: AsyncApp, services: Services) -> None:
    @app.action(re.compile(rf"^{ids.SURVEY_RATE}:"))
    async def on_rate(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user = body["user"]["id"]
        try:
            value = json.loads(body["actions"][0]["value"])
            release_id, question, rating = int(value["r"]), str(value["q"]), int(value["v"])
        except (KeyError, TypeError, ValueError):
            return

        async def work() -> None:
            outcome = await services.surveys.rate(release_id, user, question, rating)
            if outcome.refusal:
                await refuse(respond, outcome.refusal, release_id)

        await guarded("recording a survey rating", respond, work, user=user, release=release_id)

    @app.action(ids.SURVEY_COMMENT)
    async def on_comment(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                         client: AsyncWebClient) -> None:
        await ack()
        user = body["user"]["id"]
        release_id = parse_ref(str(body["actions"][0].get("value", "")))
        if release_id is None:
            return

        async def work() -> None:
            questions = await services.surveys.text_questions(release_id)
            if questions.refusal:
                await refuse(respond, questions.refusal, release_id)
                return
            await client.views_open(trigger_id=body["trigger_id"], view=comment_modal(release_id, questions.unwrap()))

        await guarded("opening the survey comment modal", respond, work, user=user, release=release_id)

    @app.view(ids.SURVEY_COMMENT_VIEW)
    async def on_comment_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                                   client: AsyncWebClient) -> None:
        user = body["user"]["id"]
        values = view.get("state", {}).get("values", {})
        texts = {key: str(v.get(key, {}).get("value") or "") for key, v in values.items()}
        if not any(t.strip() for t in texts.values()):
            first = next(iter(values), "comments")
            await ack(response_action="errors", errors={first: "Write something, or close this form."})
            return
        await ack()
        release_id = int(json.loads(view.get("private_metadata") or "{}")["release_id"])

        async def work() -> None:
            outcome = await services.surveys.comment(release_id, user, texts)
            if outcome.refusal:
                # The form has closed: the person hears why by direct message, through the outbox.
                text = told(outcome.refusal, release_id)
                await services.surveys.tell(user, Rendered(text, [bk.section(text)]), key=str(view.get("id")))

        await guarded("recording a survey comment", None, work, user=user, release=release_id)
