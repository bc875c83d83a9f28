"""The key metrics read stored sums (release_facts, metrics_days): after any history, written
at once or changed bit by bit afterwards, they say what a person counting the release record
by hand would, and `releasebot metrics rebuild` recomputes them from that record."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from bot.catalog import Catalog
from bot.metrics import BACKLOG_STATES, KeyMetrics, MetricsService
from bot.release_plan import Risk
from storage import db, migrate
from storage.tables import (
    MetricsDayRow,
    ReleaseEventRow,
    ReleaseFactRow,
    ReleaseRow,
    SurveyAnswerRow,
    SurveyInvitationRow,
)
from storage.uow import UnitOfWorkFactory
from tests.seed import add_release, add_survey
from tests.test_cli import releasebot

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MODELS = ("cab", "quick")
KINDS = ("started", "released", "failed", "rolled_back", "rejected", "cancelled", "delayed_by_freeze",
         "communication_sent", "closed")
PEOPLE = ("U1", "U2", "U3", "U4", "U5")

# -- random histories -----------------------------------------------------------------------

#: Minutes before NOW: anywhere in 400 days, or on a day boundary or a period's first moment.
minutes_ago = st.one_of(
    st.integers(0, 400 * 1440),
    st.sampled_from([720 + d * 1440 for d in (0, 1, 29, 30, 89, 90, 364, 365)]),   # midnight UTC
    st.sampled_from([d * 1440 for d in (1, 7, 30, 90, 365)]),                      # since, exactly
)


@dataclass(frozen=True)
class Life:
    ago: int
    model: str
    state: str
    risk: str | None
    start_after: int
    length: int
    events: list[tuple[str, int]]
    invited: list[str]
    answers: list[tuple[str, str, int | None]]


lives = st.builds(
    Life,
    ago=minutes_ago,
    model=st.sampled_from(MODELS),
    state=st.sampled_from(["planned", "awaiting_approval", "approved", "ready", "executing", "released", "closed",
                           "cancelled"]),
    risk=st.sampled_from([None, "low", "medium", "high", "bogus"]),
    start_after=st.integers(0, 20 * 1440),
    length=st.integers(1, 600),
    events=st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 30 * 1440)), max_size=6),
    invited=st.lists(st.sampled_from(PEOPLE[:4]), unique=True, max_size=4),
    answers=st.lists(st.tuples(st.sampled_from(PEOPLE), st.sampled_from(["satisfaction", "comments"]),
                               st.one_of(st.none(), st.integers(1, 5))), max_size=5),
)
#: What may happen to a release afterwards, each in its own transaction, through the repositories.
changes = st.one_of(
    st.tuples(st.just("risk"), st.integers(0, 20), st.sampled_from([None, "low", "medium", "high"])),
    st.tuples(st.just("window"), st.integers(0, 20), st.integers(-3 * 1440, 3 * 1440)),
    st.tuples(st.just("event"), st.integers(0, 20), st.sampled_from(KINDS), st.integers(0, 30 * 1440)),
    st.tuples(st.just("answer"), st.integers(0, 20), st.sampled_from(PEOPLE), st.one_of(st.none(), st.integers(1, 5))),
    st.tuples(st.just("invite"), st.integers(0, 20), st.sampled_from(PEOPLE)),
)
periods = st.tuples(st.integers(1, 400), st.sampled_from([None, *MODELS]))


async def write(uow: UnitOfWorkFactory, history: list[Life], later: list[tuple[Any, ...]]) -> None:
    async with uow() as u:
        for table in (MetricsDayRow, ReleaseFactRow, SurveyAnswerRow, SurveyInvitationRow, ReleaseEventRow,
                      ReleaseRow):
            await u.session.execute(delete(table))
        for n, life in enumerate(history, 1):
            created = NOW - timedelta(minutes=life.ago)
            start = created + timedelta(minutes=life.start_after)
            await add_release(u, id=n, model=life.model, state=life.state, owner="U1", created=created,
                              window=(start, start + timedelta(minutes=life.length)),
                              events=[(kind, created + timedelta(minutes=m)) for kind, m in life.events])
            if life.risk:
                await u.releases.touch(n, created, risk=life.risk)
            answers = {(who, key): rating for who, key, rating in life.answers}
            await add_survey(u, n, created, life.invited,
                             [(who, key, rating, None) for (who, key), rating in answers.items()])
        await u.commit()
    for change in later:
        if not history:
            break
        kind, index, *rest = change
        release_id = index % len(history) + 1
        async with uow() as u:
            row = await u.releases.get(release_id, for_update=True)
            assert row is not None
            if kind == "risk":
                await u.releases.touch(release_id, NOW, risk=rest[0])
            elif kind == "window":
                shift = timedelta(minutes=rest[0])
                await u.releases.touch(release_id, NOW, planned_start=row.planned_start + shift,
                                       planned_end=row.planned_end + shift)
            elif kind == "event":
                await u.events.append(release_id, rest[0], "U1", row.created_at + timedelta(minutes=rest[1]))
            elif kind == "answer":
                await u.surveys.answer(release_id, rest[0], "satisfaction", NOW, rating=rest[1])
            else:
                await u.surveys.invite(release_id, rest[0], NOW)
            await u.commit()


# -- the count by hand ----------------------------------------------------------------------


async def by_hand(uow: UnitOfWorkFactory, days: int, model: str | None) -> dict[str, Any]:
    """The key metrics as bot/metrics.py defines them, counted in Python from every row."""
    async with uow(read_only=True) as u:
        releases = list((await u.session.execute(select(ReleaseRow))).scalars())
        events = list((await u.session.execute(select(ReleaseEventRow))).scalars())
        answers = list((await u.session.execute(select(SurveyAnswerRow))).scalars())
        invitations = list((await u.session.execute(select(SurveyInvitationRow))).scalars())
    since = NOW - timedelta(days=days)
    of_model = [r for r in releases if model is None or r.model_key == model]
    cohort = [r for r in of_model if since <= r.created_at <= NOW]
    ids = {r.id for r in cohort}
    outcomes: dict[str | None, int] = {}
    risks: dict[Risk | None, list[int]] = {}
    started = in_window = freeze = 0
    delays: list[float] = []
    leads: list[float] = []
    for r in cohort:
        kinds = {e.kind for e in events if e.release_id == r.id}
        starts = [e.at for e in events if e.release_id == r.id and e.kind == "started"]
        releases_at = [e.at for e in events if e.release_id == r.id and e.kind == "released"]
        outcome = next((k for k in ("rolled_back", "failed") if k in kinds), None)
        if outcome is None:
            outcome = "released" if releases_at else next((k for k in ("rejected", "cancelled") if k in kinds), None)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        counts = risks.setdefault(Risk.parse(r.risk), [0, 0, 0, 0])
        counts[0] += 1
        for i, k in enumerate(("released", "failed", "rolled_back"), 1):
            counts[i] += outcome == k
        if starts:
            first = min(starts)
            started += 1
            inside = r.planned_start <= first <= r.planned_end
            in_window += inside
            freeze += "delayed_by_freeze" in kinds and not inside
            delays.append(max(0.0, (first - r.planned_start).total_seconds()))
        if releases_at:
            leads.append((min(releases_at) - r.created_at).total_seconds())
    leads.sort()
    backlog = sorted((r for r in of_model if r.state in {s.value for s in BACKLOG_STATES}),
                     key=lambda r: (r.created_at, r.id))
    ratings = [a.rating for a in answers if a.release_id in ids and a.rating is not None]
    asked = [i for i in invitations if i.release_id in ids]
    answered = {(a.release_id, a.respondent) for a in answers}
    return {
        "created": len(cohort), **{k: outcomes.get(k, 0) for k in ("released", "failed", "rolled_back", "rejected",
                                                                    "cancelled")},
        "open": outcomes.get(None, 0), "started": started, "started_in_window": in_window,
        "delayed_by_freeze": freeze, "avg_start_delay": mean(delays) if delays else None,
        "lead_times": len(leads),
        "lead_time_median": leads[math.ceil(len(leads) * 0.5) - 1] if leads else None,
        "lead_time_p90": leads[math.ceil(len(leads) * 0.9) - 1] if leads else None,
        "backlog": len(backlog), "backlog_oldest_id": backlog[0].id if backlog else None,
        "backlog_avg_wait": mean((NOW - r.created_at).total_seconds() for r in backlog) if backlog else None,
        "ratings": len(ratings), "satisfaction": mean(ratings) if ratings else None,
        "invitations": len(asked), "respondents": sum((i.release_id, i.recipient) in answered for i in asked),
        "by_risk": {risk: tuple(c) for risk, c in risks.items()},
    }


def as_counted(figures: KeyMetrics) -> dict[str, Any]:
    """The service's answer in the same shape; durations in seconds."""
    def seconds(span: timedelta | None) -> float | None:
        return None if span is None else span.total_seconds()

    names = ("created", "released", "failed", "rolled_back", "rejected", "cancelled", "open", "started",
             "started_in_window", "delayed_by_freeze", "lead_times", "backlog", "backlog_oldest_id", "ratings",
             "satisfaction", "invitations", "respondents")
    counted: dict[str, Any] = {name: getattr(figures, name) for name in names}
    for name in ("avg_start_delay", "lead_time_median", "lead_time_p90", "backlog_avg_wait"):
        counted[name] = seconds(getattr(figures, name))
    counted["by_risk"] = {r.risk: (r.created, r.released, r.failed, r.rolled_back) for r in figures.by_risk}
    return counted


def assert_same(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Counts exactly; durations to the second the answer shows; the average rating to 1e-9."""
    for name, value in expected.items():
        mine = got[name]
        if value is None or mine is None or isinstance(value, dict) or name == "backlog_oldest_id":
            assert mine == value, name
        elif name == "satisfaction":
            assert mine == pytest.approx(value, abs=1e-9), name
        elif isinstance(mine, float):
            assert abs(mine - value) <= 1, name  # the service rounds to whole seconds
        else:
            assert mine == value, name


# -- tests ----------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(lives, max_size=12), later=st.lists(changes, max_size=8),
       asked=st.lists(periods, min_size=1, max_size=3))
async def test_the_stored_sums_say_what_the_record_says(
    uow: UnitOfWorkFactory, catalog: Catalog, history: list[Life], later: list[tuple[Any, ...]],
    asked: list[tuple[int, str | None]],
) -> None:
    await write(uow, history, later)
    metrics = MetricsService(uow, catalog, lambda: NOW)
    for days, model in asked:
        got = as_counted(await metrics.key_metrics(days, model, by_risk=True))
        assert_same(got, await by_hand(uow, days, model))


async def test_rebuild_recomputes_the_sums_from_the_record(tmp_path: Path, catalog: Catalog) -> None:
    """Sums gone wrong (a row lost, a count changed by hand) come back from the record."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'releasebot.db'}"
    engine = db.create_engine(url)
    await migrate.upgrade(engine)
    uow = UnitOfWorkFactory(db.sessionmaker(engine))
    history = [Life(ago=d * 1440 + 90, model=MODELS[d % 2], state="released", risk=("low", "high", None)[d % 3],
                    start_after=60, length=120, events=[("started", 90), ("released", 200 + d)],
                    invited=["U1", "U2"], answers=[("U1", "satisfaction", 1 + d % 5)]) for d in range(40)]
    await write(uow, history, [])
    metrics = MetricsService(uow, catalog, lambda: NOW)
    before = await metrics.key_metrics(90, by_risk=True)
    async with engine.begin() as conn:
        await conn.execute(delete(ReleaseFactRow).where(ReleaseFactRow.release_id <= 5))
        await conn.execute(update(MetricsDayRow).values(created=MetricsDayRow.created + 7))
    assert (await metrics.key_metrics(90, by_risk=True)).created != before.created
    await engine.dispose()

    done = releasebot(tmp_path, "metrics", "rebuild", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "rebuilt the key metrics of 40 releases" in done.stdout

    engine = db.create_engine(url)
    uow = UnitOfWorkFactory(db.sessionmaker(engine))
    metrics = MetricsService(uow, catalog, lambda: NOW)
    assert await metrics.key_metrics(90, by_risk=True) == before
    assert_same(as_counted(before), await by_hand(uow, 90, None))
    await engine.dispose()


async def test_rebuild_asks_for_the_migrations_first(tmp_path: Path) -> None:
    done = releasebot(tmp_path, "metrics", "rebuild", timeout=120)
    assert done.returncode == 2 and "releasebot db upgrade" in done.stderr and "Traceback" not in done.stderr
