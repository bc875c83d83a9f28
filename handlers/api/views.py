"""The application's values as the API's JSON (handlers/api/schemas.py), and outcomes as
statuses: a refusal is 409 with the sentence a Slack user gets, `no_such_release` 404,
`forbidden` 403, field errors 422."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from bot.freezes import Freeze
from bot.outcome import Outcome, Refusal
from bot.pipeline import EventEntry
from bot.records import EventRecord, ReleaseDetails, ReleaseRecord
from handlers.api import schemas

STATUS_OF = {"no_such_release": 404, "forbidden": 403}


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] | None = None


def ok(model: BaseModel, status: int = 200) -> Reply:
    return Reply(status, model.model_dump(mode="json"))


def error(status: int, code: str, message: str, fields: dict[str, str] | None = None,
          headers: dict[str, str] | None = None) -> Reply:
    body: dict[str, Any] = {"error": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return Reply(status, body, headers)


def refused(refusal: Refusal) -> Reply:
    return error(STATUS_OF.get(refusal.code, 409), refusal.code, refusal.message)


def invalid(fields: dict[str, str]) -> Reply:
    first = next(iter(fields.values()), "The request is not valid.")
    return error(422, "invalid", first if len(fields) == 1 else f"{len(fields)} fields are not valid: {first}",
                 dict(fields))


def not_ok(outcome: Outcome[Any]) -> Reply:
    if outcome.refusal is not None:
        return refused(outcome.refusal)
    return invalid(dict(outcome.errors))


def release(record: ReleaseRecord) -> schemas.Release:
    plan = record.plan
    return schemas.Release(
        id=record.ref, state=record.state.value,
        model=schemas.ModelRef(key=record.model_key, version=record.model_version),
        title=record.title, owner=record.owner, planned_start=record.planned_start,
        planned_end=record.planned_end, components=list(record.components), change_ref=record.change_ref,
        description=record.description, channel=record.channel_id, release_notes=plan.release_notes,
        risk=plan.risk.value if plan.risk else None, impact=plan.impact, rollback_plan=plan.rollback_plan,
        created_at=record.created_at, updated_at=record.updated_at,
    )


def event(record: EventRecord) -> schemas.EventOut:
    return schemas.EventOut(kind=str(record.kind), actor=record.actor, at=record.at, data=record.data)


def details(found: ReleaseDetails, incidents: list[schemas.Incident]) -> schemas.ReleaseRecord:
    return schemas.ReleaseRecord(
        **release(found.release).model_dump(),
        approvals=[schemas.Approval(by=a.approver, decision=a.decision, reason=a.reason, at=a.at)
                   for a in found.approvals],
        verifications=[schemas.Verification(stage=v.stage.value, criterion=v.criterion,
                                            outcome="pass" if v.passed else "fail", by=v.by, at=v.at,
                                            evidence=v.evidence_url, note=v.note) for v in found.verifications],
        incidents=incidents,
        events=[event(e) for e in found.events],
    )


def incident(found: Any) -> schemas.Incident:
    """An incident record (bot.records.IncidentRecord: ref, summary, url, linked_by, linked_at)."""
    return schemas.Incident(ref=found.ref, summary=found.summary, url=found.url, by=found.linked_by,
                            at=found.linked_at)


def freeze(found: Freeze) -> schemas.Freeze:
    return schemas.Freeze(id=found.ref, reason=found.reason, start=found.start, end=found.end,
                          models=list(found.models) if found.models is not None else None, recurring=found.recurring)


def audit_event(entry: EventEntry) -> schemas.AuditEvent:
    return schemas.AuditEvent(id=entry.id, release=f"REL-{entry.release_id}", **event(entry.event).model_dump())
