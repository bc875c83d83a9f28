"""Fixtures: a fresh database per test (SQLite, or PostgreSQL with TEST_DATABASE_URL), the fake
Slack Web API, the real bot behind the real aiohttp app, and a workspace to talk to it."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from bot.catalog import Catalog
from bot.config import Settings
from handlers.app import Releasebot, build
from storage import db, migrate
from storage.uow import UnitOfWorkFactory
from tests.fake_slack import FakeSlack
from tests.workspace import SIGNING_SECRET, Workspace

MODELS = Path(__file__).parent / "release_models"
ALICE, BOB, CAROL, DAVE, EVE = "UALICE", "UBOB", "UCAROL", "UDAVE", "UEVE"
CHANNEL = "C0RELEASES"


def _postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if url and url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    return url


async def _others_connected(url: str) -> list[str]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text(
                "SELECT pid, application_name, client_addr, backend_start, state FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"))  # not autovacuum at work on it
            return [" ".join(str(value) for value in row) for row in rows]
    finally:
        await engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def _postgres_database_is_the_suites_own() -> None:
    """Every test drops and recreates the schema of TEST_DATABASE_URL's database; a process
    left running on it (a `releasebot serve`, a benchmark) would claim the tests' outbox rows
    and send them to a fake Slack long closed, and tests would fail far from the cause."""
    url = _postgres_url()
    if url is None:
        return
    others = asyncio.run(_others_connected(url))
    if others:
        pytest.exit(f"other processes are connected to the test database ({url}); stop them or use a database "
                    "of the suite's own:\n" + "\n".join(others), returncode=3)


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    url = _postgres_url()
    if url is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'releasebot.db'}"
        return
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    yield url


@pytest.fixture
async def uow(database_url: str) -> AsyncIterator[UnitOfWorkFactory]:
    """Units of work on the suite's database, migrated, without a bot around them."""
    engine = db.create_engine(database_url)
    await migrate.upgrade(engine)
    yield UnitOfWorkFactory(db.sessionmaker(engine))
    await engine.dispose()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(usergroups={"SCAB": [CAROL, DAVE], "SUSERS": [DAVE, EVE]})
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def settings(database_url: str, slack: FakeSlack) -> Settings:
    return Settings.model_validate({
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "RELEASEBOT_MODELS": str(MODELS),
    })


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.load(MODELS)


class MovableClock:
    """The wall clock plus an offset a test can move forward: due messages, surveys and retry
    backoff come due at once, without sleeping and without timing assertions."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta | None = None, **parts: float) -> None:
        """`advance(timedelta(hours=2))` or `advance(hours=2)`."""
        self.offset += (delta or timedelta()) + timedelta(**parts)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def bot(settings: Settings, catalog: Catalog, clock: MovableClock) -> Releasebot:
    releasebot = build(settings, catalog, clock=clock)
    releasebot.heartbeat.poll_seconds = 0.2
    return releasebot


@pytest.fixture
async def http(bot: Releasebot) -> AsyncIterator[TestClient]:
    """The real aiohttp app, serving on loopback; starting it migrates and starts the scheduler."""
    client = TestClient(TestServer(bot.web_app(), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture
def workspace(http: TestClient, slack: FakeSlack) -> Workspace:
    return Workspace(http, slack)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll an async check until it returns something truthy; for effects that follow the ack."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout}s: {result!r}")
        await asyncio.sleep(0.05)


async def settle(bot: Releasebot, timeout: float = 15.0) -> None:
    """Wait until no message is due or being sent: what was owed has reached Slack (or failed)."""
    async def idle() -> bool:
        async with bot.services.releases.uow() as uow:
            due = await uow.outbox.next_due()
        return due is None or due > bot.services.clock()

    await eventually(idle, timeout)
    async with bot.heartbeat._running:  # a send under way finishes before we look
        pass


def window(days: int = 1, hours: int = 1) -> tuple[datetime, datetime]:
    start = (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)
    return start, start + timedelta(hours=hours)


def plan_values(*, model: str = "cab", title: str = "Payments API 2.3", start: datetime | None = None,
                end: datetime | None = None, components: str = "payments-api\nledger-db",
                change_ref: str = "CHG-1234", description: str = "New refund flow", release_notes: str = "",
                risk: str = "", impact: str = "", rollback_plan: str = "") -> dict[str, Any]:
    """What a person typed into the planning modal, as view.state.values (an input left empty
    comes as None, as Slack sends it)."""
    default_start, default_end = window()
    start = start or default_start
    end = end or default_end
    values: dict[str, Any] = {
        "model": {"model": {"type": "static_select",
                            "selected_option": {"value": model, "text": {"type": "plain_text", "text": model}}}},
        "title": {"title": {"type": "plain_text_input", "value": title}},
        "start": {"start": {"type": "datetimepicker", "selected_date_time": int(start.timestamp())}},
        "end": {"end": {"type": "datetimepicker", "selected_date_time": int(end.timestamp())}},
        "components": {"components": {"type": "plain_text_input", "value": components}},
        "change_ref": {"change_ref": {"type": "plain_text_input", "value": change_ref}},
        "description": {"description": {"type": "plain_text_input", "value": description}},
        **plan_form(release_notes=release_notes, risk=risk, impact=impact, rollback_plan=rollback_plan),
    }
    return values


def plan_form(*, release_notes: str = "", risk: str = "", impact: str = "", rollback_plan: str = "") -> dict[str, Any]:
    """The release plan's inputs as view.state.values (the planning and the edit form)."""
    option = {"value": risk, "text": {"type": "plain_text", "text": risk}} if risk else None
    return {
        "risk": {"risk": {"type": "static_select", "selected_option": option}},
        **{name: {name: {"type": "plain_text_input", "value": value or None}}
           for name, value in (("impact", impact), ("rollback_plan", rollback_plan),
                               ("release_notes", release_notes))},
    }


async def drive(bot: Releasebot, release_id: int, *states: str, by: str = "UBOB") -> None:
    """Move a release through `states` by storing lifecycle moves directly: a shortcut for
    tests about what follows a state (surveys, reviews), not about how it is reached."""
    from bot.lifecycle import Event, EventKind, Moved, State

    for state in states:
        kind = {"executing": "started", "awaiting_approval": "submitted"}.get(state, state)

        async def decide(uow: Any, release: Any, now: Any, state: str = state, kind: str = kind) -> Moved:
            return Moved(State(state), Event(EventKind(kind), by, now, {"reason": "test"} if state in
                                             ("rolled_back", "cancelled", "rejected") else {}))

        outcome = await bot.services.releases.transitions.run(release_id, decide)
        assert outcome.ok, outcome.refusal


async def plan_release(workspace: Workspace, *, by: str = ALICE, channel: str = CHANNEL,
                       **values: Any) -> tuple[int, Any]:
    """Plan a release through `/release new` and the modal; returns its id and the card post."""
    seen = len(workspace.slack.calls_to("views.open"))
    answer = await workspace.command(f"new {values.get('model', 'cab')}", by=by, channel=channel)
    assert answer.status == 200
    opened = await workspace.slack.wait_for_calls("views.open", seen + 1)
    view = opened[seen]["view"]
    posts_before = len(workspace.slack.posts(channel))
    answer = await workspace.submit_view(view, plan_values(**values), by=by)
    assert answer.status == 200 and answer.body == "", answer.body
    posts = await workspace.slack.wait_for(lambda: len(workspace.slack.posts(channel)) > posts_before
                                           and workspace.slack.posts(channel))
    card = posts[posts_before]
    ref = card.text.split()[0]
    return int(ref.removeprefix("REL-")), card
