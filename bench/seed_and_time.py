"""Seed a database with 100,000 releases (2,000,000 events) and time `metrics`, `list`, `show`
and the App Home.

    .venv/bin/python bench/seed_and_time.py                          # SQLite file ./bench-releasebot.db
    .venv/bin/python bench/seed_and_time.py postgresql://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/seed_and_time.py --releases 20000 --events 400000 sqlite:///./small.db

The schema is migrated, then (only if it holds no release yet) seeded with SQLAlchemy core
bulk inserts: releases created over the last year across the bundled release models, with the
events a real life leaves (planned, submitted, approvals, ready, started, released, failed,
rolled back, rejected, cancelled, closed), padded with message events (`communication_sent`)
up to `--events` in all, and post-release surveys with invitations and answers for some. The
key metrics' facts are then computed from that record, as `releasebot metrics rebuild` does.
The timings go through the service layer, as the bot calls it, so they include the queries,
the row mapping and the transaction. A seeded database is reused on the
next run; delete the file (or the PostgreSQL database) to seed again.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cards import ReleaseCards
from bot.catalog import Catalog
from bot.clock import utcnow
from bot.config import BUNDLED_MODELS
from bot.home import HomeService
from bot.metrics import MetricsService
from bot.model_versions import ModelVersions
from bot.releases import ReleaseService
from bot.roles import Roles
from bot.transitions import Transitions
from storage import db, migrate
from storage.facts import rebuild_sync
from storage.tables import (
    ApprovalRow,
    ReleaseEventRow,
    ReleaseFactRow,
    ReleaseRow,
    SurveyAnswerRow,
    SurveyInvitationRow,
    SurveyRow,
)
from storage.uow import UnitOfWorkFactory

DEFAULT_URL = "sqlite+aiosqlite:///./bench-releasebot.db"
BATCH = 5000
OWNERS = [f"U{n:07d}" for n in range(300)]
BUSY_OWNER = "UBUSYOWNER"          # owns 200 releases: the App Home's worst case
APPROVER = "UBENCHCAB"             # in every approver group below
GROUP_MEMBERS = [APPROVER, BUSY_OWNER, *OWNERS[:5]]
MODEL_WEIGHTS = {"standard": 0.6, "emergency": 0.15, "phased-pull": 0.25}


class StaticDirectory:
    """Every user group has the same members: no Slack during a benchmark."""

    async def members(self, group: str) -> frozenset[str]:
        return frozenset(GROUP_MEMBERS)


def async_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return url


# -- seeding ------------------------------------------------------------------------------------


class Seeder:
    """Makes the rows of one release at a time, a plausible life up to `now`."""

    def __init__(self, now: datetime, rng: random.Random, events_per_release: int = 0):
        self.now, self.rng = now, rng
        self.last = now
        self.events_per_release = events_per_release
        self.rows: dict[str, list[dict[str, Any]]] = {"releases": [], "events": [], "approvals": [],
                                                     "surveys": [], "invitations": [], "answers": []}

    def event(self, release_id: int, kind: str, at: datetime, actor: str, **data: Any) -> datetime:
        self.rows["events"].append({"release_id": release_id, "kind": kind, "actor": actor, "at": at,
                                    "data": data})
        self.last = at
        return at

    def release(self, release_id: int, owner: str) -> None:
        rng, now = self.rng, self.now
        model = rng.choices(list(MODEL_WEIGHTS), weights=list(MODEL_WEIGHTS.values()))[0]
        created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
        start = created + timedelta(hours=rng.uniform(2, 14 * 24))
        end = start + timedelta(hours=rng.choice([1, 2, 4]))
        state = "planned"
        self.event(release_id, "planned", created, owner, model=model)
        at = created + timedelta(minutes=rng.uniform(5, 600))
        fate = rng.random()
        if at < now and fate > 0.03:  # 3% wait in planning
            state = "awaiting_approval"
            self.event(release_id, "submitted", at, owner)
            decided = at + timedelta(hours=rng.uniform(1, 48))
            if decided < now and fate < 0.06:
                state = "rejected"
                self.event(release_id, "rejected", decided, APPROVER, reason="No rollback plan")
                self.rows["approvals"].append({"release_id": release_id, "approver": APPROVER,
                                               "decision": "reject", "reason": "No rollback plan", "at": decided})
            elif decided < now and fate > 0.08:
                first = OWNERS[(release_id + 1) % 5] if OWNERS[(release_id + 1) % 5] != owner else OWNERS[6]
                quorum = 2 if model == "standard" else 1
                deciders = [APPROVER, first][:quorum]
                for n, approver in enumerate(deciders, 1):
                    kind = "approved" if n == quorum else "approval_recorded"
                    self.event(release_id, kind, decided, approver, count=n, quorum=quorum)
                    self.rows["approvals"].append({"release_id": release_id, "approver": approver,
                                                   "decision": "approve", "reason": None, "at": decided})
                state = "approved"
                ready = decided + timedelta(hours=rng.uniform(0.5, 24))
                if ready < now:
                    self.event(release_id, "verification_recorded", ready, owner, criterion="Build signed",
                               passed=True)
                    self.event(release_id, "ready", ready, owner)
                    state = self.execute(release_id, owner, model, start, ready) or "ready"
        cancel_at = self.last + timedelta(hours=1)
        if state in ("planned", "awaiting_approval", "approved", "ready") and cancel_at < now and rng.random() < 0.1:
            self.event(release_id, "cancelled", cancel_at, owner, reason="Superseded", **{"from": state})
            state = "cancelled"
        self.messages(release_id, created)
        self.rows["releases"].append({
            "id": release_id, "model_key": model, "title": f"Bench release {release_id}",
            "description": "", "state": state, "owner": owner, "channel_id": "C0BENCH",
            "planned_start": start, "planned_end": end, "components": ["api", "db"],
            "change_ref": f"CHG-{release_id}", "origin_key": None, "version": 1,
            "created_at": created, "updated_at": created,
        })

    def messages(self, release_id: int, created: datetime) -> None:
        """Pad the release's record with the events its messages leave (announcements,
        reminders sent), up to `events_per_release`: a busy workspace's history, which the
        metrics skip but every query over the events has to walk past."""
        events = self.rows["events"]
        own = sum(1 for e in reversed(events[-40:]) if e["release_id"] == release_id)
        span = max((self.last - created).total_seconds(), 60.0)
        for n in range(self.events_per_release - own):
            at = created + timedelta(seconds=self.rng.uniform(0, span))
            events.append({"release_id": release_id, "kind": "communication_sent", "actor": None, "at": at,
                           "data": {"channel": "C0BENCH", "message": n}})

    def execute(self, release_id: int, owner: str, model: str, start: datetime, ready: datetime) -> str | None:
        rng, now = self.rng, self.now
        began = max(ready, start + timedelta(minutes=rng.gauss(10, 40)))
        if began >= now:
            return None
        self.event(release_id, "started", began, owner)
        ended = began + timedelta(minutes=rng.uniform(15, 120))
        if ended >= now:
            return "executing"
        roll = rng.random()
        state = "failed" if roll < 0.08 else "released"
        self.event(release_id, state, ended, owner)
        if (roll < 0.08 and rng.random() < 0.6) or 0.08 <= roll < 0.11:
            ended += timedelta(minutes=30)
            self.event(release_id, "rolled_back", ended, owner, reason="Errors in monitoring", **{"from": state})
            state = "rolled_back"
        if state == "released" and model != "emergency" and rng.random() < 0.3:
            self.survey(release_id, ended)
        if ended + timedelta(days=3) < now and rng.random() < 0.5:
            self.event(release_id, "closed", ended + timedelta(days=3), owner)
            state = "closed"
        return state

    def survey(self, release_id: int, released: datetime) -> None:
        rng = self.rng
        opened = released + timedelta(hours=2)
        if opened >= self.now:
            return
        self.rows["surveys"].append({"release_id": release_id, "opened_at": opened,
                                     "closes_at": opened + timedelta(days=3), "anonymous": False})
        for recipient in rng.sample(OWNERS, 5):
            self.rows["invitations"].append({"release_id": release_id, "recipient": recipient, "invited_at": opened})
            if rng.random() < 0.55:
                answered = opened + timedelta(hours=rng.uniform(0.1, 60))
                for key, rating, comment in (("satisfaction", rng.choice([2, 3, 4, 4, 5, 5]), None),
                                             ("comments", None, "Smooth enough")):
                    self.rows["answers"].append({
                        "release_id": release_id, "respondent": recipient, "question_key": key,
                        "rating": rating, "text": comment, "answered_at": answered, "changed_at": answered})


TABLES = {"releases": ReleaseRow, "events": ReleaseEventRow, "approvals": ApprovalRow, "surveys": SurveyRow,
          "invitations": SurveyInvitationRow, "answers": SurveyAnswerRow}


async def seed(engine: AsyncEngine, count: int, now: datetime, events: int = 0) -> None:
    """Bulk-insert `count` releases (and about `events` events in all, when more than their
    lives leave), BATCH releases per transaction."""
    rng = random.Random(20261122)
    started = time.monotonic()
    for first in range(1, count + 1, BATCH):
        seeder = Seeder(now, rng, events // count if count else 0)
        for release_id in range(first, min(first + BATCH, count + 1)):
            owner = BUSY_OWNER if release_id % (count // 200 or 1) == 0 else rng.choice(OWNERS)
            seeder.release(release_id, owner)
        async with engine.begin() as conn:
            for name, table in TABLES.items():
                if seeder.rows[name]:
                    await conn.execute(insert(table), seeder.rows[name])
        print(f"\r  seeded {min(first + BATCH - 1, count):>7} releases", end="", flush=True)
    if db.is_postgres(engine):
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("SELECT setval(pg_get_serial_sequence('releases', 'id'), "
                                    "(SELECT max(id) FROM releases))"))
            # Autovacuum visits a freshly loaded table soon after (statistics, visibility map
            # for index-only scans); do now what it would, or the first plans are guesses.
            await conn.execute(text("VACUUM ANALYZE"))
    print(f" in {time.monotonic() - started:.1f} s")


# -- timing -------------------------------------------------------------------------------------


async def timed(label: str, run: Callable[[], Awaitable[Any]], repeat: int) -> None:
    await run()  # warm the connection and the statement caches
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        took.append((time.perf_counter() - started) * 1000)
    print(f"  {label:<42} median {statistics.median(took):8.1f} ms   max {max(took):8.1f} ms")


async def prepare(url: str, releases: int, events: int, now: datetime) -> AsyncEngine:
    """The engine of a migrated database holding the seeded history: seeded now if it holds
    no release yet, reused as it is otherwise (seeding 2,000,000 events takes minutes)."""
    engine = db.create_engine(async_url(url))
    await migrate.upgrade(engine)
    async with engine.connect() as conn:
        existing = (await conn.execute(select(func.count()).select_from(ReleaseRow))).scalar_one()
    print(f"{engine.dialect.name}: {url.split('@')[-1]}")
    if existing:
        print(f"  reusing {existing} releases already there")
    else:
        await seed(engine, releases, now, events)
    async with engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(ReleaseRow))).scalar_one()
        facts = (await conn.execute(select(func.count()).select_from(ReleaseFactRow))).scalar_one()
    if facts != total:
        # Seeded rows bypass the repositories: compute the key metrics' facts from the log,
        # as `releasebot metrics rebuild` does.
        started = time.monotonic()
        async with engine.begin() as conn:
            rebuilt = await conn.run_sync(rebuild_sync)
        if db.is_postgres(engine):
            async with engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE release_facts"))
                await conn.execute(text("VACUUM ANALYZE metrics_days"))
        print(f"  rebuilt the facts of {rebuilt} releases in {time.monotonic() - started:.1f} s")
    return engine


def services(engine: AsyncEngine) -> tuple[MetricsService, HomeService, ReleaseService]:
    """The use cases the timings go through, over the bundled release models."""
    catalog = Catalog.load(BUNDLED_MODELS)
    uow = UnitOfWorkFactory(db.sessionmaker(engine))
    transitions = Transitions(uow, utcnow)
    versions = ModelVersions(uow, catalog, utcnow)
    roles = Roles(uow, versions, StaticDirectory())
    releases = ReleaseService(uow, catalog, utcnow, transitions, ReleaseCards(versions), versions, roles)
    metrics = MetricsService(uow, catalog)
    return metrics, HomeService(uow, catalog, roles, metrics), releases


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", default=DEFAULT_URL, help=f"database URL (default {DEFAULT_URL})")
    parser.add_argument("--releases", type=int, default=100_000, help="how many releases to seed")
    parser.add_argument("--events", type=int, default=2_000_000, help="about how many events to seed")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per operation")
    args = parser.parse_args(argv)
    now = datetime.now(UTC).replace(microsecond=0)
    engine = await prepare(args.url, args.releases, args.events, now)
    async with engine.connect() as conn:
        for name, table in TABLES.items():
            rows = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            print(f"  {name:<12} {rows:>9} rows")

    metrics, home, releases = services(engine)
    async with engine.connect() as conn:
        some = (await conn.execute(select(func.max(ReleaseRow.id)))).scalar_one() // 2
    figures = await metrics.key_metrics(30)
    print(f"  last 30 days: {figures.created} planned, {figures.executed} executed, "
          f"success {figures.success_rate or 0:.0%}, backlog {figures.backlog}, ratings {figures.ratings}")
    print("timings (through the service layer):")
    await timed("metrics (30d, all models)", lambda: metrics.key_metrics(30), args.repeat)
    await timed("metrics (90d, standard)", lambda: metrics.key_metrics(90, "standard"), args.repeat)
    await timed("metrics (365d, all models)", lambda: metrics.key_metrics(365), args.repeat)
    await timed("list (newest 20)", lambda: releases.list(), args.repeat)
    await timed("list mine (owner of 200)", lambda: releases.list(owner=BUSY_OWNER), args.repeat)
    await timed(f"show REL-{some}", lambda: releases.show(some), args.repeat)
    await timed("App Home (approver, owner of 200)", lambda: home.for_user(BUSY_OWNER), args.repeat)
    await engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
