"""Modals, as Block Kit data: the planning form and the window change."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from bot import actions as ids
from bot.catalog import Catalog
from bot.records import ReleaseRecord
from bot.release_plan import IMPACT_LIMIT, ReleasePlan
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
    model = catalog.get(model_key) if model_key else None
    blocks += plan_inputs(ReleasePlan(), model.plan.require if model else (), model.name if model else "")
    return {
        "type": "modal", "callback_id": ids.PLAN_VIEW,
        "title": bk.plain("Plan a release", bk.MODAL_TITLE),
        "submit": bk.plain("Plan release", 24), "close": bk.plain("Cancel", 24),
        "private_metadata": json.dumps({"channel_id": channel_id}),
        "blocks": blocks,
    }


#: What a Slack text input holds (`max_length` may not exceed it).
INPUT_LIMIT = 3000
_RISK_OPTIONS = [("low", ":large_green_circle: Low"), ("medium", ":large_yellow_circle: Medium"),
                 ("high", ":red_circle: High")]
NOT_ASSESSED = "none"


def plan_inputs(plan: ReleasePlan, require: Iterable[str] = (), model_name: str = "",
                long: Iterable[str] = (), clearable: bool = False) -> list[bk.Block]:
    """The release plan's inputs, for the planning form and the edit form (DESIGN.md §5a).

    A part the release model requires is a required input, so Slack does not label it
    "(optional)" and asks for it before sending; the submission's ack still refuses it field
    by field (a client that skips the check, a model edited meanwhile). `long` are fields whose
    text is longer than a Slack input holds: left empty, they keep it, so they stay optional.
    """
    wanted, long = set(require), set(long)

    def optional(name: str) -> bool:
        required = name in wanted or (name == "impact" and "risk" in wanted)  # the risk comes with its impact
        return not required or name in long

    def hint(name: str, text: str) -> str:
        if name in long:
            size = len(plan.value(name))
            return (f"The current text is {size:,} characters, more than this form holds: leave this empty to "
                    "keep it (Read the plan shows it), or type here to replace it.")
        needed = f" Required by the release model {model_name}." if name in wanted and model_name else ""
        return text + needed

    def initial(name: str) -> str:
        return "" if name in long else plan.value(name)

    options = [_option(value, text) for value, text in _RISK_OPTIONS]
    if clearable and "risk" not in wanted:
        options.append(_option(NOT_ASSESSED, "Not assessed"))
    risk_select: bk.Block = {"type": "static_select", "options": options,
                             "placeholder": bk.plain("How likely and how bad is a failure?", 150)}
    if plan.risk is not None:
        risk_select["initial_option"] = next(o for o in options if o["value"] == plan.risk.value)
    elif clearable and "risk" not in wanted:
        risk_select["initial_option"] = options[-1]
    return [
        _input(ids.FIELD_RISK, "Risk", risk_select, optional=optional("risk"),
               hint=hint("risk", "Low, medium or high: what the approvers weigh, with the impact below.")),
        _input(ids.FIELD_IMPACT, "Impact", _text("e.g. Checkout unavailable for up to 10 minutes",
                                                 initial=initial("impact"), max_length=IMPACT_LIMIT),
               optional=optional("impact"), hint=hint("impact", "One line: who or what is hit if it goes wrong.")),
        _input(ids.FIELD_ROLLBACK_PLAN, "Rollback plan",
               _text("How to back out: the steps, who does them, how long it takes", multiline=True,
                     initial=initial("rollback_plan"), max_length=INPUT_LIMIT),
               optional=optional("rollback_plan"),
               hint=hint("rollback_plan", "Shown to the approvers before they decide.")),
        _input(ids.FIELD_RELEASE_NOTES, "Release notes",
               _text("What changes for users, in Markdown, or a link to the notes", multiline=True,
                     initial=initial("release_notes"), max_length=INPUT_LIMIT),
               optional=optional("release_notes"),
               hint=hint("release_notes", "The announcements carry them to the audience.")),
    ]


def edit_plan_modal(release: ReleaseRecord, require: Iterable[str] = (), model_name: str = "") -> bk.Block:
    """Edit a release's plan: the current one prefilled. Texts longer than an input holds
    are not prefilled (they would be cut); left empty, they are kept."""
    long = [name for name in ("impact", "rollback_plan", "release_notes")
            if len(release.plan.value(name)) > (IMPACT_LIMIT if name == "impact" else INPUT_LIMIT)]
    blocks = [
        bk.section(f"*{bk.escape(bk.truncate(release.title, 200))}* ({release.ref}) is {release.state.label}. "
                   "The approvers see the plan on the approval request; an edit after their approval is "
                   "shown there, and they are told."),
        *plan_inputs(release.plan, require, model_name, long, clearable=True),
    ]
    return {
        "type": "modal", "callback_id": ids.PLAN_EDIT_VIEW,
        "title": bk.plain(f"Plan of {release.ref}", bk.MODAL_TITLE),
        "submit": bk.plain("Save plan", 24), "close": bk.plain("Cancel", 24),
        "private_metadata": json.dumps({"release_id": release.id, "channel_id": release.channel_id,
                                        "long": long, "require": sorted(set(require)),
                                        "model_name": model_name[:150]}),
        "blocks": blocks,
    }


_FOLLOWED = [("followed", "Yes, as written"), ("partly", "Partly"), ("not_followed", "No, we did something else")]


def followed_options() -> list[tuple[str, str]]:
    """(value, label) of "was the rollback plan followed?", for the form and the buttons."""
    return list(_FOLLOWED)


def rollback_modal(release: ReleaseRecord, channel_id: str) -> bk.Block:
    """The rollback form: why, and (when the release has one) whether its rollback plan was followed."""
    blocks: list[bk.Block] = [
        bk.section(f"*{bk.escape(bk.truncate(release.title, 200))}* ({release.ref}) is {release.state.label}. "
                   "Rolling it back is recorded with your reason, and announced."),
        _input(ids.FIELD_REASON, "Why roll back?", _text("e.g. refunds time out; restored 2.2", multiline=True,
                                                       max_length=2000)),
    ]
    if release.plan.rollback_plan:
        blocks.append({
            "type": "input", "block_id": ids.FIELD_PLAN_FOLLOWED,
            "label": bk.plain("Did you follow the rollback plan?", 2000),
            "element": {"type": "radio_buttons", "action_id": ids.FIELD_PLAN_FOLLOWED,
                        "options": [_option(v, t) for v, t in _FOLLOWED]},
            "hint": bk.plain("The release review says so; it tells whether the plans are worth writing.", 2000),
        })
    else:
        blocks.append(bk.context(f"{release.ref} has no rollback plan; the record will say so."))
    return {
        "type": "modal", "callback_id": ids.ROLLBACK_VIEW,
        "title": bk.plain(f"Roll back {release.ref}", bk.MODAL_TITLE),
        "submit": bk.plain("Roll back", 24), "close": bk.plain("Cancel", 24),
        "private_metadata": json.dumps({"release_id": release.id, "channel_id": channel_id}),
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
