"""`/release …`: parse the text, answer at once, do the work after the ack."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.context import Services
from bot.lifecycle import State
from bot.metrics import parse_request
from bot.metrics_messages import metrics_message
from bot.records import parse_ref
from bot.views import plan_modal
from handlers.common import answer, guarded


@dataclass(frozen=True)
class Invocation:
    ack: AsyncAck
    respond: AsyncRespond
    client: AsyncWebClient
    command: dict[str, Any]
    args: list[str]

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


async def help_(inv: Invocation, services: Services) -> None:
    await inv.ack(response_type="ephemeral", text=messages.help_text())


async def models(inv: Invocation, services: Services) -> None:
    listing = messages.models_list(services.catalog)
    await inv.ack(response_type="ephemeral", text=listing.text, blocks=listing.blocks)


async def new(inv: Invocation, services: Services) -> None:
    """Open the planning modal at once: the trigger_id expires 3 s after the command."""
    await inv.ack()
    words = inv.rest.split(None, 1)
    model_key = words[0].lower() if words and services.catalog.get(words[0].lower()) else None
    title = (words[1] if len(words) > 1 else "") if model_key else inv.rest
    view = plan_modal(services.catalog, str(inv.command["channel_id"]), services.clock(), model_key, title)
    await guarded("opening the planning modal", inv.respond,
                  lambda: inv.client.views_open(trigger_id=inv.command["trigger_id"], view=view),
                  user=inv.user)


async def list_(inv: Invocation, services: Services) -> None:
    word = inv.args[0].lower() if inv.args else ""
    state: State | None = None
    owner: str | None = None
    if word == "mine":
        owner, heading = inv.user, "Your releases"
    elif word:
        try:
            state = State(word.replace("-", "_"))
        except ValueError:
            states = ", ".join(s.value for s in State)
            await inv.refuse(f"“{word}” is not a release state. Use `mine` or one of: {states}.")
            return
        heading = f"Releases {state.label}"
    else:
        heading = "Releases"
    await inv.ack()

    async def work() -> None:
        releases, total = await services.releases.list(state=state, owner=owner)
        await answer(inv.respond, messages.release_list(releases, total, heading))

    await guarded("/release list", inv.respond, work, user=inv.user)


async def show(inv: Invocation, services: Services) -> None:
    release_id = parse_ref(inv.args[0]) if inv.args else None
    if release_id is None:
        await inv.refuse("Say which release: `/release show REL-7`.")
        return
    await inv.ack()

    async def work() -> None:
        details = await services.releases.show(release_id)
        if details is None:
            await answer(inv.respond, f"There is no REL-{release_id}. `/release list` shows the releases.")
            return
        model = services.catalog.get(details.release.model_key)
        await answer(inv.respond, messages.release_record(details, model))

    await guarded("/release show", inv.respond, work, user=inv.user, release=f"REL-{release_id}")


async def metrics(inv: Invocation, services: Services) -> None:
    """`/release metrics [PERIOD] [MODEL]`: a bad period or model is answered in the ack."""
    request = parse_request(inv.args, services.catalog)
    if isinstance(request, str):
        await inv.refuse(request)
        return
    await inv.ack()

    async def work() -> None:
        figures = await services.metrics.key_metrics(request.days, request.model_key)
        await answer(inv.respond, metrics_message(figures, services.catalog))

    await guarded("/release metrics", inv.respond, work, user=inv.user)


def _with_release(usage: str, needs_reason: bool = False) -> Callable[[Subcommand], Subcommand]:
    """Parse `REL-n [REASON…]`, refusing in the ack with the usage when it is missing."""
    def wrap(run: Subcommand) -> Subcommand:
        async def parsed(inv: Invocation, services: Services) -> None:
            release_id = parse_ref(inv.args[0]) if inv.args else None
            if release_id is None:
                await inv.refuse(f"Say which release: `{usage}`.")
                return
            if needs_reason and len(inv.args) < 2:
                await inv.refuse(f"Say why: `{usage}`.")
                return
            await run(inv, services)
        return parsed
    return wrap


@_with_release("/release submit REL-7")
async def submit(inv: Invocation, services: Services) -> None:
    await inv.ack()
    release_id = parse_ref(inv.args[0])
    assert release_id is not None

    async def work() -> None:
        outcome = await services.approvals.submit(release_id, inv.user)
        if outcome.refused:
            await answer(inv.respond, outcome.refused)
        else:
            await answer(inv.respond, f"REL-{release_id} is submitted: the approvers have been asked.")

    await guarded("/release submit", inv.respond, work, user=inv.user, release=f"REL-{release_id}")


@_with_release("/release cancel REL-7 REASON…", needs_reason=True)
async def cancel(inv: Invocation, services: Services) -> None:
    await inv.ack()
    release_id = parse_ref(inv.args[0])
    assert release_id is not None
    reason = inv.rest.split(None, 1)[1] if len(inv.rest.split(None, 1)) > 1 else ""

    async def work() -> None:
        outcome = await services.releases.cancel(release_id, inv.user, reason)
        await answer(inv.respond, outcome.refused or f"REL-{release_id} is cancelled.")

    await guarded("/release cancel", inv.respond, work, user=inv.user, release=f"REL-{release_id}")


SUBCOMMANDS: dict[str, Subcommand] = {
    "help": help_,
    "models": models,
    "metrics": metrics,
    "new": new,
    "list": list_,
    "show": show,
    "submit": submit,
    "cancel": cancel,
}


def register(app: AsyncApp, services: Services) -> None:
    @app.command("/release")
    async def on_release(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond,
                         client: AsyncWebClient) -> None:
        words = str(command.get("text", "")).split()
        name = words[0].lower() if words else "help"
        subcommand = SUBCOMMANDS.get(name)
        if subcommand is None:
            await ack(response_type="ephemeral",
                      text=messages.help_text(f"I don't know `/release {name}`."))
            return
        await subcommand(Invocation(ack, respond, client, command, words[1:]), services)
