"""Modals, as Block Kit data: the planning form and the window change."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from bot import actions as ids
from bot.catalog import Catalog
from bot.records import ReleaseRecord
from bot.rendering import blocks as bk


def _input(block_id: str, label: str, element: bk.Block, *, optional: bool = False,
           hint: str | None = None) -> bk.Block:
    block: bk.Block = {
        "type": "input", "block_id": block_id, "label": bk.plain(label, 2000),
        "element": {**element, "action_id": block_id}, "optional": optional,
    }
    if hint:
        block["hint"] = bk.plain(hint, 2000)
    return block


def _text(placeholder: str, *, initial: str = "", multiline: bool = False, max_length: int = 3000) -> bk.Block:
    element: bk.Block = {"type": "plain_text_input", "multiline": multiline, "max_length": max_length,
                         "placeholder": bk.plain(placeholder, 150)}
    if initial:
        element["initial_value"] = initial[:max_length]
    return element


def _option(value: str, text: str) -> bk.Block:
    return {"text": bk.plain(text, 75), "value": value[:75]}


def plan_modal(catalog: Catalog, channel_id: str, now: datetime, model_key: str | None = None,
               title: str = "") -> bk.Block:
    """The planning form, prefilled with what `/release new MODEL TITLE…` said."""
    options = [_option(m.key, f"{m.name} ({m.key})") for m in catalog][:100]
    model_select: bk.Block = {"type": "static_select", "options": options,
                              "placeholder": bk.plain("Choose a release model", 150)}
    chosen = next((o for o in options if o["value"] == model_key), None)
    if chosen:
        model_select["initial_option"] = chosen
    start = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    start_picker = {"type": "datetimepicker", "initial_date_time": int(start.timestamp())}
    end_picker = {"type": "datetimepicker", "initial_date_time": int((start + timedelta(hours=1)).timestamp())}
    blocks = [
        _input(ids.FIELD_MODEL, "Release model", model_select),
        _input(ids.FIELD_TITLE, "Title", _text("e.g. Payments API 2.3", initial=title, max_length=150)),
        _input(ids.FIELD_START, "Planned start", start_picker, hint="Shown in your own time zone."),
        _input(ids.FIELD_END, "Planned end", end_picker),
        _input(ids.FIELD_COMPONENTS, "Components released",
               _text("Configuration items, one per line", multiline=True), optional=True,
               hint="The configuration items this release changes, one per line."),
        _input(ids.FIELD_CHANGE, "Change record", _text("e.g. CHG-1234", max_length=200), optional=True),
        _input(ids.FIELD_DESCRIPTION, "Description", _text("What changes, and why", multiline=True),
               optional=True),
    ]
    return {
        "type": "modal", "callback_id": ids.PLAN_VIEW,
        "title": bk.plain("Plan a release", bk.MODAL_TITLE),
        "submit": bk.plain("Plan release", 24), "close": bk.plain("Cancel", 24),
        "private_metadata": json.dumps({"channel_id": channel_id}),
        "blocks": blocks,
    }


def reject_modal(release_id: int, channel_id: str) -> bk.Block:
    """Asks the approver why; the reason is recorded and sent to the release owner."""
    return {
        "type": "modal", "callback_id": ids.REJECT_VIEW,
        "title": bk.plain(f"Reject REL-{release_id}", bk.MODAL_TITLE),
        "submit": bk.plain("Reject", 24), "close": bk.plain("Cancel", 24),
        "private_metadata": json.dumps({"release_id": release_id, "channel": channel_id}),
        "blocks": [
            _input(ids.FIELD_REASON, "Why do you reject this release?",
                   _text("The owner reads this; say what would make it acceptable.", multiline=True,
                         max_length=2000)),
        ],
    }


def comment_modal(release_id: int, questions: list[tuple[str, str]]) -> bk.Block:
    """The survey's text questions, one input each; `questions` are (key, text)."""
    blocks = [
        _input(key, text, _text("Your answer", multiline=True, max_length=3000), optional=True)
        for key, text in questions[:50]
    ]
    return {
        "type": "modal", "callback_id": ids.SURVEY_COMMENT_VIEW,
        "title": bk.plain(f"REL-{release_id} survey", bk.MODAL_TITLE),
        "submit": bk.plain("Send", 24), "close": bk.plain("Cancel", 24),
        "private_metadata": json.dumps({"release_id": release_id}),
        "blocks": blocks,
    }


def lessons_modal(release_id: int, channel_id: str) -> bk.Block:
    """Lessons learnt for the release review; each submission adds to the record."""
    return {
        "type": "modal", "callback_id": ids.LESSONS_VIEW,
        "title": bk.plain(f"Lessons: REL-{release_id}", bk.MODAL_TITLE),
        "submit": bk.plain("Add", 24), "close": bk.plain("Cancel", 24),
        "private_metadata": json.dumps({"release_id": release_id, "channel": channel_id}),
        "blocks": [_input(ids.FIELD_LESSONS, "What did we learn?",
                          _text("What went well, what to do differently next time", multiline=True))],
    }
def window_modal(release: ReleaseRecord) -> bk.Block:
    """Move a release's planned window: the current one prefilled, and why (for the record)."""
    blocks = [
        bk.section(f"*{bk.escape(bk.truncate(release.title, 200))}* ({release.ref}) is {release.state.label}. "
                   "Announcements and reminders timed from the start move with it."),
        _input(ids.FIELD_START, "Planned start", {
            "type": "datetimepicker", "initial_date_time": int(release.planned_start.timestamp())},
            hint="Shown in your own time zone."),
        _input(ids.FIELD_END, "Planned end", {
            "type": "datetimepicker", "initial_date_time": int(release.planned_end.timestamp())}),
        _input(ids.FIELD_REASON, "Why", _text("e.g. the supplier moved the maintenance slot", max_length=500),
               optional=True, hint="Recorded on the release."),
    ]
    return {
        "type": "modal", "callback_id": ids.WINDOW_VIEW,
        "title": bk.plain(f"Window of {release.ref}", bk.MODAL_TITLE),
        "submit": bk.plain("Change window", 24), "close": bk.plain("Cancel", 24),
        "private_metadata": json.dumps({"release_id": release.id, "channel_id": release.channel_id}),
        "blocks": blocks,
    }
