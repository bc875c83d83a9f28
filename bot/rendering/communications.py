"""`/release announce` as Slack messages: the private preview of the next communication,
and what Send now and Skip did."""

from __future__ import annotations

from datetime import datetime

from bot import actions as ids
from bot.communications import Preview, QueuedMessage, Settled
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered, where


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
