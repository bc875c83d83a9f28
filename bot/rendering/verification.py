"""What people see of verification: the checklist modal, the progress on the release card,
and every outcome in the release record.

The checklist is paginated (`PAGE_SIZE` criteria a page, four blocks each) so that a release
model with any number of criteria fits Slack's 100 blocks per modal. Submitting a page records
it and shows the next page in the same modal (`response_action: update`), which must be built
in the ack, without the database: so the modal carries what it shows in its private_metadata
(the release, the model, the page, and the latest outcome per criterion as one short mark).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bot import actions as ids
from bot.catalog import ReleaseModel
from bot.checklist import Checklist, Entry, Item, Phase, items, phase_for
from bot.lifecycle import Stage, State
from bot.records import ReleaseRecord, VerificationRecord
from bot.rendering import blocks as bk

PAGE_SIZE = 10
#: private_metadata may hold 3000 characters; the marks drop who and when before exceeding it.
METADATA_LIMIT = 2900
CRITERION, OUTCOME, NOTE, EVIDENCE = "c", "o", "n", "e"
PASS, FAIL = "pass", "fail"
STAGE_LABEL = {Stage.COMPONENTS: "Components", Stage.PROCEDURES: "Procedures", Stage.RELEASE: "Release"}
_LINKABLE = re.compile(r"https?://[^\s<>|]+", re.IGNORECASE)


def field_id(index: int, part: str) -> str:
    """The block (and action) id of one input of the criterion at `index` of the checklist."""
    return f"v{index}:{part}"


@dataclass(frozen=True)
class Mark:
    """The latest outcome of a criterion as the modal shows it (None: not verified yet)."""

    passed: bool | None
    by: str | None = None
    at: int | None = None

    @classmethod
    def of(cls, record: VerificationRecord | None) -> Mark:
        if record is None:
            return cls(None)
        return cls(record.passed, record.by, int(record.at.timestamp()))

    def encode(self, detailed: bool = True) -> str:
        letter = "-" if self.passed is None else "P" if self.passed else "F"
        return f"{letter}:{self.by}:{self.at}" if detailed and self.by and self.at else letter

    @classmethod
    def decode(cls, text: str) -> Mark:
        letter, _, rest = text.partition(":")
        by, _, at = rest.partition(":")
        passed = None if letter == "-" else letter == "P"
        return cls(passed, by or None, int(at) if at.isdigit() else None)

    def describe(self) -> str:
        if self.passed is None:
            return "_not verified yet_"
        outcome = ":white_check_mark: passed" if self.passed else ":x: failed"
        who = f" by {bk.user(self.by)}" if self.by else ""
        when = f" {bk.slack_date(datetime.fromtimestamp(self.at, UTC))}" if self.at else ""
        return f"last {outcome}{who}{when}"


@dataclass(frozen=True)
class ChecklistModal:
    """One page of a release's checklist, and everything needed to render the next."""

    release_id: int
    title: str
    model_key: str
    phase: Phase
    marks: tuple[Mark, ...]
    channel: str
    page: int = 0
    #: The release model version the release keeps: the page lists its criteria.
    model_version: str | None = None

    @property
    def ref(self) -> str:
        return f"REL-{self.release_id}"

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.marks) // PAGE_SIZE))

    @property
    def indices(self) -> range:
        return range(self.page * PAGE_SIZE, min(len(self.marks), (self.page + 1) * PAGE_SIZE))

    @classmethod
    def opening(cls, release: ReleaseRecord, checklist: Checklist, channel: str) -> ChecklistModal:
        marks = tuple(Mark.of(checklist.latest.get(item.criterion)) for item in checklist.items)
        return cls(release.id, release.title[:80], release.model_key, checklist.phase, marks, channel,
                   model_version=release.model_version)

    def after(self, recorded: Mapping[int, Entry], user: str, now: datetime) -> ChecklistModal | None:
        """The next page, showing what this page just recorded; None after the last page."""
        if self.page + 1 >= self.pages:
            return None
        at = int(now.timestamp())
        marks = tuple(Mark(recorded[i].passed, user, at) if i in recorded else mark
                      for i, mark in enumerate(self.marks))
        return replace(self, marks=marks, page=self.page + 1)

    def metadata(self) -> str:
        data = {"r": self.release_id, "t": self.title, "m": self.model_key, "v": self.model_version,
                "ph": self.phase.value,
                "p": self.page, "c": self.channel, "k": [m.encode() for m in self.marks]}
        text = json.dumps(data, separators=(",", ":"))
        if len(text) > METADATA_LIMIT:
            data["k"] = "".join(m.encode(detailed=False) for m in self.marks)
            text = json.dumps(data, separators=(",", ":"))
        return text

    @classmethod
    def from_metadata(cls, text: str) -> ChecklistModal:
        """Raises ValueError (or KeyError) on metadata this module did not write."""
        data = json.loads(text)
        raw = data["k"]
        marks = tuple(Mark.decode(m) for m in (raw if isinstance(raw, list) else list(raw)))
        version = data.get("v")
        return cls(int(data["r"]), str(data["t"]), str(data["m"]), Phase(data["ph"]), marks,
                   str(data["c"]), int(data["p"]), str(version) if version else None)


def checklist_view(modal: ChecklistModal, model: ReleaseModel) -> bk.Block:
    """The modal for `modal.page`: per criterion its stage, its latest outcome, and inputs for
    pass or fail, a note and an evidence link; all optional, so a verifier records what they
    checked and leaves the rest to others."""
    listed = items(model, modal.phase)
    last_page = modal.page + 1 >= modal.pages
    passed = sum(1 for m in modal.marks if m.passed is True)
    failed = sum(1 for m in modal.marks if m.passed is False)
    intro = (f"*{modal.ref} · {bk.escape(modal.title)}*: {modal.phase.label} of the "
             f"*{bk.escape(model.name)}* release model. {passed} of {len(modal.marks)} passed"
             + (f", {failed} failed" if failed else "") + ".\n"
             "Record *Pass* or *Fail* for what you verified; leave the rest for later.")
    blocks: list[bk.Block] = [bk.section(intro)]
    if modal.phase is Phase.RELEASE and not model.criteria(Stage.RELEASE):
        blocks.append(bk.context("This release model lists no release verification criteria: "
                                 "say whether the release completed as planned."))
    for index in modal.indices:
        item = listed[index] if index < len(listed) else Item(Stage.RELEASE, "?")
        mark = modal.marks[index]
        blocks.append(bk.section(f"*{STAGE_LABEL[item.stage]}* · {bk.escape(item.criterion)}\n{mark.describe()}",
                                 block_id=field_id(index, CRITERION)))
        if item.criterion in model.verification.by_pipeline:
            # Read-only: the release model leaves this criterion to the pipeline's results.
            blocks.append(bk.context(":robot_face: Recorded by the pipeline only (through the pipeline API)."))
            continue
        blocks.append(_input(field_id(index, OUTCOME), "Outcome", {
            "type": "radio_buttons",
            "options": [{"text": bk.plain("Pass", 75), "value": PASS}, {"text": bk.plain("Fail", 75), "value": FAIL}],
        }))
        blocks.append(_input(field_id(index, NOTE), "Note", _text_input("What you saw (optional)", 1000)))
        blocks.append(_input(field_id(index, EVIDENCE), "Evidence link",
                             _text_input("https://… (a CI run, a dashboard, a ticket)", 2000)))
    if modal.pages > 1:
        more = "Submitting records this page and shows the next." if not last_page else "This is the last page."
        blocks.append(bk.context(f"Page {modal.page + 1} of {modal.pages} · {more}"))
    pages = f" {modal.page + 1}/{modal.pages}" if modal.pages > 1 else ""
    return {
        "type": "modal", "callback_id": ids.VERIFY_VIEW,
        "title": bk.plain(f"Verify {modal.ref}{pages}", bk.MODAL_TITLE),
        "submit": bk.plain("Record" if last_page else "Record & next", 24),
        "close": bk.plain("Close", 24),
        "private_metadata": modal.metadata(),
        "blocks": bk.cap(blocks, bk.SURFACE_BLOCKS),
    }


def _input(block_id: str, label: str, element: bk.Block) -> bk.Block:
    return {"type": "input", "block_id": block_id, "label": bk.plain(label, 2000), "optional": True,
            "element": {**element, "action_id": block_id}}


def _text_input(placeholder: str, max_length: int) -> bk.Block:
    return {"type": "plain_text_input", "max_length": max_length, "placeholder": bk.plain(placeholder, 150)}


def notice_view(release_id: int, text: str) -> bk.Block:
    """Takes the place of a checklist that could not be opened (shown only when the answer
    came too late to open the checklist itself; see handlers/slack/verification.py)."""
    return {"type": "modal", "title": bk.plain(f"Verify REL-{release_id}", bk.MODAL_TITLE),
            "close": bk.plain("Close", 24), "blocks": [bk.section(text)]}


def loading_view(release_id: int) -> bk.Block:
    return notice_view(release_id, f":hourglass_flowing_sand: Looking up REL-{release_id}…")


# -- the release card and the release record -----------------------------------------------

def evidence(url: str) -> str:
    """An evidence link, linked only when it is an http(s) URL; anything else is inert text."""
    if len(url) <= 1000 and _LINKABLE.fullmatch(url):
        return f"<{url.replace('&', '&amp;')}|evidence>"
    return f"evidence: {bk.escape(bk.truncate(url, 300))}"


def _progress(checklist: Checklist, model: ReleaseModel) -> str:
    label = checklist.phase.label.capitalize()
    if not checklist.items:
        return f"*{label}*: none in the *{bk.escape(model.name)}* release model, so there is nothing to pass."
    total = len(checklist.items)
    passed = len(checklist.passed())
    text = f"*{label}*: all {total} passed" if passed == total else f"*{label}*: {passed} of {total} passed"
    failed = [_failure(checklist.latest[i.criterion]) for i in checklist.failed()]
    if failed:
        text += "; failed: " + "; ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
    if checklist.implicit:
        text += " _(no release criteria in the model: the owner says whether it completed as planned)_"
    return text


def _failure(record: VerificationRecord) -> str:
    note = f": {bk.escape(bk.truncate(record.note, 200))}" if record.note else ""
    return f"*{bk.escape(record.criterion)}* ({bk.user(record.by)}{note})"


def progress_lines(release: ReleaseRecord, model: ReleaseModel | None,
                   records: Sequence[VerificationRecord]) -> list[str]:
    """Where verification stands, for the card: from approval on, and after execution both
    checklists (how it got to execute, and how execution went)."""
    if model is None or release.state in (State.PLANNED, State.AWAITING_APPROVAL, State.REJECTED,
                                          State.CANCELLED):
        return []
    lines = [_progress(Checklist.of(model, Phase.PRE_EXECUTION, records), model)]
    if phase_for(release.state) is Phase.RELEASE:
        lines.append(_progress(Checklist.of(model, Phase.RELEASE, records), model))
    return lines


def outcome_lines(records: Sequence[VerificationRecord]) -> list[str]:
    """Every recorded outcome, oldest first, with who and when: the verification history."""
    lines = []
    for record in records:
        outcome = ":white_check_mark: passed" if record.passed else ":x: failed"
        line = (f"{bk.slack_date(record.at)} · *{STAGE_LABEL[record.stage]}* · {bk.escape(record.criterion)}: "
                f"{outcome} by {bk.user(record.by)}")
        if record.note:
            line += f" — {bk.escape(bk.truncate(record.note, 500))}"
        if record.evidence_url:
            line += f" · {evidence(record.evidence_url)}"
        lines.append(line)
    return lines
