"""`/release …`: parse the text, answer at once, do the work after the ack."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.context import Services
from bot.lifecycle import State
from bot.records import parse_ref
from bot.views import plan_modal
from handlers import communications
from handlers.common import Invocation, Subcommand, answer, guarded

__all__ = ["Invocation", "Subcommand", "SUBCOMMANDS", "register"]


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


SUBCOMMANDS: dict[str, Subcommand] = {
    "help": help_,
    "models": models,
    "new": new,
    "list": list_,
    "show": show,
    "schedule": communications.schedule,
    "announce": communications.announce,
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
