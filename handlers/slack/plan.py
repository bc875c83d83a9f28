"""The release plan in Slack (DESIGN.md §5a): *Edit plan* on the card and `/release plan REL-n`
open the edit form (for the owner, until execution starts; anyone else, or later, reads the
plan instead); *Read the plan* opens all of it; the form's field errors come back in its ack.

Buttons are acked first, then the release is read (a database read, so after the ack) and
the modal opens with the click's trigger_id while it is fresh, as the window change does.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import actions as ids
from bot import release_plan
from bot.context import Services
from bot.records import parse_ref
from bot.release_plan import ReleasePlan
from bot.rendering.plan import read_plan_modal
from bot.rendering.views import NOT_ASSESSED, edit_plan_modal
from handlers.slack.common import Invocation, guarded, refuse, told

#: The text inputs of the plan, by block id (the risk is a menu).
TEXT_FIELDS = (ids.FIELD_IMPACT, ids.FIELD_ROLLBACK_PLAN, ids.FIELD_RELEASE_NOTES)


def plan_values(values: dict[str, Any]) -> tuple[dict[str, str], str]:
    """The plan as submitted (by field, as typed) and the risk as chosen ("" for none)."""
    typed = {name: str((values.get(name, {}).get(name) or {}).get("value") or "") for name in TEXT_FIELDS}
    option = (values.get(ids.FIELD_RISK, {}).get(ids.FIELD_RISK) or {}).get("selected_option") or {}
    risk = str(option.get("value") or "")
    return typed, "" if risk == NOT_ASSESSED else risk


def submitted_plan(values: dict[str, Any]) -> tuple[ReleasePlan, str]:
    """The planning form's plan, and the risk as chosen (to tell a wrong word from none)."""
    typed, risk = plan_values(values)
    return ReleasePlan.of(typed[ids.FIELD_RELEASE_NOTES], risk, typed[ids.FIELD_IMPACT],
                          typed[ids.FIELD_ROLLBACK_PLAN]), risk


async def open_plan(services: Services, client: AsyncWebClient, respond: AsyncRespond, *, trigger_id: str,
                    release_id: int, user: str, edit: bool) -> None:
    """The edit form when the person may edit and asked to; else the plan to read, saying why
    it cannot be edited when they asked to."""
    outcome = await services.plans.read(release_id, user)
    if outcome.refusal:
        await refuse(respond, outcome.refusal, release_id)
        return
    reading = outcome.unwrap()
    if edit and reading.editable:
        view = edit_plan_modal(reading.release, reading.require, reading.model_name)
    else:
        note = told(reading.why_not) if edit and reading.why_not else ""
        view = read_plan_modal(reading.release, note)
    await client.views_open(trigger_id=trigger_id, view=view)


async def command(inv: Invocation, services: Services) -> None:
    """`/release plan REL-n`: edit the plan (the owner, before execution) or read it."""
    release_id = parse_ref(inv.args[0]) if inv.args else None
    if release_id is None:
        await inv.refuse("Say which release: `/release plan REL-7` edits its release notes, risk and "
                         "rollback plan (or shows them).")
        return
    await inv.ack()
    await guarded("/release plan", inv.respond,
                  lambda: open_plan(services, inv.client, inv.respond, trigger_id=inv.command["trigger_id"],
                                    release_id=release_id, user=inv.user, edit=True),
                  user=inv.user, release=f"REL-{release_id}")


def register(app: AsyncApp, services: Services) -> None:
    def opener(edit: bool, what: str) -> Any:
        async def on_click(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                           client: AsyncWebClient) -> None:
            await ack()
            user = str(body["user"]["id"])
            release_id = parse_ref(str(body["actions"][0].get("value", "")))
            if release_id is None:
                return
            await guarded(what, respond,
                          lambda: open_plan(services, client, respond, trigger_id=body["trigger_id"],
                                            release_id=release_id, user=user, edit=edit),
                          user=user, release=f"REL-{release_id}")
        return on_click

    app.action(ids.PLAN_EDIT)(opener(True, "opening the plan form"))
    app.action(ids.PLAN_READ)(opener(False, "opening the plan"))

    @app.view(ids.PLAN_EDIT_VIEW)
    async def on_plan_edited(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                             client: AsyncWebClient) -> None:
        user = str(body["user"]["id"])
        metadata = json.loads(view.get("private_metadata") or "{}")
        typed, risk = plan_values(view.get("state", {}).get("values", {}))
        long = set(metadata.get("long") or [])
        # A long text left empty is kept: check the form as if it were there.
        checked = {name: (value or ("kept" if name in long else "")) for name, value in typed.items()}
        errors = release_plan.problems(
            ReleasePlan.of(checked[ids.FIELD_RELEASE_NOTES], risk, checked[ids.FIELD_IMPACT],
                           checked[ids.FIELD_ROLLBACK_PLAN]),
            metadata.get("require") or (), risk_given=risk,
            model_name=f"The release model “{metadata['model_name']}”" if metadata.get("model_name")
            else "The release model")
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        release_id = int(metadata["release_id"])
        changes: dict[str, str | None] = {name: (None if name in long and not value else value)
                                          for name, value in typed.items()}
        changes[ids.FIELD_RISK] = risk

        async def work() -> None:
            outcome = await services.plans.edit(release_id, user, changes, risk_given=risk)
            problem = told(outcome.refusal, release_id) if outcome.refusal else "; ".join(outcome.errors.values())
            if problem:
                # The modal has closed; the person still hears why nothing changed.
                await client.chat_postEphemeral(channel=str(metadata.get("channel_id") or user), user=user,
                                                text=problem)

        await guarded("editing a release plan", None, work, user=user, release=f"REL-{release_id}")
