"""The release record as the application sees it: plain values read from storage rows.

Handlers and messages work with these, never with ORM rows, so nothing outside the
service layer can lazily load or accidentally write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.lifecycle import EventKind, Release, Stage, State
from bot.release_plan import ReleasePlan
from storage.tables import ApprovalRow, IncidentRow, OutboxRow, ReleaseEventRow, ReleaseRow, VerificationRow

_REF = re.compile(r"^(?:rel-?)?(\d{1,12})$", re.IGNORECASE)


def parse_ref(text: str) -> int | None:
    """`REL-7`, `rel-7` or `7` → 7; anything else → None."""
    match = _REF.match(text.strip())
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class ReleaseRecord:
    id: int
    model_key: str
    title: str
    description: str
    state: State
    owner: str
    channel_id: str
    planned_start: datetime
    planned_end: datetime
    components: tuple[str, ...]
    change_ref: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    #: The release plan (DESIGN.md §5a): what the approvers decide on beside the window.
    plan: ReleasePlan = ReleasePlan()
    #: The release model version it was planned with (None: planned before versions were kept).
    model_version: str | None = None

    @property
    def ref(self) -> str:
        return f"REL-{self.id}"

    @property
    def model_ref(self) -> str:
        """`standard@1a2b3c4d`: the release model as this release keeps it."""
        return f"{self.model_key}@{self.model_version}" if self.model_version else self.model_key

    @property
    def snapshot(self) -> Release:
        return Release(self.id, self.model_key, self.title, self.state, self.owner,
                       self.planned_start, self.planned_end)

    @classmethod
    def from_row(cls, row: ReleaseRow) -> ReleaseRecord:
        return cls(
            id=row.id, model_key=row.model_key, title=row.title, description=row.description or "",
            state=State(row.state), owner=row.owner, channel_id=row.channel_id,
            planned_start=row.planned_start, planned_end=row.planned_end,
            components=tuple(row.components or ()), change_ref=row.change_ref, version=row.version,
            created_at=row.created_at, updated_at=row.updated_at, model_version=row.model_version,
            plan=ReleasePlan.of(row.release_notes, row.risk, row.impact, row.rollback_plan),
        )


@dataclass(frozen=True)
class EventRecord:
    kind: EventKind | str
    actor: str | None
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: ReleaseEventRow) -> EventRecord:
        try:
            kind: EventKind | str = EventKind(row.kind)
        except ValueError:
            kind = row.kind
        return cls(kind=kind, actor=row.actor, at=row.at, data=dict(row.data or {}))


@dataclass(frozen=True)
class ApprovalRecord:
    """One approver's decision: approve, or reject with a reason."""

    approver: str
    decision: str
    reason: str | None
    at: datetime

    @property
    def approved(self) -> bool:
        return self.decision == "approve"

    @classmethod
    def from_row(cls, row: ApprovalRow) -> ApprovalRecord:
        return cls(row.approver, row.decision, row.reason, row.at)


@dataclass(frozen=True)
class VerificationRecord:
    """One recorded outcome of a verification criterion: who said pass or fail, when, and why."""

    stage: Stage
    criterion: str
    passed: bool
    note: str | None
    evidence_url: str | None
    by: str
    at: datetime

    @classmethod
    def from_row(cls, row: VerificationRow) -> VerificationRecord:
        return cls(Stage(row.stage), row.criterion, row.outcome == "pass", row.note, row.evidence_url,
                   row.verified_by, row.verified_at)


@dataclass(frozen=True)
class DeliveryRecord:
    """A message of the release's outbox, as shown on the release record."""

    dedupe_key: str
    channel: str
    state: str
    attempts: int
    last_error: str | None
    due_at: datetime
    sent_at: datetime | None
    #: The communication plan's template it was rendered from (None for the bot's own messages).
    template: str | None = None

    @classmethod
    def from_row(cls, row: OutboxRow) -> DeliveryRecord:
        return cls(row.dedupe_key, row.channel, row.state, row.attempts, row.last_error, row.due_at, row.sent_at,
                   row.template if row.purpose else None)


@dataclass(frozen=True)
class ReleaseDetails:
    """Everything `/release show` presents."""

    release: ReleaseRecord
    events: list[EventRecord]
    deliveries: list[DeliveryRecord]
    approvals: list[ApprovalRecord] = field(default_factory=list)
    verifications: list[VerificationRecord] = field(default_factory=list)
    #: Incidents related to the release (DESIGN.md §9), oldest first.
    incidents: list[IncidentRecord] = field(default_factory=list)
    #: The end of its early life support, when its release model has one and it was released.
    support_until: datetime | None = None
    #: Whether it is in early life support now (released, before `support_until`).
    in_support: bool = False


@dataclass(frozen=True)
class IncidentRecord:
    """An incident related to a release: its reference, who linked it and when, and whether
    that was during the release's early life support."""

    ref: str
    summary: str | None
    url: str | None
    linked_by: str
    linked_at: datetime
    during_support: bool = False

    @classmethod
    def from_row(cls, row: IncidentRow) -> IncidentRecord:
        return cls(row.ref, row.summary, row.url, row.linked_by, row.linked_at, bool(row.during_support))
