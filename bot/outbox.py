"""Messages owed to Slack, queued in the transaction of the fact that causes them.

A message is identified by its dedupe key (`REL-7:card:v3`, `REL-7:comm:upcoming`): the
unique key makes a second copy impossible, whatever retries or double clicks happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.rendering.messages import Rendered
from storage.uow import UnitOfWork


class Method(StrEnum):
    POST = "post"        # a new message; defines its anchor when it has one
    UPDATE = "update"    # edits the anchored message in place (posts it if it never landed)
    UPLOAD = "upload"    # shares a file (`outbox_files`, by dedupe key) with `text` as its comment


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"   # an update overtaken by a newer one before it was sent
    WITHDRAWN = "withdrawn"     # no longer wanted (e.g. the release was cancelled)
    EXPANDED = "expanded"       # addressed to a user group: one row per member took its place


class Purpose(StrEnum):
    """Why a message of a release model's plan exists (rows without one are bookkeeping)."""

    COMMUNICATION = "communication"   # to the model's communications channel
    REMINDER = "reminder"             # a direct message to the owner or the approvers


class Timing(StrEnum):
    """What makes a planned message due."""

    EVENT = "event"                   # a lifecycle event (`on: approved`): due at once
    BEFORE_START = "before_start"     # an offset before the planned start
    AFTER_RELEASE = "after_release"   # an offset after the release was released


#: Refusals that the person who caused a message can fix (usually: invite the bot).
CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


def card_anchor(release_id: int) -> str:
    return f"release:{release_id}:card"


def is_user_group(conversation: str) -> bool:
    """A user group id (`S…`) as a message's channel: a direct message to each member."""
    return conversation.startswith("S")


@dataclass(frozen=True)
class Message:
    method: Method
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None
    dedupe_key: str
    anchor: str | None = None
    release_id: int | None = None
    notify_user: str | None = None
    due_at: datetime | None = None
    purpose: Purpose | None = None
    timing: Timing | None = None
    template: str | None = None

    @classmethod
    def post(cls, *, channel: str, rendered: Rendered, dedupe_key: str, **kw: Any) -> Message:
        return cls(Method.POST, channel, rendered.text, rendered.blocks, dedupe_key, **kw)

    @classmethod
    def update(cls, *, channel: str, rendered: Rendered, dedupe_key: str, anchor: str, **kw: Any) -> Message:
        return cls(Method.UPDATE, channel, rendered.text, rendered.blocks, dedupe_key, anchor=anchor, **kw)

    async def enqueue(self, uow: UnitOfWork, now: datetime) -> bool:
        """Queue it in `uow`'s transaction; False if this dedupe key was queued before."""
        return await uow.outbox.enqueue({
            "dedupe_key": self.dedupe_key[:255], "release_id": self.release_id, "method": self.method.value,
            "channel": self.channel, "anchor": self.anchor, "text": self.text, "blocks": self.blocks,
            "notify_user": self.notify_user, "due_at": self.due_at or now,
            "state": DeliveryState.PENDING.value, "attempts": 0, "created_at": now,
            "purpose": self.purpose.value if self.purpose else None,
            "timing": self.timing.value if self.timing else None, "template": self.template,
        })
