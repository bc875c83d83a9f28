"""Communications as Slack messages: a communication or reminder rendered from its release
model's template, and for `/release announce` the private preview of the next one and what
Send now and Skip did."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot import actions as ids
from bot.catalog import Catalog, ReleaseModel
from bot.communications import Preview, QueuedMessage, Settled
from bot.lifecycle import Event
from bot.records import ReleaseRecord
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered, where
from bot.templating import Context, EventView, ModelView, ReleaseView, date, humanize, mention, plan_variables

log = logging.getLogger(__name__)


def _name(message: QueuedMessage) -> str:
    return f"“{bk.escape(message.template)}” to {where(message.channel)}"


def preview_message(preview: Preview, viewer: str, now: datetime) -> Rendered:
    """The queued message between a line saying what and when, and the owner's buttons."""
    release, message = preview.release, preview.next
    if message is None:
        return _say(nothing_queued(preview))
    when = "due now" if message.due_at <= now else f"due {bk.slack_date(message.due_at)}"
    about = (f"Next communication of *{release.ref}*: {_name(message)}, {when}. Only you can see this preview.")
    blocks: list[bk.Block] = [bk.context(about), bk.divider()]
    blocks += bk.cap(list(message.blocks or [bk.section(bk.escape(message.text))]), 45)
    blocks.append(bk.divider())
    if viewer == release.owner:
        blocks.append(bk.actions(
            bk.button("Send now", ids.ANNOUNCE_SEND, str(message.id), style="primary"),
            bk.button("Skip", ids.ANNOUNCE_SKIP, str(message.id), style="danger"),
            block_id=f"announce-{message.id}",
        ))
    else:
        blocks.append(bk.context(f"Only the release owner, {bk.user(release.owner)}, can send or skip it."))
    return Rendered(bk.message_text(f"Preview of {release.ref}'s next communication: {message.text}"), blocks)


def nothing_queued(preview: Preview) -> str:
    """Why there is nothing to preview, and what the plan will send."""
    release = preview.release
    if not preview.plan:
        return f"{release.ref}'s release model has no communication plan, so there is nothing to announce."
    return (f"Nothing is queued for {release.ref} ({release.state.label}) right now. Its plan sends "
            + "; ".join(bk.escape(step) for step in preview.plan) + ".")


def settled_message(settled: Settled) -> Rendered:
    name = _name(settled.message)
    if settled.what == "sending":
        return _say(f":outbox_tray: Sending {name} now.")
    if settled.what == "under_way":
        return _say(f"{name} is due already and on its way.")
    return _say(f":fast_forward: Skipped {name}; it will not be sent. `/release announce "
                f"{settled.release.ref}` shows the next one.")


def _say(text: str) -> Rendered:
    return Rendered(text, [bk.section(text)])


def render(catalog: Catalog, release: ReleaseRecord, model: ReleaseModel, template: str, *,
           event: Event | None = None, offset: timedelta | None = None, audience: str = "channel") -> Rendered:
    """A communication or reminder as Slack text and Block Kit, within limits for any input.

    A template that fails here (it passed the check at load, so this is rare) must not stop
    the transition that caused it: the message falls back to a plain sentence, and the
    failure is logged.
    """
    context = Context(
        release=ReleaseView(
            ref=release.ref, title=release.title, description=release.description, state=release.state.value,
            owner=mention(release.owner), model=model.name, model_key=model.key, components=release.components,
            change_ref=release.change_ref or "", planned_start=release.planned_start,
            planned_end=release.planned_end, start=date(release.planned_start), end=date(release.planned_end),
            **plan_variables(release.plan),
        ),
        model=ModelView(model.key, model.name, model.description, model.approach.value, model.approval.channel),
        approach=model.approach.value,
        opt_in=model.communications.opt_in if model.communications else "",
        event=_event_view(event),
        offset=humanize(offset) if offset else "",
        audience=audience,
    )
    try:
        text = catalog.templates.render(template, context)
    except Exception:
        log.exception("template %s failed for %s; sending a plain message instead", template, release.ref)
        text = f"*{release.ref}* {bk.escape(release.title)}: {template.replace('_', ' ')} ({release.state.label})."
    blocks = bk.cap(bk.paragraphs(text or " "))
    first = next((p for p in text.split("\n\n") if p.strip()), release.ref)
    return Rendered(bk.message_text(first), blocks)


def _event_view(event: Event | None) -> EventView:
    if event is None:
        return EventView()
    data = event.data
    criteria = data.get("criteria") or ()
    return EventView(
        kind=event.kind.value, actor=mention(event.actor) if event.actor else "releasebot",
        reason=str(data.get("reason") or ""), at=event.at,
        criteria=tuple(str(c) for c in criteria) if isinstance(criteria, list | tuple) else (str(criteria),),
    )
