"""`/release …`: parse the text, answer at once, do the work after the ack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.context import Services
from bot.lifecycle import State
from bot.metrics import parse_request
from bot.records import parse_ref
from bot.rendering import messages
from bot.rendering.metrics import metrics_message
from bot.rendering.views import plan_modal
from handlers.slack import communications
from handlers.slack.common import Invocation, Subcommand, answer, guarded
from handlers.slack.verification import open_checklist

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
    reason = _reason(inv)

    async def work() -> None:
        outcome = await services.releases.cancel(release_id, inv.user, reason)
        await answer(inv.respond, outcome.refused or f"REL-{release_id} is cancelled.")

    await guarded("/release cancel", inv.respond, work, user=inv.user, release=f"REL-{release_id}")


@_with_release("/release verify REL-7")
async def verify(inv: Invocation, services: Services) -> None:
    """Open the checklist at once after the ack: the trigger_id expires 3 s after the command."""
    await inv.ack()
    release_id = parse_ref(inv.args[0])
    assert release_id is not None
    await guarded("/release verify", inv.respond,
                  lambda: open_checklist(services, inv.client, inv.respond, trigger_id=inv.command["trigger_id"],
                                         release_id=release_id, user=inv.user,
                                         channel=str(inv.command["channel_id"])),
                  user=inv.user, release=f"REL-{release_id}")


@_with_release("/release start REL-7")
async def start(inv: Invocation, services: Services) -> None:
    await inv.ack()
    release_id = parse_ref(inv.args[0])
    assert release_id is not None

    async def work() -> None:
        outcome = await services.verification.start(release_id, inv.user)
        await answer(inv.respond, outcome.refused or (
            f"REL-{release_id} is executing. When it is done, record the release checks: "
            f"`/release verify REL-{release_id}`."))

    await guarded("/release start", inv.respond, work, user=inv.user, release=f"REL-{release_id}")


@_with_release("/release rollback REL-7 REASON…", needs_reason=True)
async def rollback(inv: Invocation, services: Services) -> None:
    await inv.ack()
    release_id = parse_ref(inv.args[0])
    assert release_id is not None
    reason = _reason(inv)

    async def work() -> None:
        outcome = await services.verification.rollback(release_id, inv.user, reason)
        await answer(inv.respond, outcome.refused or f"REL-{release_id} is rolled back: the reason is recorded.")

    await guarded("/release rollback", inv.respond, work, user=inv.user, release=f"REL-{release_id}")


def _reason(inv: Invocation) -> str:
    """What follows `REL-n` in the text, as typed."""
    parts = inv.rest.split(None, 1)
    return parts[1] if len(parts) > 1 else ""


@_with_release("/release survey REL-7")
async def survey(inv: Invocation, services: Services) -> None:
    await inv.ack()
    release_id = parse_ref(inv.args[0])
    assert release_id is not None

    async def work() -> None:
        release = await services.releases.get(release_id)
        if release is not None and release.owner != inv.user:
            await answer(inv.respond, f"Only the release owner, <@{release.owner}>, can send the survey of "
                                      f"REL-{release_id}; it goes out by itself after the release.")
            return
        outcome = await services.surveys.send(release_id, by=inv.user)
        await answer(inv.respond, outcome.refused or f"The survey of REL-{release_id} is on its way.")

    await guarded("/release survey", inv.respond, work, user=inv.user, release=f"REL-{release_id}")


@_with_release("/release review REL-7")
async def review(inv: Invocation, services: Services) -> None:
    await inv.ack()
    release_id = parse_ref(inv.args[0])
    assert release_id is not None

    async def work() -> None:
        outcome = await services.reviews.post(release_id, inv.user, str(inv.command["channel_id"]))
        if outcome.refused:
            await answer(inv.respond, outcome.refused)
        elif not outcome.created:
            await answer(inv.respond, f"The review of REL-{release_id} was posted before; it is now up to date.")

    await guarded("/release review", inv.respond, work, user=inv.user, release=f"REL-{release_id}")


@_with_release("/release close REL-7")
async def close(inv: Invocation, services: Services) -> None:
    await inv.ack()
    release_id = parse_ref(inv.args[0])
    assert release_id is not None

    async def work() -> None:
        outcome = await services.reviews.close(release_id, inv.user)
        await answer(inv.respond, outcome.refused or f"REL-{release_id} is closed.")

    await guarded("/release close", inv.respond, work, user=inv.user, release=f"REL-{release_id}")


SUBCOMMANDS: dict[str, Subcommand] = {
    "help": help_,
    "models": models,
    "metrics": metrics,
    "new": new,
    "list": list_,
    "show": show,
    "submit": submit,
    "cancel": cancel,
    "verify": verify,
    "start": start,
    "rollback": rollback,
    "survey": survey,
    "review": review,
    "close": close,
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
