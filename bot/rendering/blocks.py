"""Block Kit as plain data, held to Slack's limits for any input (DESIGN.md §4).

Plain dicts rather than slack_sdk's model classes: the core stays Slack-free, and those
classes raise on long input where a person's long title should be shortened instead.
Every builder here truncates to the documented limit; `tests/blockkit_lint.py` checks the
result independently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

Block = dict[str, Any]

MESSAGE_BLOCKS = 50
SURFACE_BLOCKS = 100
SECTION_TEXT = 3000
FIELD_TEXT = 2000
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
MESSAGE_TEXT = 4000
MODAL_TITLE = 24
CONTEXT_ELEMENTS = 10
ELLIPSIS = "…"


def escape(text: str) -> str:
    """Make typed text inert in mrkdwn: `<!channel>` pings nobody, `<http://x|y>` links nowhere."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def plain(text: str, limit: int = SECTION_TEXT) -> Block:
    return {"type": "plain_text", "text": truncate(text or " ", limit), "emoji": True}


def mrkdwn(text: str, limit: int = SECTION_TEXT) -> Block:
    return {"type": "mrkdwn", "text": truncate(text or " ", limit)}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_TEXT)}


def section(text: str, *, fields: list[str] | None = None, accessory: Block | None = None,
            block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if fields:
        block["fields"] = [mrkdwn(f, FIELD_TEXT) for f in fields[:10]]
    if accessory:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id[:255]
    return block


def fields_section(fields: list[str]) -> Block:
    return {"type": "section", "fields": [mrkdwn(f, FIELD_TEXT) for f in fields[:10]]}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t, FIELD_TEXT) for t in texts[:CONTEXT_ELEMENTS]]}


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str = "", *, style: str | None = None) -> Block:
    element: Block = {"type": "button", "text": plain(text, BUTTON_TEXT), "action_id": action_id[:255]}
    if value:
        element["value"] = value[:BUTTON_VALUE]
    if style in ("primary", "danger"):
        element["style"] = style
    return element


def actions(*elements: Block, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements[:25])}
    if block_id:
        block["block_id"] = block_id[:255]
    return block


def cap(blocks: list[Block], limit: int = MESSAGE_BLOCKS, more: str = "…and {n} more") -> list[Block]:
    """Keep within the surface's block limit, saying how much was left out."""
    if len(blocks) <= limit:
        return blocks
    kept = blocks[: limit - 1]
    return [*kept, context(more.format(n=len(blocks) - len(kept)))]


def paragraphs(text: str, limit: int = SECTION_TEXT) -> list[Block]:
    """Long mrkdwn as sections: a paragraph each, longer ones split at lines, then hard."""
    pieces: list[str] = []
    for paragraph in (p.strip("\n") for p in text.split("\n\n")):
        if not paragraph.strip():
            continue
        current = ""
        for line in paragraph.split("\n"):
            while len(line) > limit:
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(line[:limit])
                line = line[limit:]
            if current and len(current) + 1 + len(line) > limit:
                pieces.append(current)
                current = line
            else:
                current = f"{current}\n{line}" if current else line
        if current.strip():
            pieces.append(current)
    return [section(piece) for piece in pieces]


def message_text(text: str) -> str:
    """The top-level `text` every message carries (notifications, screen readers)."""
    return truncate(text, MESSAGE_TEXT)


def slack_date(moment: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """A date Slack renders in each viewer's own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{fmt}|{fallback}>"


def user(user_id: str) -> str:
    """A mention of a Slack user; a pipeline (`token:NAME`) is no Slack user, so its name
    is shown as it is, escaped, in code."""
    if user_id.startswith("token:"):
        return f"`{escape(user_id)}`"
    return f"<@{user_id}>"
