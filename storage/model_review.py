"""Queries behind the release model review (DESIGN.md §9) and early life support: what the
releases of one model and period did, why they failed or were rolled back, what people said.

The period's releases are the metrics' cohort (created in [since, until], one model), picked
through `ix_releases_model_created`; everything else is read for those ids only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, distinct, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import (
    ModelReviewRow,
    ModelVersionRow,
    OutboxFileRow,
    ReleaseEventRow,
    ReleaseRow,
    SurveyAnswerRow,
    SurveyRow,
    VerificationRow,
)

R, E = ReleaseRow, ReleaseEventRow


@dataclass(frozen=True)
class ReleaseOutcome:
    """One release of the period: when it was created, its model version and what came of it
    (`rolled_back`, `failed`, `released`, `rejected`, `cancelled` or `open`)."""

    release_id: int
    created_at: datetime
    model_version: str | None
    outcome: str


@dataclass(frozen=True)
class NotedEvent:
    release_id: int
    kind: str
    actor: str | None
    at: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class Comment:
    release_id: int
    respondent: str | None
    text: str


class ModelReviewQueries:
    def __init__(self, session: AsyncSession):
        self.session = session

    @staticmethod
    def _cohort(model_key: str, since: datetime, until: datetime) -> list[Any]:
        return [R.model_key == model_key, R.created_at >= since, R.created_at <= until]

    async def outcomes(self, model_key: str, since: datetime, until: datetime) -> list[ReleaseOutcome]:
        """Each release of the period with its outcome, by the metrics' precedence."""
        def ever(kind: str) -> Any:
            return func.max(case((E.kind == kind, 1), else_=0))

        rows = (await self.session.execute(
            select(R.id, R.created_at, R.model_version, ever("rolled_back"), ever("failed"), ever("released"),
                   ever("rejected"), ever("cancelled"))
            .outerjoin(E, and_(E.release_id == R.id,
                               E.kind.in_(("rolled_back", "failed", "released", "rejected", "cancelled"))))
            .where(*self._cohort(model_key, since, until))
            .group_by(R.created_at, R.id, R.model_version).order_by(R.created_at, R.id)
        )).all()
        names = ("rolled_back", "failed", "released", "rejected", "cancelled")
        result = []
        for row in rows:
            outcome = next((name for name, flag in zip(names, row[3:], strict=True) if flag), "open")
            result.append(ReleaseOutcome(int(row[0]), row[1], row[2], outcome))
        return result

    async def failed_criteria(self, model_key: str, since: datetime, until: datetime,
                              limit: int = 5) -> list[tuple[str, str, int]]:
        """(stage, criterion, releases in which it failed at least once), most failed first."""
        V = VerificationRow
        releases = func.count(distinct(V.release_id))
        rows = (await self.session.execute(
            select(V.stage, V.criterion, releases).join(R, R.id == V.release_id)
            .where(V.outcome == "fail", *self._cohort(model_key, since, until))
            .group_by(V.stage, V.criterion).order_by(releases.desc(), V.criterion).limit(limit)
        )).all()
        return [(str(s), str(c), int(n)) for s, c, n in rows]

    async def events(self, model_key: str, since: datetime, until: datetime,
                     kinds: tuple[str, ...]) -> list[NotedEvent]:
        rows = (await self.session.execute(
            select(E).join(R, R.id == E.release_id)
            .where(E.kind.in_(kinds), *self._cohort(model_key, since, until)).order_by(E.at, E.id)
        )).scalars()
        return [NotedEvent(e.release_id, e.kind, e.actor, e.at, dict(e.data or {})) for e in rows]

    async def comments(self, model_key: str, since: datetime, until: datetime) -> list[Comment]:
        """Text answers of the period's surveys; the respondent is None for anonymous surveys."""
        A = SurveyAnswerRow
        rows = (await self.session.execute(
            select(A.release_id, A.respondent, A.text, SurveyRow.anonymous)
            .join(R, R.id == A.release_id).outerjoin(SurveyRow, SurveyRow.release_id == A.release_id)
            .where(A.text.is_not(None), A.text != "", *self._cohort(model_key, since, until))
            .order_by(A.answered_at, A.id)
        )).all()
        return [Comment(int(rid), None if anonymous else str(who), str(text)) for rid, who, text, anonymous in rows]

    async def add_review(self, model_key: str, days: int, asked_by: str, channel: str, at: datetime) -> None:
        self.session.add(ModelReviewRow(model_key=model_key, days=days, asked_by=asked_by, channel=channel, at=at))
        await self.session.flush()

    async def last_review(self, model_key: str) -> datetime | None:
        return (await self.session.execute(
            select(func.max(ModelReviewRow.at)).where(ModelReviewRow.model_key == model_key))).scalar_one_or_none()

    async def add_file(self, dedupe_key: str, filename: str, title: str, alt_text: str, content: bytes) -> None:
        self.session.add(OutboxFileRow(dedupe_key=dedupe_key[:255], filename=filename, title=title,
                                       alt_text=alt_text, content=content))
        await self.session.flush()

    async def file(self, dedupe_key: str) -> OutboxFileRow | None:
        return await self.session.get(OutboxFileRow, dedupe_key)

    async def in_support(self, ended_kind: str,
                         versions: Sequence[tuple[str, str | None]]) -> list[tuple[int, datetime]]:
        """Released releases (still released, not closed) of these model versions (None: an
        unversioned release) whose early life support has not been ended yet: (id, first
        released at). The releases of models without support, however many stay released
        unclosed, are never read."""
        of_versions = or_(*(and_(R.model_key == key, R.model_version.is_(None) if version is None
                                 else R.model_version == version) for key, version in versions))
        released_at = (select(func.min(E.at)).where(E.release_id == R.id, E.kind == "released")
                       .correlate(R).scalar_subquery())
        ended = exists().where(E.release_id == R.id, E.kind == ended_kind)
        rows = (await self.session.execute(
            select(R.id, released_at).where(R.state == "released", of_versions, ~ended).order_by(R.id))).all()
        return [(int(i), at) for i, at in rows if at is not None]

    async def released_at(self, release_id: int) -> datetime | None:
        """The release's first `released` event: when its early life support began."""
        return (await self.session.execute(
            select(func.min(E.at)).where(E.release_id == release_id, E.kind == "released"))).scalar_one_or_none()

    async def first_seen(self, model_key: str) -> datetime | None:
        """When the bot first saw the release model (its oldest stored version)."""
        return (await self.session.execute(
            select(func.min(ModelVersionRow.first_seen_at)).where(ModelVersionRow.model_key == model_key)
        )).scalar_one_or_none()
