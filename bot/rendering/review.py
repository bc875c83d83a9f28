"""The review report as a message: the rendered template in sections, with the owner's
buttons to add lessons learnt and to close the release."""

from __future__ import annotations

from bot import actions as ids
from bot.lifecycle import OUTCOMES
from bot.records import ReleaseRecord
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered


def sections(markdown: str, limit: int = bk.SECTION_TEXT) -> list[str]:
    """Split rendered mrkdwn at blank lines into section-sized parts (long parts truncated)."""
    parts: list[str] = []
    current = ""
    for paragraph in (p.strip() for p in markdown.split("\n\n")):
        if not paragraph:
            continue
        if current and len(current) + 2 + len(paragraph) > limit:
            parts.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        parts.append(current)
    return [bk.truncate(p, limit) for p in parts]


def review_message(release: ReleaseRecord, markdown: str) -> Rendered:
    blocks: list[bk.Block] = [bk.header(f"Release review: {release.ref} · {release.title}")]
    blocks += [bk.section(part) for part in sections(markdown)]
    value = str(release.id)
    buttons = [bk.button("Add lessons learnt", ids.LESSONS, value)]
    if release.state in OUTCOMES:
        buttons.append(bk.button("Close release", ids.CLOSE, value, style="primary"))
    blocks = bk.cap(blocks, bk.MESSAGE_BLOCKS - 2)
    blocks.append(bk.actions(*buttons, block_id=f"review:{release.id}"))
    blocks.append(bk.context(f"{release.ref} · release model `{release.model_ref}` · release review · "
                             "buttons are for the release owner"))
    text = f"Release review of {release.ref} {bk.escape(release.title)}"
    return Rendered(bk.message_text(text), blocks)
