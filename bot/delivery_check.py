"""Exactly once across a crash: every message the bot posts names its outbox row, and a row
that may have been posted already is looked for in Slack before it is posted again.

The dispatcher's one unsafe window is between Slack accepting a post and the transaction that
marks the row sent: a process killed there (or a post whose answer timed out) leaves a row
that looks unsent. Each `chat.postMessage` therefore carries Slack message metadata
`{"event_type": "releasebot_outbox", "event_payload": {"outbox_id": N}}`. The claim keeps the
row's `sending_since` from an attempt that was never settled; a row claimed with one is first
looked for in its conversation's history since then (`conversations.history` with
`include_all_metadata`), and when the tagged message is there its channel and ts are taken as
the post's answer: the row is marked sent, the anchor recorded, nothing posted twice.

What this cannot close: a conversation the bot may post in but not read (a public channel it
was never invited to, reached through `chat:write.public`; an install without the
`*:history` scopes), where the gateway cannot look and posts again; and file uploads, which
carry no metadata (a crash there can share the model review's chart twice). `chat.update`
is not checked: updating a message to the same content twice changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.dispatcher import DeliveryError, Gateway
    from storage.tables import OutboxRow

log = logging.getLogger(__name__)

EVENT_TYPE = "releasebot_outbox"

#: Looked back from the unsettled attempt: our clock and Slack's may disagree a little.
CLOCK_MARGIN = timedelta(minutes=2)


def tag(row_id: int) -> dict[str, Any]:
    """The message metadata a post of outbox row `row_id` carries."""
    return {"event_type": EVENT_TYPE, "event_payload": {"outbox_id": row_id}}


def tagged_row(message: dict[str, Any]) -> int | None:
    """The outbox id a message from `conversations.history` was tagged with, if any."""
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != EVENT_TYPE:
        return None
    payload = metadata.get("event_payload")
    value = payload.get("outbox_id") if isinstance(payload, dict) else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def unsettled_since(row: OutboxRow, lease: timedelta) -> datetime | None:
    """When an earlier, never settled attempt on `row` began, or None if this claim is its first.

    The claim sets `claimed_until = now + lease` and keeps an earlier `sending_since`, else sets
    it to `now`; so a `sending_since` older than this claim's start is an attempt that may have
    reached Slack."""
    if row.sending_since is None or row.claimed_until is None:
        return None
    claimed_at = row.claimed_until - lease
    return row.sending_since if row.sending_since < claimed_at - timedelta(milliseconds=1) else None


async def post_once(gateway: Gateway, row: OutboxRow, lease: timedelta) -> tuple[str, str]:
    """Post `row` tagged with its id, unless an earlier attempt's message is already in Slack.

    Returns (channel, ts) as Slack answered the post, or as the found message has them."""
    since = unsettled_since(row, lease)
    if since is not None:
        found = await gateway.find_tagged(row.channel, row.id, since - CLOCK_MARGIN)
        if found is not None:
            log.warning("outbox row %s (%s) was posted before its attempt was recorded: found in %s at %s, "
                        "not posted again", row.id, row.dedupe_key, found[0], found[1])
            return found
        log.info("outbox row %s (%s): an unsettled attempt since %s left no message; posting",
                 row.id, row.dedupe_key, since.isoformat())
    return await gateway.post(row.channel, row.text, row.blocks, metadata=tag(row.id))


def still_unsure(row: OutboxRow, exc: DeliveryError, lease: timedelta) -> dict[str, Any]:
    """What a failed attempt leaves for the next one: `sending_since` is kept (for `finish`)
    when the post may have landed all the same (the answer was lost on the network) or when
    an earlier unsettled attempt was not ruled out (the look in history failed)."""
    if exc.error.startswith("network") or unsettled_since(row, lease) is not None:
        return {"sending_since": row.sending_since}
    return {}
