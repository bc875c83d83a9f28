"""The Verify and Start buttons, and the pages of the checklist modal."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import actions as ids
from bot.checklist import Entry, Item, items
from bot.context import Services
from bot.outcome import Outcome
from bot.records import parse_ref
from bot.rendering.verification import (
    EVIDENCE,
    FAIL,
    NOTE,
    OUTCOME,
    PASS,
    ChecklistModal,
    checklist_view,
    field_id,
    loading_view,
    notice_view,
)
from bot.verification import ChecklistOpening
from handlers.slack.common import OUR_FAULT, answer, guarded, refuse, told

log = logging.getLogger(__name__)

#: Slack's trigger_id lives 3 s. The checklist needs the release and the verifier's roles (a
#: database read, perhaps a user-group lookup); past this, a placeholder is opened instead.
PRE_CHECK_SECONDS = 1.5


async def open_checklist(services: Services, client: AsyncWebClient, respond: AsyncRespond, *,
                         trigger_id: str, release_id: int, user: str, channel: str) -> None:
    """Open the release's checklist while the trigger_id is valid, or answer why not."""
    task = asyncio.ensure_future(services.verification.checklist(release_id, user))
    try:
        result = _checklist_or_notice(await asyncio.wait_for(asyncio.shield(task), PRE_CHECK_SECONDS), channel)
    except TimeoutError:
        opened = await client.views_open(trigger_id=trigger_id, view=loading_view(release_id))
        view_id = opened["view"]["id"]
        try:
            result = _checklist_or_notice(await task, channel)
        except Exception:
            await client.views_update(view_id=view_id, view=notice_view(release_id, OUR_FAULT))
            raise
        if isinstance(result, str):
            await client.views_update(view_id=view_id, view=notice_view(release_id, result))
            await answer(respond, result)
        else:
            await client.views_update(view_id=view_id, view=result)
        return
    if isinstance(result, str):
        await answer(respond, result)
    else:
        await client.views_open(trigger_id=trigger_id, view=result)


def _checklist_or_notice(outcome: Outcome[ChecklistOpening], channel: str) -> dict[str, Any] | str:
    """The checklist modal to open, or what to tell the person instead."""
    if outcome.refusal:
        return told(outcome.refusal, None)
    opening = outcome.unwrap()
    release = opening.release
    if opening.ready_because:
        return (f"{release.ref} is ready: {opening.ready_because}. "
                f"Start it with `/release start {release.ref}`.")
    return checklist_view(ChecklistModal.opening(release, opening.checklist, channel), opening.model)


def _value(values: dict[str, Any], block_id: str) -> dict[str, Any]:
    return dict(values.get(block_id, {}).get(block_id) or {})


def parse_page(view: dict[str, Any], modal: ChecklistModal,
               listed: tuple[Item, ...]) -> tuple[dict[int, Entry], dict[str, str]]:
    """The outcomes chosen on this page (by checklist index), and errors for the ack: a note
    or evidence given without choosing pass or fail would otherwise be lost silently."""
    values = view.get("state", {}).get("values", {})
    entries: dict[int, Entry] = {}
    errors: dict[str, str] = {}
    for index in modal.indices:
        choice = (_value(values, field_id(index, OUTCOME)).get("selected_option") or {}).get("value")
        note = str(_value(values, field_id(index, NOTE)).get("value") or "").strip()
        url = str(_value(values, field_id(index, EVIDENCE)).get("value") or "").strip()
        if choice not in (PASS, FAIL):
            if note or url:
                errors[field_id(index, OUTCOME)] = "Choose Pass or Fail to record this note and evidence."
            continue
        item = listed[index]
        entries[index] = Entry(item.stage, item.criterion, choice == PASS, note or None, url or None)
    return entries, errors


def _release_id(body: dict[str, Any]) -> int | None:
    return parse_ref(str(body["actions"][0].get("value", "")))


def _channel(body: dict[str, Any]) -> str:
    return str(body.get("channel", {}).get("id") or body.get("container", {}).get("channel_id", ""))


def register(app: AsyncApp, services: Services) -> None:
    @app.action(ids.VERIFY)
    async def on_verify(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                        client: AsyncWebClient) -> None:
        await ack()
        release_id, user = _release_id(body), body["user"]["id"]
        if release_id is None:
            return
        await guarded("opening the checklist", respond,
                      lambda: open_checklist(services, client, respond, trigger_id=body["trigger_id"],
                                             release_id=release_id, user=user, channel=_channel(body)),
                      user=user, release=release_id)

    @app.action(ids.START)
    async def on_start(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        release_id, user = _release_id(body), body["user"]["id"]
        if release_id is None:
            return

        async def work() -> None:
            outcome = await services.verification.start(release_id, user)
            if outcome.refusal:
                await refuse(respond, outcome.refusal, release_id)

        await guarded("starting execution", respond, work, user=user, release=release_id)

    @app.view(ids.VERIFY_VIEW)
    async def on_checklist(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                           client: AsyncWebClient) -> None:
        """Errors and the next page go in the ack (built without the database, from the
        modal's metadata and the catalog); the outcomes are recorded after it."""
        user = body["user"]["id"]
        try:
            modal = ChecklistModal.from_metadata(str(view.get("private_metadata") or ""))
        except (ValueError, KeyError, TypeError):
            log.warning("checklist submission with unreadable metadata (user=%s, view=%s)", user, view.get("id"))
            await ack()
            return
        model = (await services.versions.get(modal.model_key, modal.model_version) if modal.model_version
                 else services.catalog.get(modal.model_key))
        listed = items(model, modal.phase) if model else ()
        if model is None or len(listed) != len(modal.marks):
            await ack(response_action="update", view=notice_view(
                modal.release_id, f"The release model of {modal.ref} changed since this checklist was opened, "
                                  f"so nothing was recorded. Open it again: `/release verify {modal.ref}`."))
            return
        entries, errors = parse_page(view, modal, listed)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        following = modal.after(entries, user, services.clock())
        if following is None:
            await ack()
        else:
            await ack(response_action="update", view=checklist_view(following, model))
        if not entries:
            return

        async def work() -> None:
            outcome = await services.verification.record(modal.release_id, user, modal.phase,
                                                         list(entries.values()), str(view["id"]))
            if outcome.refusal and modal.channel:
                # The page has moved on or closed; the person still hears why nothing was recorded.
                await client.chat_postEphemeral(channel=modal.channel, user=user,
                                                text=told(outcome.refusal, modal.release_id))

        await guarded("recording verification outcomes", None, work, user=user, release=modal.ref)
