"""Release records written straight into the tables, with the dates a test chooses.

Metrics are about history (a release created forty days ago, started late, rolled back),
which no test can wait for; these helpers write the rows the use cases would have written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from storage.tables import ApprovalRow, ReleaseEventRow, ReleaseRow, SurveyAnswerRow, SurveyInvitationRow
from storage.uow import UnitOfWork


async def add_release(
    uow: UnitOfWork, *, id: int, model: str, state: str, owner: str, created: datetime,
    window: tuple[datetime, datetime] | None = None, events: Sequence[tuple[str, datetime]] = (),
    title: str | None = None, components: Sequence[str] = (),
) -> None:
    """A release and its events (`planned` at creation is added); the window defaults to a
    day after creation, for an hour."""
    start, end = window or (created + timedelta(days=1), created + timedelta(days=1, hours=1))
    await uow.session.execute(insert(ReleaseRow), [{
        "id": id, "model_key": model, "title": title or f"Release {id}", "description": "", "state": state,
        "owner": owner, "channel_id": "C0RELEASES", "planned_start": start, "planned_end": end,
        "components": list(components), "change_ref": None, "origin_key": None, "version": 1,
        "created_at": created, "updated_at": created,
    }])
    rows: list[dict[str, Any]] = [{"release_id": id, "kind": "planned", "actor": owner, "at": created, "data": {}}]
    rows += [{"release_id": id, "kind": kind, "actor": owner, "at": at, "data": {}} for kind, at in events]
    await uow.session.execute(insert(ReleaseEventRow), rows)
    await uow.facts.mark(id)  # the key metrics' facts, as the repositories keep them


async def add_survey(uow: UnitOfWork, release_id: int, at: datetime, invited: Sequence[str],
                     answers: Sequence[tuple[str, str, int | None, str | None]] = ()) -> None:
    """Invitations, and answers as (respondent, question key, rating, text)."""
    await uow.facts.mark(release_id)
    if invited:
        await uow.session.execute(insert(SurveyInvitationRow), [
            {"release_id": release_id, "recipient": who, "invited_at": at} for who in invited])
    if answers:
        await uow.session.execute(insert(SurveyAnswerRow), [
            {"release_id": release_id, "respondent": who, "question_key": key, "rating": rating, "text": text,
             "answered_at": at, "changed_at": at} for who, key, rating, text in answers])


async def add_approval(uow: UnitOfWork, release_id: int, approver: str, at: datetime) -> None:
    await uow.session.execute(insert(ApprovalRow), [
        {"release_id": release_id, "approver": approver, "decision": "approve", "reason": None, "at": at}])
