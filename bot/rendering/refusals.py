"""A refusal as Slack shows it: its sentence escaped for mrkdwn, the ids it names as mentions,
and, for some codes, what to type instead (a hint only Slack has: the API gives the sentence)."""

from __future__ import annotations

import re

from bot.outcome import Refusal
from bot.rendering import blocks as bk

#: What to type instead, per refusal code; `{ref}` is the release asked about.
HINTS: dict[str, str] = {
    "no_such_release": "`/release list` shows the releases.",
    "not_ready": "`/release verify {ref}` shows what is left to verify.",
    "already_executing": "Use `/release rollback {ref} REASON…` instead.",
    "review_first": "`/release review {ref}` posts it.",
    "support_running": "To close it anyway: `/release close {ref} confirm`.",
    "frozen": "A release manager types `/release start {ref} override REASON…`; `/release freezes` lists them.",
}


def mention(conversation: str) -> str:
    """A user, user group or channel id as Slack renders it."""
    if conversation[:1] == "S":
        return f"<!subteam^{conversation}>"
    if conversation[:1] in ("C", "G"):
        return f"<#{conversation}>"
    return bk.user(conversation)


def refusal_text(refusal: Refusal, ref: str | None = None) -> str:
    text = bk.escape(refusal.message)
    for person in refusal.people:
        text = re.sub(rf"(?<![\w<@^#]){re.escape(person)}\b", mention(person), text)
    hint = HINTS.get(refusal.code)
    if hint and (ref or "{ref}" not in hint):
        text = f"{text} {hint.format(ref=ref)}"
    return text
