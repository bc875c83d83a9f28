"""Rolling back with the rollback plan in mind (DESIGN.md §5a): `/release rollback REL-n` opens
the rollback form (why, and whether the rollback plan was followed); `/release rollback REL-n
REASON…` rolls back at once and then asks, with one button per answer."""

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
from bot.lifecycle import ROLLBACK_FROM, no_such_release
from bot.records import parse_ref
from bot.release_plan import PlanFollowed
from bot.rendering.plan import rollback_question
from bot.rendering.views import followed_options, rollback_modal
from handlers.slack.common import Invocation, answer, guarded, refuse, told

ANSWERED = {
    PlanFollowed.FOLLOWED: "the rollback plan was followed",
    PlanFollowed.PARTLY: "the rollback plan was partly followed",
    PlanFollowed.NOT_FOLLOWED: "the rollback plan was not followed",
}


async def open_form(inv: Invocation, services: Services, release_id: int) -> None:
    """The rollback form, for a release there is something to roll back of."""
    await inv.ack()

    async def work() -> None:
        release = await services.releases.get(release_id)
        if release is None:
            await refuse(inv.respond, no_such_release(release_id).refusal, release_id)
        elif release.state not in ROLLBACK_FROM:
            await answer(inv.respond, f"{release.ref} is {release.state.label}, not executing, released or failed, "
                                      "so there is nothing to roll back.")
        else:
            await inv.client.views_open(trigger_id=inv.command["trigger_id"],
                                        view=rollback_modal(release, str(inv.command["channel_id"])))

    await guarded("opening the rollback form", inv.respond, work, user=inv.user, release=f"REL-{release_id}")


async def rolled_back(inv: Invocation, services: Services, release_id: int, reason: str) -> None:
    """`/release rollback REL-n REASON…`: at once; then, if there was a plan, was it followed?"""
    outcome = await services.verification.rollback(release_id, inv.user, reason)
    if outcome.refusal:
        await refuse(inv.respond, outcome.refusal, release_id)
        return
    release = outcome.unwrap()
    if not release.plan.rollback_plan:
        await answer(inv.respond, f"REL-{release_id} is rolled back: the reason is recorded.")
        return
    text, blocks = rollback_question(release, followed_options())
    await inv.respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


def register(app: AsyncApp, services: Services) -> None:
    @app.view(ids.ROLLBACK_VIEW)
    async def on_rollback(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                          client: AsyncWebClient) -> None:
        user = str(body["user"]["id"])
        values = view.get("state", {}).get("values", {})
        reason = str((values.get(ids.FIELD_REASON, {}).get(ids.FIELD_REASON) or {}).get("value") or "").strip()
        asked = any(b.get("block_id") == ids.FIELD_PLAN_FOLLOWED for b in view.get("blocks", []))
        option = (values.get(ids.FIELD_PLAN_FOLLOWED, {}).get(ids.FIELD_PLAN_FOLLOWED) or {}).get("selected_option")
        errors: dict[str, str] = {}
        if not reason:
            errors[ids.FIELD_REASON] = "Say why: the reason is recorded and announced."
        followed: PlanFollowed | None = None
        if asked:
            try:
                followed = PlanFollowed(str((option or {}).get("value")))
            except ValueError:
                errors[ids.FIELD_PLAN_FOLLOWED] = "Say whether the rollback plan was followed: the review shows it."
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        metadata = json.loads(view.get("private_metadata") or "{}")
        release_id = int(metadata["release_id"])

        async def work() -> None:
            outcome = await services.verification.rollback(release_id, user, reason, followed)
            if outcome.refusal:
                await client.chat_postEphemeral(channel=str(metadata.get("channel_id") or user), user=user,
                                                text=told(outcome.refusal, release_id))

        await guarded("rolling back", None, work, user=user, release=f"REL-{release_id}")

    @app.action(re.compile(f"^{ids.ROLLBACK_PLAN_NOTE}:"))
    async def on_followed(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user = str(body["user"]["id"])
        action = body["actions"][0]
        release_id = parse_ref(str(action.get("value", "")))
        try:
            followed = PlanFollowed(str(action["action_id"]).split(":", 1)[1])
        except ValueError:
            return
        if release_id is None:
            return

        async def work() -> None:
            outcome = await services.plans.note_rollback_plan(release_id, user, followed)
            if outcome.refusal:
                await refuse(respond, outcome.refusal, release_id)
            else:
                await respond(text=f"REL-{release_id} is rolled back: recorded that {ANSWERED[followed]}.",
                              response_type="ephemeral", replace_original=True)

        await guarded("noting the rollback plan", respond, work, user=user, release=f"REL-{release_id}")
