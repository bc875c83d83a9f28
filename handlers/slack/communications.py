"""`/release announce REL-n`, its *Send now* / *Skip* buttons, and `/release schedule [DAYS]`.

Everything is answered privately: a preview is for the person who asked, and so are refusals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot import actions as ids
from bot.communications import MAX_DAYS, Settled
from bot.context import Services
from bot.outcome import Outcome
from bot.records import parse_ref
from bot.rendering import blocks as bk
from bot.rendering.communications import preview_message, settled_message
from bot.rendering.messages import Rendered
from bot.rendering.refusals import refusal_text
from bot.rendering.schedule import schedule_listing
from handlers.slack.common import Invocation, answer, guarded, refuse

DEFAULT_DAYS = 14


async def announce(inv: Invocation, services: Services) -> None:
    release_id = parse_ref(inv.args[0]) if inv.args else None
    if release_id is None:
        await inv.refuse("Say which release: `/release announce REL-7` previews its next communication.")
        return
    await inv.ack()

    async def work() -> None:
        preview = await services.communications.preview(release_id, inv.user)
        if preview.refusal:
            await refuse(inv.respond, preview.refusal, release_id)
        else:
            await answer(inv.respond, preview_message(preview.unwrap(), inv.user, services.clock()))

    await guarded("/release announce", inv.respond, work, user=inv.user, release=f"REL-{release_id}")


async def schedule(inv: Invocation, services: Services) -> None:
    word = inv.args[0] if inv.args else str(DEFAULT_DAYS)
    days = int(word) if word.isdigit() else 0
    if not 1 <= days <= MAX_DAYS:
        await inv.refuse(f"“{word}” is not a number of days: try `/release schedule 30` "
                         f"(1 to {MAX_DAYS}; {DEFAULT_DAYS} if you leave it out).")
        return
    await inv.ack()

    async def read() -> Rendered:
        schedule = await services.communications.schedule(days)
        frozen = await services.freezes.overlapping(None, schedule.start, schedule.end)
        return schedule_listing(replace(schedule, freezes=frozen))

    async def work() -> None:
        await inv.shared_answer(services, ("schedule", days), read)

    await guarded("/release schedule", inv.respond, work, user=inv.user, days=days)


async def _replace(respond: AsyncRespond, result: Outcome[Settled]) -> None:
    """Answer a click on the private preview by replacing it, so its buttons are gone."""
    if result.refusal:
        text = refusal_text(result.refusal)
        rendered = Rendered(text, [bk.section(text)])
    else:
        rendered = settled_message(result.unwrap())
    await respond(text=rendered.text, blocks=rendered.blocks, response_type="ephemeral", replace_original=True)


def _preview_button(what: str, act: Callable[[int, str], Awaitable[Outcome[Settled]]]
                    ) -> Callable[..., Awaitable[None]]:
    """A listener for a button of the announce preview: ack, act on the queued message, and
    replace the preview with the outcome."""
    async def on_click(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user = str(body["user"]["id"])
        value = str(body["actions"][0].get("value", ""))

        async def work() -> None:
            if not value.isdigit():
                await _replace(respond, Outcome.refuse("no_such_message", "That communication no longer exists."))
                return
            await _replace(respond, await act(int(value), user))

        await guarded(what, respond, work, user=user, message=value)

    return on_click


def register(app: AsyncApp, services: Services) -> None:
    app.action(ids.ANNOUNCE_SEND)(_preview_button("sending a communication now", services.communications.send_now))
    app.action(ids.ANNOUNCE_SKIP)(_preview_button("skipping a communication", services.communications.skip))
