"""`/release …`: parse the text, answer at once, do the work after the ack."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.context import Services
from bot.freeze_input import USAGE
from bot.incidents import split_words
from bot.lifecycle import State, no_such_release
from bot.outcome import Outcome
from bot.records import parse_ref
from bot.rendering import blocks as bk
from bot.rendering import messages
from bot.rendering.freezes import freezes_listing, frozen_message, unfrozen_message
from bot.rendering.incidents import linked_answer
from bot.rendering.messages import Rendered
from bot.rendering.metrics import metrics_message
from bot.rendering.views import plan_modal
from handlers.slack import communications, plan
from handlers.slack import rollback as rollback_form
from handlers.slack.arguments import parse_request
from handlers.slack.common import Invocation, Subcommand, answer, guarded, refuse, told
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

    async def read() -> Rendered:
        releases, total = await services.releases.list(state=state, owner=owner)
        return messages.release_list(releases, total, heading)

    async def work() -> None:
        await inv.shared_answer(services, ("list", state, owner), read)

    await guarded("/release list", inv.respond, work, user=inv.user)


async def show(inv: Invocation, services: Services) -> None:
    release_id = parse_ref(inv.args[0]) if inv.args else None
    if release_id is None:
        await inv.refuse("Say which release: `/release show REL-7`.")
        return
    await inv.ack()

    async def read() -> Rendered | str:
        details = await services.releases.show(release_id)
        if details is None:
            return told(no_such_release(release_id).refusal, release_id)
        model = await services.releases.model_of(details.release)
        return messages.release_record(details, model)

    async def work() -> None:
        await inv.shared_answer(services, ("show", release_id), read)

    await guarded("/release show", inv.respond, work, user=inv.user, release=f"REL-{release_id}")


async def metrics(inv: Invocation, services: Services) -> None:
    """`/release metrics [PERIOD] [MODEL]`: a bad period or model is answered in the ack."""
    request = parse_request(inv.args, services.catalog)
    if isinstance(request, str):
        await inv.refuse(request)
        return
    await inv.ack()

    async def read() -> Rendered:
        figures = await services.metrics.key_metrics(request.days, request.model_key, by_risk=True)
        return metrics_message(figures, services.catalog)

    async def work() -> None:
        await inv.shared_answer(services, ("metrics", request.days, request.model_key), read)

    await guarded("/release metrics", inv.respond, work, user=inv.user)


#: A sub-command that acts on one release: the release id is parsed, and the reason checked,
#: in the ack (`_on_release`), so the work after it starts from what was typed.
ReleaseSubcommand = Callable[[Invocation, Services, int], Awaitable[None]]


def _on_release(usage: str, needs_reason: bool = False) -> Callable[[ReleaseSubcommand], Subcommand]:
    """Parse `REL-n [REASON…]`, refusing in the ack with the usage when it is missing."""
    def wrap(run: ReleaseSubcommand) -> Subcommand:
        async def parsed(inv: Invocation, services: Services) -> None:
            release_id = parse_ref(inv.args[0]) if inv.args else None
            if release_id is None:
                await inv.refuse(f"Say which release: `{usage}`.")
                return
            if needs_reason and len(inv.args) < 2:
                await inv.refuse(f"Say why: `{usage}`.")
                return
            await run(inv, services, release_id)
        return parsed
    return wrap


def _acting(what: str, act: Callable[[Invocation, Services, int], Awaitable[Outcome[Any]]],
            done: Callable[[int, Outcome[Any]], str | None]) -> ReleaseSubcommand:
    """Ack, then call the use case and answer its refusal, or `done`'s sentence (if any)."""
    async def run(inv: Invocation, services: Services, release_id: int) -> None:
        await inv.ack()

        async def work() -> None:
            outcome = await act(inv, services, release_id)
            if outcome.refusal:
                await refuse(inv.respond, outcome.refusal, release_id)
            elif (sentence := done(release_id, outcome)) is not None:
                await answer(inv.respond, sentence)

        await guarded(what, inv.respond, work, user=inv.user, release=f"REL-{release_id}")
    return run


def _reason(inv: Invocation) -> str:
    """What follows `REL-n` in the text, as typed."""
    parts = inv.rest.split(None, 1)
    return parts[1] if len(parts) > 1 else ""


submit = _on_release("/release submit REL-7")(_acting(
    "/release submit", lambda inv, s, rid: s.approvals.submit(rid, inv.user),
    lambda rid, _: f"REL-{rid} is submitted: the approvers have been asked."))

cancel = _on_release("/release cancel REL-7 REASON…", needs_reason=True)(_acting(
    "/release cancel", lambda inv, s, rid: s.releases.cancel(rid, inv.user, _reason(inv)),
    lambda rid, _: f"REL-{rid} is cancelled."))

def _override(inv: Invocation) -> str | None:
    """`/release start REL-n override REASON…`: the reason, or None without `override`."""
    words = inv.rest.split(None, 2)
    if len(words) > 1 and words[1].lower() == "override":
        return words[2] if len(words) > 2 else ""
    return None


def _started(rid: int, outcome: Outcome[Any]) -> str:
    return f"REL-{rid} is executing. When it is done, record the release checks: `/release verify REL-{rid}`."


start = _on_release("/release start REL-7 [override REASON…]")(_acting(
    "/release start", lambda inv, s, rid: s.verification.start(rid, inv.user, _override(inv)), _started))


async def freeze(inv: Invocation, services: Services) -> None:
    """`/release freeze START END REASON… [models=KEY,KEY]` (release managers) → FRZ-n."""
    await inv.ack()

    async def work() -> None:
        outcome = await services.freezes.freeze(inv.user, inv.args)
        if outcome.refusal:
            await refuse(inv.respond, outcome.refusal)
        elif outcome.errors:
            await answer(inv.respond, _invalid(outcome.errors, USAGE))
        else:
            await inv.respond(text=frozen_message(outcome.unwrap()), response_type="in_channel")

    await guarded("/release freeze", inv.respond, work, user=inv.user)


async def freezes(inv: Invocation, services: Services) -> None:
    await inv.ack()

    async def work() -> None:
        await answer(inv.respond, freezes_listing(await services.freezes.current_and_coming()))

    await guarded("/release freezes", inv.respond, work, user=inv.user)


async def unfreeze(inv: Invocation, services: Services) -> None:
    if not inv.args:
        await inv.refuse("Say which freeze: `/release unfreeze FRZ-3` (`/release freezes` lists them).")
        return
    await inv.ack()

    async def work() -> None:
        outcome = await services.freezes.unfreeze(inv.user, inv.args[0])
        if outcome.refusal:
            await refuse(inv.respond, outcome.refusal)
        else:
            await inv.respond(text=unfrozen_message(outcome.unwrap()), response_type="in_channel")

    await guarded("/release unfreeze", inv.respond, work, user=inv.user)


def _invalid(errors: Mapping[str, str], usage: str) -> str:
    return " ".join(bk.escape(e) for e in errors.values()) + f" Usage: `{usage}`."



@_on_release("/release rollback REL-7 [REASON…]")
async def rollback(inv: Invocation, services: Services, release_id: int) -> None:
    """With a reason, at once (then: was the rollback plan followed?); without, the form."""
    reason = _reason(inv)
    if not reason.strip():
        await rollback_form.open_form(inv, services, release_id)
        return
    await inv.ack()
    await guarded("/release rollback", inv.respond,
                  lambda: rollback_form.rolled_back(inv, services, release_id, reason),
                  user=inv.user, release=f"REL-{release_id}")


survey = _on_release("/release survey REL-7")(_acting(
    "/release survey", lambda inv, s, rid: s.surveys.send(rid, by=inv.user),
    lambda rid, _: f"The survey of REL-{rid} is on its way."))

review = _on_release("/release review REL-7")(_acting(
    "/release review", lambda inv, s, rid: s.reviews.post(rid, inv.user, str(inv.command["channel_id"])),
    lambda rid, outcome: None if outcome.created else
    f"The review of REL-{rid} was posted before; it is now up to date."))

close = _on_release("/release close REL-7 [confirm]")(_acting(
    "/release close", lambda inv, s, rid: s.reviews.close(
        rid, inv.user, confirm=len(inv.args) > 1 and inv.args[1].lower() == "confirm"),
    lambda rid, _: f"REL-{rid} is closed."))


@_on_release("/release incident REL-7 INC-42 [SUMMARY…] [URL]")
async def incident(inv: Invocation, services: Services, release_id: int) -> None:
    """Relate an incident to a release: a missing reference is answered in the ack."""
    if len(inv.args) < 2:
        await inv.refuse("Say which incident: `/release incident REL-7 INC-42 [SUMMARY…] [URL]`.")
        return
    summary, url = split_words(inv.args[2:])
    await _acting(
        "/release incident", lambda inv, s, rid: s.incidents.link(rid, inv.user, inv.args[1], summary, url),
        lambda rid, outcome: linked_answer(rid, outcome.unwrap()),
    )(inv, services, release_id)


async def model_review(inv: Invocation, services: Services) -> None:
    """`/release model-review MODEL [PERIOD]`: posted in the channel where it was asked."""
    request = parse_request(inv.args, services.catalog, usage="/release model-review MODEL [PERIOD]",
                            default_days=services.model_reviews.default_days)
    if isinstance(request, str):
        await inv.refuse(request)
        return
    if request.model_key is None:
        await inv.refuse("Say which release model: `/release model-review MODEL [PERIOD]`, e.g. "
                         f"`/release model-review {(services.catalog.keys or ['standard'])[0]} 90d`.")
        return
    await inv.ack()
    model_key = request.model_key

    async def work() -> None:
        outcome = await services.model_reviews.post(model_key, request.days, inv.user,
                                                    str(inv.command["channel_id"]))
        if outcome.refusal:
            await refuse(inv.respond, outcome.refusal)
        else:
            await answer(inv.respond, f"The review of the release model {model_key} is on its way to this channel.")

    await guarded("/release model-review", inv.respond, work, user=inv.user)


#: A person named in a command: `<@U123|dave>` (the manifest's should_escape), `<@U123>`, or a
#: bare id.
_PERSON = re.compile(r"^(?:<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>|([UW][A-Z0-9]{2,}))$")


def person(text: str) -> str | None:
    match = _PERSON.match(text.strip())
    return (match.group(1) or match.group(2)) if match else None


@_on_release("/release owner REL-7 @person")
async def owner(inv: Invocation, services: Services, release_id: int) -> None:
    """Hand a release over: the new owner must be named as a mention (Slack sends its id)."""
    new_owner = person(inv.args[1]) if len(inv.args) > 1 else None
    if new_owner is None:
        await inv.refuse("Say who takes it over, as a mention: `/release owner REL-7 @dave`.")
        return
    await _acting(
        "/release owner", lambda inv, s, rid: s.releases.hand_over(rid, inv.user, new_owner),
        lambda rid, _: f"REL-{rid} now belongs to <@{new_owner}>: reminders and notices go to them from now on.",
    )(inv, services, release_id)


@_on_release("/release verify REL-7")
async def verify(inv: Invocation, services: Services, release_id: int) -> None:
    """Open the checklist at once after the ack: the trigger_id expires 3 s after the command."""
    await inv.ack()
    await guarded("/release verify", inv.respond,
                  lambda: open_checklist(services, inv.client, inv.respond, trigger_id=inv.command["trigger_id"],
                                         release_id=release_id, user=inv.user,
                                         channel=str(inv.command["channel_id"])),
                  user=inv.user, release=f"REL-{release_id}")


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
    "owner": owner,
    "schedule": communications.schedule,
    "freeze": freeze,
    "freezes": freezes,
    "unfreeze": unfreeze,
    "announce": communications.announce,
    "plan": plan.command,
    "incident": incident,
    "model-review": model_review,
}


def unescaped(text: str) -> str:
    """The command's text as typed. With `should_escape` (the manifest sets it, so that people
    arrive as ids) Slack also sends `&`, `<` and `>` as `&amp;`, `&lt;` and `&gt;`: a title
    "R&D tools" would otherwise be stored, and shown, as "R&amp;D tools". Mentions stay as
    Slack sent them (`<@U…|dave>`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def register(app: AsyncApp, services: Services) -> None:
    @app.command("/release")
    async def on_release(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond,
                         client: AsyncWebClient) -> None:
        command = {**command, "text": unescaped(str(command.get("text", "")))}
        words = command["text"].split()
        name = words[0].lower() if words else "help"
        subcommand = SUBCOMMANDS.get(name)
        if subcommand is None:
            await ack(response_type="ephemeral",
                      text=messages.help_text(f"I don't know `/release {name}`."))
            return
        await subcommand(Invocation(ack, respond, client, command, words[1:], services.reads.now()), services)
