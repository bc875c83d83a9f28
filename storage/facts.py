"""The key metrics' facts per release (`release_facts`): kept in step with the record.

The metrics of a year would otherwise walk every event of a hundred thousand releases; they
read one narrow row per release instead. The row is *derived*: one SQL statement
(`facts_of`) computes it from the release row, its counted events and its survey, and the
same statement serves both ways of keeping it:

- in step: the repositories mark a release as touched (`mark`) when they change what the
  row is computed from (the release created, its window or risk changed, an event of a
  counted kind appended, a survey invitation or answer written); `UnitOfWork.commit`
  recomputes the marked releases' rows (`refresh`) in the same transaction, so the facts
  are never ahead of or behind the record that committed;
- from the log: `rebuild` recomputes every row (`releasebot metrics rebuild`, and the
  migration that adds the table).

The facts are also summed per day of creation, release model and risk (`metrics_days`),
so that a year is a few hundred rows: a refresh recomputes the day rows of the releases it
refreshed from their facts (a sum recomputed, never incremented, cannot drift).

On PostgreSQL, marking a release takes its row lock (as a transition does), and
recomputing a day row an advisory lock on that day, so two transactions that touch one
release, or one day, refresh one after the other, the second reading what the first
committed; SQLite serialises writers anyway.

Definitions (what an outcome is, what "in the window" means) are those of bot/metrics.py,
computed here once per release instead of once per query.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    Float,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    extract,
    func,
    insert,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import (
    MetricsDayRow,
    ReleaseEventRow,
    ReleaseFactRow,
    ReleaseRow,
    SurveyAnswerRow,
    SurveyInvitationRow,
)

R, E, F, D = ReleaseRow, ReleaseEventRow, ReleaseFactRow, MetricsDayRow
A, Inv = SurveyAnswerRow, SurveyInvitationRow

#: Outcome precedence: a rolled-back release counts as a rollback even if it had been
#: released or had failed first; a failed one as a failure; then released, rejected,
#: cancelled. A release with none of these events is still open.
OUTCOME_ORDER = ("rolled_back", "failed", "released", "rejected", "cancelled")
#: The events the facts are computed from; the others (approvals, messages) change nothing.
COUNTED_KINDS = frozenset({"started", "delayed_by_freeze", *OUTCOME_ORDER})
#: Release columns the facts are computed from: a `touch` changing one of them marks the release.
COUNTED_COLUMNS = frozenset({"model_key", "risk", "created_at", "planned_start", "planned_end"})

#: Where a session keeps the ids of the releases touched in its transaction.
TOUCHED = "releasebot.touched_releases"
#: …and of those it created, which have no facts yet (nothing to lock, read or delete first).
CREATED = "releasebot.created_releases"
#: The advisory lock namespace of metrics_days rows ("rmdx" in ASCII).
DAY_LOCK = 0x726D6478
#: Releases refreshed per statement (well under every database's bound-parameter limit).
CHUNK = 500

FACT_COLUMNS = ("release_id", "model_key", "risk", "created_at", "outcome", "started", "in_window", "start_delay",
                "delayed_by_freeze", "lead_time", "ratings", "rating_sum", "invitations", "respondents")


def seconds_between(later: Any, earlier: Any, dialect: str) -> Any:
    """`later − earlier` in seconds, as SQL for the dialect in use.

    SQLite keeps datetimes as ISO text, which `julianday` reads (days, as a float);
    PostgreSQL subtracts timestamps into an interval whose epoch is its length in seconds.
    """
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return cast(extract("epoch", later - earlier), Float)


def facts_of(dialect: str, release_ids: Iterable[int] | BindParameter[Any] | None = None) -> Select[Any]:
    """The facts rows (FACT_COLUMNS, in order) of the given releases (ids, or an expanding
    parameter that gives them at execution), or of every release."""
    def first(kind: str) -> Any:
        return func.min(case((E.kind == kind, E.at), else_=None))

    def ever(kind: str) -> Any:
        return func.max(case((E.kind == kind, 1), else_=0))

    per = (
        select(
            R.id, R.model_key, R.risk, R.created_at, R.planned_start, R.planned_end,
            first("started").label("started_at"), first("released").label("released_at"),
            *(ever(kind).label(kind) for kind in ("failed", "rolled_back", "rejected", "cancelled",
                                                 "delayed_by_freeze")),
        )
        # A LEFT JOIN: releases first, then their counted events through
        # ix_release_events_release_kind_at, whatever the planner's statistics say.
        .outerjoin(E, and_(E.release_id == R.id, E.kind.in_(sorted(COUNTED_KINDS))))
        .where(true() if release_ids is None else R.id.in_(
            release_ids if isinstance(release_ids, BindParameter) else sorted(release_ids)))
        .group_by(R.id)
        .subquery("per_release")
    )
    p = per.c
    outcome = case(
        (p.rolled_back == 1, "rolled_back"), (p.failed == 1, "failed"), (p.released_at.is_not(None), "released"),
        (p.rejected == 1, "rejected"), (p.cancelled == 1, "cancelled"), else_=None)
    delay = seconds_between(p.started_at, p.planned_start, dialect)
    overrun = seconds_between(p.started_at, p.planned_end, dialect)
    started = p.started_at.is_not(None)
    in_window = and_(delay >= 0, overrun <= 0)
    answered = exists().where(A.release_id == Inv.release_id, A.respondent == Inv.recipient).correlate(Inv)
    ratings = select(func.count(A.rating)).where(A.release_id == p.id).scalar_subquery()
    rating_sum = select(func.coalesce(func.sum(A.rating), 0)).where(A.release_id == p.id).scalar_subquery()
    invitations = select(func.count()).select_from(Inv).where(Inv.release_id == p.id).scalar_subquery()
    respondents = (select(func.count()).select_from(Inv).where(Inv.release_id == p.id, answered)
                   .scalar_subquery())
    return select(
        p.id, p.model_key, p.risk, p.created_at, outcome,
        case((started, 1), else_=0), case((in_window, 1), else_=0),
        case((delay > 0, delay), (started, 0.0), else_=None),
        case((and_(started, p.delayed_by_freeze == 1, ~in_window), 1), else_=0),
        seconds_between(p.released_at, p.created_at, dialect),
        ratings, rating_sum, invitations, respondents,
    )


#: metrics_days' sums, in column order (what `day_sums` computes over facts rows).
DAY_SUMS = ("created", "released", "failed", "rolled_back", "rejected", "cancelled", "started", "in_window",
            "delay_sum", "delays", "reached", "delayed_by_freeze", "ratings", "rating_sum", "invitations",
            "respondents")


def day_sums() -> list[Any]:
    """The DAY_SUMS of a set of facts rows, as aggregates (0 over no rows)."""
    def total(column: Any) -> Any:
        return func.coalesce(func.sum(column), 0)

    return [
        func.count(), *(total(case((F.outcome == kind, 1), else_=0)) for kind in
                        ("released", "failed", "rolled_back", "rejected", "cancelled")),
        total(F.started), total(F.in_window), func.coalesce(func.sum(F.start_delay), 0.0), func.count(F.start_delay),
        func.count(F.lead_time), total(F.delayed_by_freeze), total(F.ratings), total(F.rating_sum),
        total(F.invitations), total(F.respondents),
    ]


def risk_key(column: Any) -> Any:
    """The risk as metrics_days keys it: "" for not assessed."""
    return func.coalesce(column, literal_column("''"))


def day_start(at: datetime) -> datetime:
    """Midnight UTC of the day `at` falls on."""
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _day_of(column: Any, dialect: str) -> Any:
    """Midnight UTC of a stored moment, in SQL, stored as UTCDateTime stores it."""
    if dialect == "sqlite":
        return func.substr(column, 1, 10).concat(" 00:00:00.000000")
    # Inlined constants: bound ones would differ between the select list and GROUP BY.
    utc: Any = literal_column("'UTC'")
    return func.date_trunc(literal_column("'day'"), column.op("AT TIME ZONE")(utc)).op("AT TIME ZONE")(utc)


DayKey = tuple[datetime, str, str]

# The statements a refresh runs are built once (functools.cache) over these parameters: one
# the size of `facts_of` takes milliseconds to build, and built anew it would be keyed for
# SQLAlchemy's statement cache anew too, on every commit that changes a release.
RELEASE_IDS: BindParameter[Any] = bindparam("release_ids", expanding=True)
DAY = bindparam("day", type_=D.day.type)
DAY_END = bindparam("day_end", type_=D.day.type)
MODEL = bindparam("model_key", type_=String)
RISK = bindparam("risk", type_=String)


def _day_params(key: DayKey) -> dict[str, Any]:
    day, model_key, risk = key
    return {"day": day, "day_end": day + timedelta(days=1), "model_key": model_key, "risk": risk}


@functools.cache
def _day_insert() -> Any:
    """metrics_days' row for one (day, model, risk) (`_day_params`), summed from the facts of that day."""
    # The key as rebuild groups it: a risk stored as "" or NULL is one row.
    where = [F.created_at >= DAY, F.created_at < DAY_END, F.model_key == MODEL, risk_key(F.risk) == RISK]
    values = select(DAY, MODEL, RISK, *day_sums())
    return insert(D).from_select(["day", "model_key", "risk", *DAY_SUMS],
                                 values.where(*where).group_by(F.model_key).having(func.count() > 0))


@functools.cache
def _day_delete() -> Any:
    return delete(D).where(D.day == DAY, D.model_key == MODEL, D.risk == RISK)


def _insert(dialect: str, release_ids: Iterable[int] | BindParameter[Any] | None) -> Any:
    return insert(F).from_select(list(FACT_COLUMNS), facts_of(dialect, release_ids))


@functools.cache
def _insert_given(dialect: str) -> Any:
    """`_insert` of the releases given as `release_ids` at execution, returning each fact's day key."""
    return _insert(dialect, RELEASE_IDS).returning(F.created_at, F.model_key, F.risk)


def _day_keys(rows: Iterable[Any]) -> set[DayKey]:
    """The metrics_days keys of facts rows (created_at, model_key, risk)."""
    return {(day_start(created), model_key, risk or "") for created, model_key, risk in rows}


@functools.cache
def _delete_given() -> Any:
    """The facts of the releases given as `release_ids`, deleted, returning each one's day key."""
    return delete(F).where(F.release_id.in_(RELEASE_IDS)).returning(F.created_at, F.model_key, F.risk)


def rebuild_sync(connection: Connection) -> int:
    """Recompute every release's facts from the record; the number of releases (migrations)."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        # Transactions refreshing a release's facts meanwhile wait for the rebuild, then
        # replace the row it wrote with theirs (which sees what they changed).
        connection.execute(text("LOCK TABLE release_facts IN EXCLUSIVE MODE"))
        connection.execute(text("LOCK TABLE metrics_days IN EXCLUSIVE MODE"))
    connection.execute(delete(F))
    connection.execute(_insert(dialect, None))
    connection.execute(delete(D))
    day = _day_of(F.created_at, dialect)
    connection.execute(insert(D).from_select(
        ["day", "model_key", "risk", *DAY_SUMS],
        select(day, F.model_key, risk_key(F.risk), *day_sums()).group_by(day, F.model_key, risk_key(F.risk))))
    return int(connection.execute(select(func.count()).select_from(F)).scalar_one())


def touched(session: AsyncSession) -> set[int]:
    """The releases marked in this session's transaction, whose facts `refresh` recomputes."""
    marked: set[int] = session.info.setdefault(TOUCHED, set())
    return marked


class FactsRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def mark(self, release_id: int, created: bool = False) -> None:
        """This transaction changes what the release's facts are computed from; `created`:
        it inserted the release (no other transaction sees the row to lock, nor has facts of it)."""
        marked = touched(self.session)
        if release_id in marked:
            return
        if created:
            self.session.info.setdefault(CREATED, set()).add(release_id)
        elif self.dialect == "postgresql":
            await self.session.execute(select(R.id).where(R.id == release_id).with_for_update())
        marked.add(release_id)

    async def refresh(self, release_ids: Iterable[int] | None = None) -> int:
        """Recompute the facts of `release_ids` (default: those marked, which are then
        forgotten); the number of rows written."""
        created: set[int] = self.session.info.pop(CREATED, set())
        ids = sorted(self.session.info.pop(TOUCHED, set()) if release_ids is None else set(release_ids))
        written = 0
        for at in range(0, len(ids), CHUNK):
            chunk = ids[at:at + CHUNK]
            known = [i for i in chunk if i not in created]
            # On the connection: the session would take statements with parameters for bulk ORM writes.
            connection = await self.session.connection()
            days: set[DayKey] = set()
            if known:  # the days before too: a changed risk leaves its old day row
                days = _day_keys((await connection.execute(_delete_given(), {"release_ids": known})).all())
            inserted = (await connection.execute(_insert_given(self.dialect), {"release_ids": chunk})).all()
            written += len(inserted)
            days |= _day_keys(inserted)
            for key in sorted(days):
                await self._lock_day(key)
                await connection.execute(_day_delete(), _day_params(key))
                await connection.execute(_day_insert(), _day_params(key))
        return written

    async def _lock_day(self, key: DayKey) -> None:
        """On PostgreSQL, one transaction at a time recomputes a day row: the next waits for
        the first to commit, then (a new statement, a new snapshot) sums what it committed
        too. Held to the end of the transaction; taken in key order, so no two wait on each other."""
        if self.dialect != "postgresql":
            return
        digest = zlib.crc32(f"{key[0].isoformat()}|{key[1]}|{key[2]}".encode()) - 2**31
        await self.session.execute(select(func.pg_advisory_xact_lock(DAY_LOCK, digest)))

    async def rebuild(self) -> int:
        """Recompute every release's facts from the record: the number of releases."""
        self.session.info.pop(TOUCHED, None)
        self.session.info.pop(CREATED, None)
        return int(await self.session.run_sync(lambda s: rebuild_sync(s.connection())))
