"""Submit, Approve and Reject buttons, and the reason modal of a rejection."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import actions as ids
from bot.context import Services
from bot.records import parse_ref
from bot.rendering.views import reject_modal
from handlers.slack.common import guarded, refuse, told

log = logging.getLogger(__name__)

#: Slack's trigger_id lives 3 s; the approver check before opening the modal must fit in it.
PRE_CHECK_SECONDS = 1.5


def _release_id(body: dict[str, Any]) -> int | None:
    return parse_ref(str(body["actions"][0].get("value", "")))


def register(app: AsyncApp, services: Services) -> None:
    @app.action(ids.SUBMIT)
    async def on_submit(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        release_id, user = _release_id(body), body["user"]["id"]
        if release_id is None:
            return

        async def work() -> None:
            outcome = await services.approvals.submit(release_id, user)
            if outcome.refusal:
                await refuse(respond, outcome.refusal, release_id)

        await guarded("submitting for approval", respond, work, user=user, release=release_id)

    @app.action(ids.APPROVE)
    async def on_approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        release_id, user = _release_id(body), body["user"]["id"]
        if release_id is None:
            return

        async def work() -> None:
            outcome = await services.approvals.approve(release_id, user)
            if outcome.refusal:
                await refuse(respond, outcome.refusal, release_id)

        await guarded("approving", respond, work, user=user, release=release_id)

    @app.action(ids.REJECT)
    async def on_reject(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                        client: AsyncWebClient) -> None:
        """Ask for the reason in a modal, unless we can already tell the person may not decide."""
        await ack()
        release_id, user = _release_id(body), body["user"]["id"]
        if release_id is None:
            return

        async def work() -> None:
            try:
                refusal = (await asyncio.wait_for(services.approvals.may_decide(release_id, user),
                                                  PRE_CHECK_SECONDS)).refusal
            except TimeoutError:
                refusal = None  # the submission checks again
            if refusal:
                await refuse(respond, refusal, release_id)
                return
            channel = str(body.get("channel", {}).get("id") or body.get("container", {}).get("channel_id", ""))
            await client.views_open(trigger_id=body["trigger_id"], view=reject_modal(release_id, channel))

        await guarded("opening the rejection modal", respond, work, user=user, release=release_id)

    @app.view(ids.REJECT_VIEW)
    async def on_reason(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:
        user = body["user"]["id"]
        values = view.get("state", {}).get("values", {})
        reason = str(values.get(ids.FIELD_REASON, {}).get(ids.FIELD_REASON, {}).get("value") or "").strip()
        if not reason:
            await ack(response_action="errors",
                      errors={ids.FIELD_REASON: "Say why: the reason is recorded and sent to the owner."})
            return
        await ack()
        metadata = json.loads(view.get("private_metadata") or "{}")
        release_id = int(metadata["release_id"])

        async def work() -> None:
            outcome = await services.approvals.reject(release_id, user, reason)
            if outcome.refusal and metadata.get("channel"):
                # The modal has closed; the person still hears why nothing happened.
                await client.chat_postEphemeral(channel=metadata["channel"], user=user,
                                                text=told(outcome.refusal, release_id))

        await guarded("rejecting", None, work, user=user, release=release_id)
