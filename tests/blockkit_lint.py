"""An independent check of Block Kit limits (../shared/slack/RULES.md), for every surface the
bot sends. Written apart from bot/rendering/blocks.py on purpose: it must not share its mistakes."""

from __future__ import annotations

from typing import Any

LIMITS = {
    "section_text": 3000, "field_text": 2000, "fields": 10, "header": 150, "button_text": 75,
    "button_value": 2000, "url": 3000, "id": 255, "option_text": 75, "option_value": 75,
    "options": 100, "context_elements": 10, "actions_elements": 25, "label": 2000,
    "placeholder": 150, "modal_title": 24, "modal_button": 24, "private_metadata": 3000,
    "message_text": 4000,
}


def _text_len(obj: dict[str, Any] | None) -> int:
    return len(obj.get("text", "")) if obj else 0


def lint_blocks(blocks: list[dict[str, Any]], max_blocks: int) -> list[str]:
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(f"{len(blocks)} blocks > {max_blocks}")
    for i, block in enumerate(blocks):
        where = f"block {i} ({block.get('type')})"
        if len(block.get("block_id", "")) > LIMITS["id"]:
            problems.append(f"{where}: block_id too long")
        kind = block.get("type")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"{where}: section without text or fields")
            if _text_len(block.get("text")) > LIMITS["section_text"]:
                problems.append(f"{where}: text {_text_len(block.get('text'))} > 3000")
            if block.get("text") is not None and not block["text"].get("text"):
                problems.append(f"{where}: empty text")
            fields = block.get("fields", [])
            if len(fields) > LIMITS["fields"]:
                problems.append(f"{where}: {len(fields)} fields > 10")
            problems += [f"{where}: field > 2000" for f in fields if _text_len(f) > LIMITS["field_text"]]
            if block.get("accessory"):
                problems += _element(block["accessory"], where)
        elif kind == "header":
            if _text_len(block.get("text")) > LIMITS["header"]:
                problems.append(f"{where}: header > 150")
            if block.get("text", {}).get("type") != "plain_text":
                problems.append(f"{where}: header must be plain_text")
        elif kind == "context":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= LIMITS["context_elements"]:
                problems.append(f"{where}: {len(elements)} context elements")
            problems += [f"{where}: context text > 2000" for e in elements if _text_len(e) > 2000]
        elif kind == "actions":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= LIMITS["actions_elements"]:
                problems.append(f"{where}: {len(elements)} action elements")
            for element in elements:
                problems += _element(element, where)
        elif kind == "input":
            if _text_len(block.get("label")) > LIMITS["label"]:
                problems.append(f"{where}: label too long")
            if _text_len(block.get("hint")) > LIMITS["label"]:
                problems.append(f"{where}: hint too long")
            problems += _element(block.get("element", {}), where)
    return problems


def _element(element: dict[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    if len(element.get("action_id", "")) > LIMITS["id"]:
        problems.append(f"{where}: action_id too long")
    if element.get("type") == "button":
        if not element.get("text", {}).get("text"):
            problems.append(f"{where}: button without text")
        if _text_len(element.get("text")) > LIMITS["button_text"]:
            problems.append(f"{where}: button text > 75")
        if len(element.get("value", "")) > LIMITS["button_value"]:
            problems.append(f"{where}: button value > 2000")
        if len(element.get("url", "")) > LIMITS["url"]:
            problems.append(f"{where}: url > 3000")
    if _text_len(element.get("placeholder")) > LIMITS["placeholder"]:
        problems.append(f"{where}: placeholder > 150")
    options = element.get("options", [])
    if len(options) > LIMITS["options"]:
        problems.append(f"{where}: {len(options)} options > 100")
    for option in options:
        if _text_len(option.get("text")) > LIMITS["option_text"] or len(option.get("value", "")) > 75:
            problems.append(f"{where}: option too long")
    return problems


def lint_message(params: dict[str, Any]) -> list[str]:
    """chat.postMessage / chat.update / response_url bodies."""
    problems: list[str] = []
    blocks = params.get("blocks") or []
    if blocks and not params.get("text"):
        problems.append("blocks without top-level text")
    if len(params.get("text") or "") > LIMITS["message_text"]:
        problems.append("text > 4000")
    return problems + lint_blocks(blocks, 50)


def lint_view(view: dict[str, Any]) -> list[str]:
    """views.open / views.push / views.update / views.publish."""
    problems: list[str] = []
    kind = view.get("type")
    if kind == "modal":
        title = _text_len(view.get("title"))
        if not 1 <= title <= LIMITS["modal_title"]:
            problems.append(f"modal title length {title}")
        for key in ("submit", "close"):
            if _text_len(view.get(key)) > LIMITS["modal_button"]:
                problems.append(f"modal {key} too long")
        if any(b.get("type") == "input" for b in view.get("blocks", [])) and not view.get("submit"):
            problems.append("modal with input blocks but no submit")
    if kind == "home" and ("submit" in view or "close" in view):
        problems.append("home view with submit/close")
    if len(view.get("private_metadata", "")) > LIMITS["private_metadata"]:
        problems.append("private_metadata > 3000")
    if len(view.get("callback_id", "") or "") > LIMITS["id"]:
        problems.append("callback_id too long")
    return problems + lint_blocks(view.get("blocks", []), 100)


def lint_calls(calls: list[Any]) -> list[str]:
    """Lint every message and view the fake Slack received."""
    problems: list[str] = []
    for call in calls:
        if call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "response_url"):
            problems += [f"{call.method}: {p}" for p in lint_message(call.params)]
        elif call.method.startswith("views."):
            problems += [f"{call.method}: {p}" for p in lint_view(call.params.get("view") or {})]
    return problems
