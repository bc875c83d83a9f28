"""The unit of work: one transaction per use case, committing state, events and outbox rows
together, so a message is never sent for a fact that was not stored, nor lost for one that was.
Nothing is kept unless the use case calls `commit()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import changes, db
from storage.api import ApiRequestRepository, PipelineQueries, TokenRepository
from storage.facts import FactsRepository
from storage.freezes import FreezeRepository
from storage.home import HomeQueries
from storage.incidents import IncidentRepository
from storage.metrics import MetricsQueries
from storage.model_review import ModelReviewQueries
from storage.model_versions import ModelVersionRepository
from storage.outbox import OutboxRepository
from storage.repositories import (
    ApprovalRepository,
    EventRepository,
    ReleaseRepository,
    VerificationRepository,
)
from storage.surveys import SurveyRepository


class UnitOfWork:
    session: AsyncSession
    metrics: MetricsQueries
    home: HomeQueries
    releases: ReleaseRepository
    events: EventRepository
    outbox: OutboxRepository
    approvals: ApprovalRepository
    surveys: SurveyRepository
    verifications: VerificationRepository
    model_versions: ModelVersionRepository
    freezes: FreezeRepository
    tokens: TokenRepository
    api_requests: ApiRequestRepository
    pipeline: PipelineQueries
    facts: FactsRepository
    incidents: IncidentRepository
    model_review: ModelReviewQueries

    def __init__(self, sessions: async_sessionmaker[Any], on_commit: Callable[[changes.Committed], None] | None = None,
                 read_only: bool = False):
        self._sessions = sessions
        self._on_commit = on_commit
        self._read_only = read_only
        self._committed = False
        self._turn: asyncio.Lock | None = None

    async def __aenter__(self) -> UnitOfWork:
        if not self._read_only:
            engine = self._sessions.kw.get("bind")
            self._turn = db.writers(engine) if isinstance(engine, AsyncEngine) else None
            if self._turn is not None:
                try:
                    await asyncio.wait_for(self._turn.acquire(), db.SQLITE_BUSY_SECONDS)
                except TimeoutError:
                    raise TimeoutError(f"no turn to write to SQLite in {db.SQLITE_BUSY_SECONDS} s") from None
        try:
            self.session = self._sessions()
            await self.session.begin()
        except BaseException:
            self._release()
            raise
        if self._read_only:
            # Reports that only read (metrics) take no write lock on SQLite; they must not write.
            # Their statements read one snapshot, as SQLite's do: under PostgreSQL's READ
            # COMMITTED each statement saw the latest commit, so the gate read a release as
            # awaiting approval and its approvals as already given, an answer that was never
            # true (and a pipeline that asked again was held for its whole wait).
            options: dict[str, object] = {db.READ_ONLY: True}
            if self.session.get_bind().dialect.name == "postgresql":
                options["isolation_level"] = "REPEATABLE READ"
            await self.session.connection(execution_options=options)
        self.metrics = MetricsQueries(self.session)
        self.home = HomeQueries(self.session)
        self.releases = ReleaseRepository(self.session)
        self.events = EventRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.approvals = ApprovalRepository(self.session)
        self.surveys = SurveyRepository(self.session)
        self.verifications = VerificationRepository(self.session)
        self.model_versions = ModelVersionRepository(self.session)
        self.freezes = FreezeRepository(self.session)
        self.tokens = TokenRepository(self.session)
        self.api_requests = ApiRequestRepository(self.session)
        self.pipeline = PipelineQueries(self.session)
        self.facts = FactsRepository(self.session)
        self.incidents = IncidentRepository(self.session)
        self.model_review = ModelReviewQueries(self.session)
        return self

    async def commit(self) -> None:
        """Make the use case's changes one fact: state, events and outbox rows together,
        and the key metrics' facts of the releases they touched (storage/facts.py); and, when
        this serves a pipeline's POST, its Idempotency-Key (storage/api.py `PENDING`)."""
        claim = None if self._read_only else await self.api_requests.claim_pending()
        await self.facts.refresh()
        done = changes.taken(self.session, self.outbox.enqueued)
        await self.session.commit()
        self._committed = True
        if claim is not None:
            claim.claimed = True
        if done.anything and self._on_commit:
            self._on_commit(done)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Whatever was not committed is rolled back: a refusal, an exception or a forgotten
        commit never leaves half a fact behind."""
        # Closing an uncommitted session rolls its transaction back; unlike `rollback()`, it
        # leaves what was read loaded, so a read-only use case can map rows after the block.
        try:
            await self.session.close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._turn is not None:
            self._turn.release()
            self._turn = None


class UnitOfWorkFactory:
    """Makes units of work; `on_commit` hears what each commit changed (storage/changes.py):
    the outbox dispatcher wakes for queued messages, a held gate request for its release."""

    def __init__(self, sessions: async_sessionmaker[Any]):
        self.sessions = sessions
        self.on_commit: Callable[[changes.Committed], None] | None = None

    def __call__(self, read_only: bool = False) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.on_commit, read_only)
