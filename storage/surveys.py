"""Queries for post-release surveys: opening once, invitations, answers that may change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.facts import FactsRepository
from storage.repositories import aware_utc, dialect_insert, insert_ignoring_conflicts
from storage.tables import ReleaseEventRow, ReleaseRow, SurveyAnswerRow, SurveyInvitationRow, SurveyRow

#: `due_to_open`'s default: releases of every version of the model.
ANY_VERSION = "*"


class SurveyRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def open(self, release_id: int, opened_at: datetime, closes_at: datetime, anonymous: bool) -> bool:
        """Open the release's survey; False if it was opened before (one survey per release)."""
        values = {"release_id": release_id, "opened_at": opened_at, "closes_at": closes_at, "anonymous": anonymous}
        stmt = insert_ignoring_conflicts(self.session, SurveyRow, values, ["release_id"])
        result = await self.session.execute(stmt.returning(SurveyRow.release_id))
        return result.scalar_one_or_none() is not None

    async def get(self, release_id: int) -> SurveyRow | None:
        return await self.session.get(SurveyRow, release_id, populate_existing=True)

    async def invite(self, release_id: int, recipient: str, at: datetime) -> bool:
        await FactsRepository(self.session).mark(release_id)
        values = {"release_id": release_id, "recipient": recipient, "invited_at": at}
        stmt = insert_ignoring_conflicts(self.session, SurveyInvitationRow, values, ["release_id", "recipient"])
        result = await self.session.execute(stmt.returning(SurveyInvitationRow.id))
        return result.scalar_one_or_none() is not None

    async def invited(self, release_id: int, recipient: str) -> bool:
        stmt = select(exists().where(SurveyInvitationRow.release_id == release_id,
                                     SurveyInvitationRow.recipient == recipient))
        return bool((await self.session.execute(stmt)).scalar())

    async def invitations(self, release_id: int) -> list[SurveyInvitationRow]:
        result = await self.session.execute(
            select(SurveyInvitationRow).where(SurveyInvitationRow.release_id == release_id)
            .order_by(SurveyInvitationRow.id))
        return list(result.scalars())

    async def answer(self, release_id: int, respondent: str, question_key: str, at: datetime, *,
                     rating: int | None = None, text: str | None = None) -> None:
        """Record or replace one answer: the unique key keeps one per person and question."""
        await FactsRepository(self.session).mark(release_id)
        values = {"release_id": release_id, "respondent": respondent, "question_key": question_key,
                  "rating": rating, "text": text, "answered_at": at, "changed_at": at}
        stmt = dialect_insert(self.session, SurveyAnswerRow).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["release_id", "respondent", "question_key"],
            set_={"rating": stmt.excluded.rating, "text": stmt.excluded.text, "changed_at": stmt.excluded.changed_at},
        )
        await self.session.execute(stmt)

    async def answers(self, release_id: int) -> list[SurveyAnswerRow]:
        result = await self.session.execute(
            select(SurveyAnswerRow).where(SurveyAnswerRow.release_id == release_id).order_by(SurveyAnswerRow.id))
        return list(result.scalars())

    async def unanswered(self, release_id: int) -> list[str]:
        """Recipients who have not answered anything yet: the ones a reminder is for."""
        answered = exists().where(SurveyAnswerRow.release_id == release_id,
                                  SurveyAnswerRow.respondent == SurveyInvitationRow.recipient)
        result = await self.session.execute(
            select(SurveyInvitationRow.recipient)
            .where(SurveyInvitationRow.release_id == release_id, ~answered).order_by(SurveyInvitationRow.id))
        return list(result.scalars())

    async def due_to_open(self, model_key: str, released_before: datetime, released_after: datetime,
                          limit: int = 50, version: str | None = ANY_VERSION) -> list[int]:
        """Releases of a model (of one version of it, or None: of none) released between the
        given times whose survey was never opened."""
        released = select(ReleaseEventRow.release_id).where(
            ReleaseEventRow.kind == "released", ReleaseEventRow.at <= released_before,
            ReleaseEventRow.at > released_after)
        opened = exists().where(SurveyRow.release_id == ReleaseRow.id)
        result = await self.session.execute(
            select(ReleaseRow.id)
            .where(ReleaseRow.model_key == model_key, ReleaseRow.id.in_(released), ~opened,
                   *([] if version == ANY_VERSION else [ReleaseRow.model_version.is_(None) if version is None
                                                        else ReleaseRow.model_version == version]))
            .order_by(ReleaseRow.id).limit(limit))
        return list(result.scalars())

    async def first_released_after(self, model_key: str, released_after: datetime,
                                   version: str | None = ANY_VERSION) -> datetime | None:
        """The earliest release of the model (of one version of it) after the given time whose
        survey was never opened: when the next survey comes due, less the model's delay."""
        opened = exists().where(SurveyRow.release_id == ReleaseRow.id)
        result = await self.session.execute(
            select(func.min(ReleaseEventRow.at))
            .join(ReleaseRow, ReleaseRow.id == ReleaseEventRow.release_id)
            .where(ReleaseEventRow.kind == "released", ReleaseEventRow.at > released_after,
                   ReleaseRow.model_key == model_key, ~opened,
                   *([] if version == ANY_VERSION else [ReleaseRow.model_version.is_(None) if version is None
                                                        else ReleaseRow.model_version == version])))
        value = result.scalar_one_or_none()
        return None if value is None else aware_utc(value)

    async def open_between(self, now: datetime) -> Sequence[SurveyRow]:
        """Surveys still open now."""
        result = await self.session.execute(select(SurveyRow).where(and_(SurveyRow.closes_at > now)))
        return list(result.scalars())
