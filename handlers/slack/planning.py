"""The planning modal's submission: field errors in the ack, the release after it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot import actions as ids
from bot.context import Services
from bot.releases import PlanDraft
from handlers.slack.common import guarded
from handlers.slack.plan import submitted_plan


def _value(values: dict[str, Any], block_id: str) -> dict[str, Any]:
    return dict(values.get(block_id, {}).get(block_id) or {})


def _moment(values: dict[str, Any], block_id: str) -> datetime | None:
    stamp = _value(values, block_id).get("selected_date_time")
    return datetime.fromtimestamp(int(stamp), UTC) if stamp is not None else None


def components(text: str) -> tuple[str, ...]:
    """One configuration item per line (commas separate too); blanks and repeats dropped."""
    items = (part.strip() for part in re.split(r"[\n,]", text))
    return tuple(dict.fromkeys(item[:200] for item in items if item))


def parse_plan(view: dict[str, Any], user_id: str) -> PlanDraft:
    values = view.get("state", {}).get("values", {})
    metadata = json.loads(view.get("private_metadata") or "{}")
    model = _value(values, ids.FIELD_MODEL).get("selected_option") or {}
    plan, risk = submitted_plan(values)
    return PlanDraft(
        model_key=str(model.get("value", "")),
        title=str(_value(values, ids.FIELD_TITLE).get("value") or ""),
        planned_start=_moment(values, ids.FIELD_START),
        planned_end=_moment(values, ids.FIELD_END),
        components=components(str(_value(values, ids.FIELD_COMPONENTS).get("value") or "")),
        change_ref=str(_value(values, ids.FIELD_CHANGE).get("value") or ""),
        description=str(_value(values, ids.FIELD_DESCRIPTION).get("value") or ""),
        owner=user_id,
        channel_id=str(metadata.get("channel_id") or user_id),
        plan=plan, risk_given=risk,
    )


def register(app: AsyncApp, services: Services) -> None:
    @app.view(ids.PLAN_VIEW)
    async def on_plan_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        draft = parse_plan(view, user)
        errors = await services.releases.check_plan(draft)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        await guarded("planning a release", None,
                      lambda: services.releases.plan(draft, origin_key=str(view["id"])),
                      user=user, view=view.get("id"))
