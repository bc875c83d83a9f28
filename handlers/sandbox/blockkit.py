"""Block Kit as HTML: what the sandbox's page shows of the blocks the bot sends.

Server-side, so that it is tested here in Python and the page needs no build step. Every
text goes through `mrkdwn.py` (escaped once); every attribute is quoted and escaped; links
and images are http(s) only. Interactive elements are real form controls and `<button>`s
labelled with their Slack text, carrying `data-block-id` / `data-action-id` for the page's
script, which turns a click or a change into Slack's `block_actions` (and a modal's inputs
into `view.state.values`, see `state.py`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from handlers.sandbox.mrkdwn import Viewer, esc, mrkdwn, plain_text, text_object

Block = dict[str, Any]
_HTTP = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)
INPUT_ELEMENTS = frozenset({
    "plain_text_input", "url_text_input", "email_text_input", "number_input", "static_select",
    "multi_static_select", "external_select", "users_select", "multi_users_select", "conversations_select",
    "multi_conversations_select", "channels_select", "multi_channels_select", "radio_buttons", "checkboxes",
    "datepicker", "timepicker", "datetimepicker", "rich_text_input",
})


def block_id_of(block: Block, index: int) -> str:
    """The block's id, or the one Slack would make up for it (stable for the same blocks)."""
    return str(block.get("block_id") or f"b{index}")


def action_id_of(element: Block, block_index: int, element_index: int = 0) -> str:
    return str(element.get("action_id") or f"a{block_index}-{element_index}")


@dataclass
class Surface:
    """Where blocks are drawn: a message, a modal or a home tab, for one viewer."""

    viewer: Viewer
    kind: str = "message"
    errors: dict[str, str] = field(default_factory=dict)
    prefix: str = "s"
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def new_id(self) -> str:
        return f"{self.prefix}-{next(self._ids)}"

    def mrkdwn(self, text: str) -> str:
        return mrkdwn(text, self.viewer)

    def text(self, obj: dict[str, Any] | None) -> str:
        return text_object(obj, self.viewer)


def render_blocks(blocks: list[Block], surface: Surface) -> str:
    return "".join(render_block(block, index, surface) for index, block in enumerate(blocks or []))


def render_message(message: dict[str, Any], surface: Surface) -> str:
    """A message's blocks, or its top-level text when it has none (as Slack shows it)."""
    blocks = message.get("blocks") or []
    if blocks:
        body = render_blocks(blocks, surface)
    else:
        text = surface.mrkdwn(str(message.get("text", "")))
        body = f"<div class=\"bk-section\"><div class=\"bk-text\">{text}</div></div>"
    for attachment in message.get("attachments") or []:
        color = str(attachment.get("color", ""))
        hexed = re.fullmatch(r"#?[0-9a-fA-F]{3,6}", color)
        style = f" style=\"border-left-color:#{esc(color.lstrip('#'))}\"" if hexed else ""
        inner = (render_blocks(attachment.get("blocks") or [], surface)
                 or surface.mrkdwn(str(attachment.get("text", ""))))
        body += f"<div class=\"bk-attachment\"{style}>{inner}</div>"
    for shared in message.get("files") or []:
        url = str(shared.get("url_private", ""))
        link = f"<a href=\"{esc(url)}\" download>{esc(str(shared.get('title') or shared.get('name')))}</a>" \
            if _HTTP.fullmatch(url) else esc(str(shared.get("title", "")))
        body += f"<div class=\"bk-file\">📎 {link}</div>"
    return body


def render_block(block: Block, index: int, surface: Surface) -> str:
    kind = block.get("type")
    block_id = block_id_of(block, index)
    data = f"data-block-id=\"{esc(block_id)}\""
    if kind == "header":
        return f"<h3 class=\"bk-header\" {data}>{plain_text(block.get('text'))}</h3>"
    if kind == "divider":
        return "<hr class=\"bk-divider\">"
    if kind == "section":
        return _section(block, index, surface, data)
    if kind == "context":
        parts = []
        for element in block.get("elements") or []:
            if element.get("type") == "image":
                parts.append(_image(element, "bk-context-image"))
            else:
                parts.append(f"<span>{surface.text(element)}</span>")
        return f"<div class=\"bk-context\" {data}>{''.join(parts)}</div>"
    if kind == "actions":
        elements = "".join(_element(e, block_id, action_id_of(e, index, j), surface, label=None)
                           for j, e in enumerate(block.get("elements") or []))
        return f"<div class=\"bk-actions\" role=\"group\" {data}>{elements}</div>"
    if kind == "input":
        return _input(block, index, surface, block_id)
    if kind == "image":
        title = plain_text(block.get("title")) if block.get("title") else ""
        caption = f"<figcaption>{title}</figcaption>" if title else ""
        return f"<figure class=\"bk-image\" {data}>{_image(block, 'bk-image-img')}{caption}</figure>"
    if kind == "rich_text":
        return f"<div class=\"bk-rich\" {data}>{_rich_text(block)}</div>"
    if kind == "markdown":
        return f"<div class=\"bk-markdown\" {data}>{esc(str(block.get('text', '')))}</div>"
    return f"<div class=\"bk-unknown\" {data}>[unsupported block: {esc(str(kind))}]</div>"


def _section(block: Block, index: int, surface: Surface, data: str) -> str:
    inner = ""
    if block.get("text"):
        inner += f"<div class=\"bk-text\">{surface.text(block['text'])}</div>"
    if block.get("fields"):
        fields = "".join(f"<div class=\"bk-field\">{surface.text(f)}</div>" for f in block["fields"])
        inner += f"<div class=\"bk-fields\">{fields}</div>"
    accessory = block.get("accessory")
    extra = ""
    if accessory:
        extra = (f"<div class=\"bk-accessory\">"
                 f"{_element(accessory, block_id_of(block, index), action_id_of(accessory, index), surface, None)}"
                 f"</div>")
    return f"<div class=\"bk-section\" {data}><div class=\"bk-section-body\">{inner}</div>{extra}</div>"


def _input(block: Block, index: int, surface: Surface, block_id: str) -> str:
    element = block.get("element") or {}
    control_id = surface.new_id()
    label = plain_text(block.get("label"))
    optional = " <span class=\"bk-optional\">(optional)</span>" if block.get("optional") else ""
    grouped = element.get("type") in ("radio_buttons", "checkboxes")
    label_tag = (f"<span class=\"bk-label\" id=\"{control_id}-label\">{label}{optional}</span>" if grouped else
                 f"<label class=\"bk-label\" for=\"{control_id}\">{label}{optional}</label>")
    control = _element(element, block_id, action_id_of(element, index), surface, label=control_id,
                       in_input=True, required=not block.get("optional"))
    hint = f"<div class=\"bk-hint\">{plain_text(block.get('hint'))}</div>" if block.get("hint") else ""
    error = surface.errors.get(block_id, "")
    problem = (f"<div class=\"bk-error\" role=\"alert\" data-error-for=\"{esc(block_id)}\">"
               f"{esc(error)}</div>")
    invalid = " bk-invalid" if error else ""
    return (f"<div class=\"bk-input{invalid}\" data-block-id=\"{esc(block_id)}\">{label_tag}{control}{hint}"
            f"{problem}</div>")


def _attrs(block_id: str, action_id: str, kind: str, element: Block, *, in_input: bool = False) -> str:
    dispatch = "false" if in_input and not element.get("dispatch_action") else "true"
    return (f"data-block-id=\"{esc(block_id)}\" data-action-id=\"{esc(action_id)}\" data-kind=\"{esc(kind)}\" "
            f"data-dispatch=\"{dispatch}\"")


def _element(element: Block, block_id: str, action_id: str, surface: Surface, label: str | None, *,
             in_input: bool = False, required: bool = False) -> str:
    kind = str(element.get("type", ""))
    attrs = _attrs(block_id, action_id, kind, element, in_input=in_input)
    own_id = label or surface.new_id()
    id_attr = f"id=\"{own_id}\""
    placeholder = f" placeholder=\"{esc(str((element.get('placeholder') or {}).get('text', '')))}\"" \
        if element.get("placeholder") else ""
    if kind == "button":
        return _button(element, attrs, surface)
    if kind == "image":
        return _image(element, "bk-accessory-image")
    if kind in ("plain_text_input", "url_text_input", "email_text_input", "number_input", "rich_text_input"):
        initial = str(element.get("initial_value", "") or "")
        limits = ""
        if element.get("max_length"):
            limits += f" maxlength=\"{int(element['max_length'])}\""
        if element.get("min_length"):
            limits += f" minlength=\"{int(element['min_length'])}\""
        if kind == "rich_text_input" or (kind == "plain_text_input" and element.get("multiline")):
            return (f"<textarea class=\"bk-textarea\" {id_attr} {attrs}{limits}{placeholder} rows=\"3\">"
                    f"{esc(initial)}</textarea>")
        html_type = {"url_text_input": "url", "email_text_input": "email", "number_input": "number"}.get(kind, "text")
        if kind == "number_input":
            limits += " step=\"any\"" if element.get("is_decimal_allowed") else " step=\"1\""
            for key, attr in (("min_value", "min"), ("max_value", "max")):
                if element.get(key) is not None:
                    limits += f" {attr}=\"{esc(str(element[key]))}\""
        return (f"<input class=\"bk-text-input\" type=\"{html_type}\" {id_attr} {attrs}{limits}{placeholder} "
                f"value=\"{esc(initial)}\">")
    if kind in ("static_select", "multi_static_select", "external_select", "overflow"):
        return _select(element, attrs, id_attr, surface, multiple=kind.startswith("multi_"))
    if kind in ("users_select", "multi_users_select"):
        people = surface.viewer.directory.people.values()
        options = [{"value": p.id, "text": {"type": "plain_text", "text": f"{p.real_name} ({p.title})"}}
                   for p in people]
        preset: Any = element.get("initial_user") or element.get("initial_users") or []
        return _select({**element, "options": options}, attrs, id_attr, surface, multiple=kind.startswith("multi_"),
                       chosen=[preset] if isinstance(preset, str) else list(preset))
    if kind in ("conversations_select", "channels_select", "multi_conversations_select", "multi_channels_select"):
        channels = surface.viewer.directory.channels.values()
        options = [{"value": c.id, "text": {"type": "plain_text", "text": f"#{c.name}"}} for c in channels]
        preset = (element.get("initial_conversation") or element.get("initial_channel")
                   or element.get("initial_conversations") or element.get("initial_channels") or [])
        return _select({**element, "options": options}, attrs, id_attr, surface, multiple=kind.startswith("multi_"),
                       chosen=[preset] if isinstance(preset, str) else list(preset))
    if kind in ("radio_buttons", "checkboxes"):
        return _choices(element, attrs, own_id, surface, radio=kind == "radio_buttons")
    if kind == "datepicker":
        value = esc(str(element.get("initial_date", "") or ""))
        return f"<input class=\"bk-date\" type=\"date\" {id_attr} {attrs} value=\"{value}\">"
    if kind == "timepicker":
        value = esc(str(element.get("initial_time", "") or ""))
        return f"<input class=\"bk-time\" type=\"time\" {id_attr} {attrs} value=\"{value}\">"
    if kind == "datetimepicker":
        value = ""
        if element.get("initial_date_time") is not None:
            try:
                moment = datetime.fromtimestamp(int(element["initial_date_time"]), UTC)
                value = moment.astimezone(surface.viewer.zone).strftime("%Y-%m-%dT%H:%M")
            except (TypeError, ValueError, OverflowError, OSError):
                value = ""
        zone = esc(surface.viewer.tz)
        return (f"<span class=\"bk-datetime\"><input class=\"bk-datetime-input\" type=\"datetime-local\" {id_attr} "
                f"{attrs} value=\"{value}\"><span class=\"bk-zone\">{zone}</span></span>")
    return f"<span class=\"bk-unknown\">[unsupported element: {esc(kind)}]</span>"


def _button(element: Block, attrs: str, surface: Surface) -> str:
    style = element.get("style")
    css = "bk-button" + (f" bk-{style}" if style in ("primary", "danger") else "")
    value = f" data-value=\"{esc(str(element.get('value', '')))}\"" if "value" in element else ""
    url = str(element.get("url", ""))
    link = f" data-url=\"{esc(url)}\"" if _HTTP.fullmatch(url) else ""
    label = plain_text(element.get("text"))
    confirm = element.get("confirm")
    button = f"<button type=\"button\" class=\"{css}\" {attrs}{value}{link}" + \
        (" data-confirm=\"true\"" if confirm else "") + f">{label}</button>"
    if not confirm:
        return button
    return f"<span class=\"bk-confirmable\">{button}{_confirm(confirm, surface)}</span>"


def _confirm(confirm: Block, surface: Surface) -> str:
    """Slack's confirmation dialog: asked before the click is sent."""
    dialog_id = surface.new_id()
    style = confirm.get("style")
    yes_css = "bk-button" + (f" bk-{style}" if style in ("primary", "danger") else " bk-primary")
    title = plain_text(confirm.get("title")) or "Are you sure?"
    yes = plain_text(confirm.get("confirm")) or "Yes"
    no = plain_text(confirm.get("deny")) or "Cancel"
    return (f"<div class=\"bk-confirm\" role=\"alertdialog\" aria-modal=\"true\" aria-labelledby=\"{dialog_id}-t\" "
            f"hidden><h4 id=\"{dialog_id}-t\">{title}</h4><div class=\"bk-confirm-text\">"
            f"{surface.text(confirm.get('text'))}</div><div class=\"bk-confirm-buttons\">"
            f"<button type=\"button\" class=\"bk-button\" data-confirm-answer=\"no\">{no}</button>"
            f"<button type=\"button\" class=\"{yes_css}\" data-confirm-answer=\"yes\">{yes}</button></div></div>")


def _options(element: Block) -> list[tuple[str | None, list[Block]]]:
    if element.get("option_groups"):
        return [(str((g.get("label") or {}).get("text", "")), list(g.get("options") or []))
                for g in element["option_groups"]]
    return [(None, list(element.get("options") or []))]


def _select(element: Block, attrs: str, id_attr: str, surface: Surface, *, multiple: bool,
            chosen: list[str] | None = None) -> str:
    if chosen is None:
        initial = element.get("initial_option")
        chosen = [str(initial.get("value"))] if initial else [
            str(o.get("value")) for o in element.get("initial_options") or []]
    placeholder = str((element.get("placeholder") or {}).get("text", "") or
                      ("…" if element.get("type") == "overflow" else "Select an item"))
    parts = [] if multiple else [f"<option value=\"\">{esc(placeholder)}</option>"]
    for label, options in _options(element):
        rendered = "".join(
            f"<option value=\"{esc(str(o.get('value', '')))}\"{' selected' if str(o.get('value')) in chosen else ''}>"
            f"{plain_text(o.get('text'))}</option>" for o in options)
        parts.append(f"<optgroup label=\"{esc(label)}\">{rendered}</optgroup>" if label is not None else rendered)
    css = "bk-overflow" if element.get("type") == "overflow" else "bk-select"
    aria = " aria-label=\"More actions\"" if element.get("type") == "overflow" else ""
    return f"<select class=\"{css}\" {id_attr} {attrs}{aria}{' multiple' if multiple else ''}>{''.join(parts)}</select>"


def _choices(element: Block, attrs: str, own_id: str, surface: Surface, *, radio: bool) -> str:
    kind = "radio" if radio else "checkbox"
    initial = element.get("initial_option")
    chosen = {str(initial.get("value"))} if radio and initial else {
        str(o.get("value")) for o in element.get("initial_options") or []}
    items = []
    for option in element.get("options") or []:
        value = str(option.get("value", ""))
        description = option.get("description")
        extra = f"<span class=\"bk-choice-desc\">{surface.text(description)}</span>" if description else ""
        items.append(f"<label class=\"bk-choice\"><input type=\"{kind}\" name=\"{own_id}\" value=\"{esc(value)}\""
                     f"{' checked' if value in chosen else ''}> <span>{surface.text(option.get('text'))}</span>"
                     f"{extra}</label>")
    role = "radiogroup" if radio else "group"
    return (f"<div class=\"bk-choices\" role=\"{role}\" id=\"{own_id}\" aria-labelledby=\"{own_id}-label\" "
            f"{attrs}>{''.join(items)}</div>")


def _image(element: Block, css: str) -> str:
    url = str(element.get("image_url", ""))
    alt = esc(str(element.get("alt_text", "")))
    if not _HTTP.fullmatch(url):
        return f"<span class=\"{css} bk-image-missing\" role=\"img\" aria-label=\"{alt}\">🖼 {alt}</span>"
    return f"<img class=\"{css}\" src=\"{esc(url)}\" alt=\"{alt}\" loading=\"lazy\" referrerpolicy=\"no-referrer\">"


def _rich_text(block: Block) -> str:
    """rich_text as its plain words (the bot sends none; shown rather than dropped)."""
    words: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                words.append(str(node.get("text", "")))
            elif node.get("type") == "link":
                words.append(str(node.get("text") or node.get("url", "")))
            for child in node.get("elements") or []:
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(block.get("elements"))
    return esc("".join(words)).replace("\n", "<br>")


def render_view(view: dict[str, Any], surface: Surface) -> str:
    """A modal's body (its title, close and submit are drawn by the page)."""
    return render_blocks(list(view.get("blocks") or []), surface)

