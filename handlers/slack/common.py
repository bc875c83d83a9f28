"""Small helpers every handler uses: a parsed `/release` invocation, answering privately, and
never failing after ack."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.context import Services
from bot.outcome import Refusal
from bot.rendering.messages import Rendered
from bot.rendering.refusals import refusal_text
from handlers.slack import after_ack

log = logging.getLogger("releasebot.handlers")

OUR_FAULT = (":warning: Something went wrong on my side and it has been logged. "
             "Please try again in a moment.")


async def answer(respond: AsyncRespond, rendered: Rendered | str) -> None:
    """An ephemeral answer to the person who asked, through the request's response_url."""
    if isinstance(rendered, str):
        await respond(text=rendered, response_type="ephemeral", replace_original=False)
    else:
        await respond(text=rendered.text, blocks=rendered.blocks, response_type="ephemeral",
                      replace_original=False)


async def refuse(respond: AsyncRespond, refusal: Refusal, release_id: int | None = None) -> None:
    """Tell the person who asked why nothing happened, privately, as every surface would."""
    await answer(respond, refusal_text(refusal, f"REL-{release_id}" if release_id is not None else None))


def told(refusal: Refusal, release_id: int | None = None) -> str:
    """A refusal's Slack text, for answers that do not go through `respond`."""
    return refusal_text(refusal, f"REL-{release_id}" if release_id is not None else None)


async def guarded(what: str, respond: AsyncRespond | None, work: Callable[[], Awaitable[Any]],
                  **context: Any) -> None:
    """Run post-ack work so that no exception escapes the listener (slack-bolt would turn it
    into an error page after the ack); the person hears that it failed, the log says why.
    The work waits for a slot of the post-ack queue (`after_ack.bounded`), so a busy workspace's
    work never crowds out the next request's ack."""
    try:
        await after_ack.bounded(work)
    except Exception:
        log.exception("%s failed (%s)", what, ", ".join(f"{k}={v}" for k, v in context.items()))
        if respond is not None:
            try:
                await respond(text=OUR_FAULT, response_type="ephemeral", replace_original=False)
            except Exception:
                log.exception("could not tell the user that %s failed", what)


@dataclass(frozen=True)
class Invocation:
    ack: AsyncAck
    respond: AsyncRespond
    client: AsyncWebClient
    command: dict[str, Any]
    args: list[str]
    #: When the command came in, on `Services.reads`' clock: which shared answers it may take.
    asked_at: float

    async def shared_answer(self, services: Services, question: Hashable,
                            read: Callable[[], Awaitable[Rendered | str]]) -> None:
        """Answer with `read()`'s message, or with that of the same question's reading that
        began after this command came in (bot/shared_reads.py): fifty people asking at once
        make one or two readings, not fifty."""
        await answer(self.respond, await services.reads.read(question, self.asked_at, read))

    @property
    def user(self) -> str:
        return str(self.command["user_id"])

    @property
    def rest(self) -> str:
        """The text after the sub-command, as typed."""
        text = str(self.command.get("text", "")).strip()
        parts = text.split(None, 1)
        return parts[1] if len(parts) > 1 else ""

    async def refuse(self, text: str) -> None:
        await self.ack(response_type="ephemeral", text=text)


Subcommand = Callable[[Invocation, Services], Awaitable[None]]
