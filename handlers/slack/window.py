"""The release card's *Change window* button and the modal it opens.

The button is acked first, then the release is read to check that the clicker owns it (a
database read, so after the ack), and the modal opens with the click's trigger_id while it
is fresh. The modal's field errors come back in its ack; the change itself after it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import actions as ids
from bot.context import Services
from bot.records import parse_ref
from bot.rendering.views import window_modal
from handlers.slack.common import guarded, refuse, told


def _picked(values: dict[str, Any], block_id: str) -> datetime | None:
    stamp = (values.get(block_id, {}).get(block_id) or {}).get("selected_date_time")
    return datetime.fromtimestamp(int(stamp), UTC) if stamp is not None else None


def _typed(values: dict[str, Any], block_id: str) -> str:
    return str((values.get(block_id, {}).get(block_id) or {}).get("value") or "")


def register(app: AsyncApp, services: Services) -> None:
    @app.action(ids.CHANGE_WINDOW)
    async def on_change_window(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                               client: AsyncWebClient) -> None:
        await ack()
        user = str(body["user"]["id"])
        release_id = parse_ref(str(body["actions"][0].get("value", "")))

        async def work() -> None:
            if release_id is None:
                return
            allowed = await services.releases.may_change_window(release_id, user)
            if allowed.refusal:
                await refuse(respond, allowed.refusal, release_id)
            else:
                await client.views_open(trigger_id=body["trigger_id"], view=window_modal(allowed.unwrap()))

        await guarded("opening the window modal", respond, work, user=user, release=f"REL-{release_id}")

    @app.view(ids.WINDOW_VIEW)
    async def on_window_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                                  client: AsyncWebClient) -> None:
        user = str(body["user"]["id"])
        values = view.get("state", {}).get("values", {})
        metadata = json.loads(view.get("private_metadata") or "{}")
        start, end = _picked(values, ids.FIELD_START), _picked(values, ids.FIELD_END)
        errors = services.releases.check_window(start, end)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        assert start is not None and end is not None
        release_id = int(metadata["release_id"])

        async def work() -> None:
            outcome = await services.releases.change_window(release_id, user, start, end,
                                                            reason=_typed(values, ids.FIELD_REASON))
            if outcome.refusal:
                await client.chat_postEphemeral(channel=str(metadata.get("channel_id") or user), user=user,
                                                text=told(outcome.refusal, release_id))

        await guarded("changing a release window", None, work, user=user, release=f"REL-{release_id}")
