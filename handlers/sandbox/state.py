"""What a person entered, in the shapes Slack sends: `view.state.values` and `actions`.

The page sends the raw values of its form controls by block and action id (a string, or a
list for multi-selects and checkboxes); these functions look each element up in the blocks
the bot sent and answer as Slack would: a selected option is the bot's own option object, a
datetime picker's local time becomes a Unix timestamp in the person's time zone, an empty
field is `None`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.sandbox.blockkit import action_id_of, block_id_of

Block = dict[str, Any]
Raw = str | list[str] | None
#: Elements that hold a value (buttons, overflow menus and images hold none).
STATEFUL = frozenset({
    "plain_text_input", "url_text_input", "email_text_input", "number_input", "rich_text_input",
    "static_select", "multi_static_select", "external_select", "users_select", "multi_users_select",
    "conversations_select", "multi_conversations_select", "channels_select", "multi_channels_select",
    "radio_buttons", "checkboxes", "datepicker", "timepicker", "datetimepicker",
})


def elements(blocks: list[Block]) -> Iterator[tuple[str, str, Block]]:
    """Every interactive element with its (block id, action id), as the page names them."""
    for index, block in enumerate(blocks or []):
        block_id = block_id_of(block, index)
        if block.get("type") == "input" and block.get("element"):
            yield block_id, action_id_of(block["element"], index), block["element"]
        elif block.get("type") == "actions":
            for j, element in enumerate(block.get("elements") or []):
                yield block_id, action_id_of(element, index, j), element
        elif block.get("type") == "section" and block.get("accessory"):
            yield block_id, action_id_of(block["accessory"], index), block["accessory"]


def find(blocks: list[Block], block_id: str, action_id: str) -> Block | None:
    return next((e for b, a, e in elements(blocks) if b == block_id and a == action_id), None)


def _first(raw: Raw) -> str:
    if isinstance(raw, list):
        return raw[0] if raw else ""
    return raw or ""


def _many(raw: Raw) -> list[str]:
    if raw is None:
        return []
    return [r for r in raw if r] if isinstance(raw, list) else ([raw] if raw else [])


def _all_options(element: Block) -> list[Block]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += list(group.get("options") or [])
    return options


def _option(element: Block, value: str) -> Block | None:
    return next((o for o in _all_options(element) if str(o.get("value")) == value), None)


def local_timestamp(text: str, zone: ZoneInfo) -> int | None:
    """`2025-03-01T14:30` on the person's clock, as Slack's `selected_date_time`."""
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M")
    except ValueError:
        return None
    return int(moment.replace(tzinfo=zone).timestamp())


def value_of(element: Block, raw: Raw, zone: ZoneInfo) -> dict[str, Any]:
    """The element's entry in state values (without its `type`)."""
    kind = element.get("type")
    if kind in ("plain_text_input", "url_text_input", "email_text_input", "number_input", "rich_text_input"):
        text = _first(raw)
        return {"value": text if text != "" else None}
    if kind in ("static_select", "external_select", "radio_buttons", "overflow"):
        return {"selected_option": _option(element, _first(raw))}
    if kind in ("multi_static_select", "checkboxes"):
        return {"selected_options": [o for v in _many(raw) if (o := _option(element, v)) is not None]}
    if kind == "users_select":
        return {"selected_user": _first(raw) or None}
    if kind == "multi_users_select":
        return {"selected_users": _many(raw)}
    if kind == "conversations_select":
        return {"selected_conversation": _first(raw) or None}
    if kind == "multi_conversations_select":
        return {"selected_conversations": _many(raw)}
    if kind == "channels_select":
        return {"selected_channel": _first(raw) or None}
    if kind == "multi_channels_select":
        return {"selected_channels": _many(raw)}
    if kind == "datepicker":
        return {"selected_date": _first(raw) or None}
    if kind == "timepicker":
        return {"selected_time": _first(raw) or None}
    if kind == "datetimepicker":
        return {"selected_date_time": local_timestamp(_first(raw), zone)}
    return {}


def state_values(blocks: list[Block], raw: dict[str, dict[str, Raw]], zone: ZoneInfo) -> dict[str, Any]:
    """`view.state.values` (or a message's `state.values`): every stateful element, by block."""
    values: dict[str, dict[str, Any]] = {}
    for block_id, action_id, element in elements(blocks):
        if element.get("type") not in STATEFUL:
            continue
        entered = (raw.get(block_id) or {}).get(action_id)
        values.setdefault(block_id, {})[action_id] = {"type": element["type"], **value_of(element, entered, zone)}
    return values


def action(element: Block, block_id: str, action_id: str, raw: Raw, zone: ZoneInfo) -> dict[str, Any]:
    """One entry of a `block_actions` payload's `actions`: what was clicked or chosen."""
    entry: dict[str, Any] = {"type": element.get("type"), "action_id": action_id, "block_id": block_id,
                             "action_ts": f"{time.time():.6f}"}
    if element.get("type") == "button":
        entry["text"] = element.get("text")
        if "value" in element:
            entry["value"] = element["value"]
        if element.get("style"):
            entry["style"] = element["style"]
        return entry
    if element.get("placeholder"):
        entry["placeholder"] = element["placeholder"]
    entry.update(value_of(element, raw, zone))
    return entry
