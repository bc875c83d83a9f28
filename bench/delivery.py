"""Delivery: a survey fanned out to 1,000 people, recovery after an outage, dispatch latency.

Runs the real bot (heartbeat, due-time wake-ups, dispatcher, outbox) against the test suite's
fake Slack on loopback, each scenario on a fresh database (a temporary SQLite file, or the
scratch database given with `--database`, whose public schema is dropped and created again):

- fan-out: a released `cab` release whose survey (to UBOB and a user group of 999) comes due
  three seconds after the bot started; from the due time to the last direct message reaching
  Slack (bound 15 s), every recipient once. Again with Slack answering 429 Retry-After: 3 to
  the first 200 direct messages (bound 15 s + Retry-After).
- recovery: 60 messages in 20 channels while Slack answers 503 until their backoff has grown
  to 128 s (as after a three-minute outage; the bot's clock is moved through the outage, not
  waited); then Slack answers again and the clock stands: from that moment to the last held
  message reaching Slack (bound 10 s), in due order per channel, each once.
- dispatch latency: 60 messages due over 10 s in distinct conversations; how late the
  slowest reached Slack (bound 1 s).

    .venv/bin/python -m bench --only delivery [--database URL]
"""

from __future__ import annotations

import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import Figure  # noqa: E402
from bot.catalog import Catalog  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.outbox import Message  # noqa: E402
from bot.rendering.messages import Rendered  # noqa: E402
from handlers.app import Releasebot, build  # noqa: E402
from storage import db, migrate  # noqa: E402
from storage.repositories import aware_utc  # noqa: E402
from storage.tables import OutboxRow  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402
from tests.seed import add_release  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "tests" / "release_models"
GROUP = [f"UMEMBER{n:04d}" for n in range(999)]
FAN_OUT_BOUND_S = 15.0
RECOVERY_BOUND_S = 10.0
LATENCY_BOUND_S = 1.0
RETRY_AFTER_S = 3


class OffsetClock:
    """The wall clock plus an offset the benchmark moves through a simulated outage."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def _fresh(url: str) -> None:
    if url.startswith("postgresql"):
        engine = db.create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()


def _wall(slack_at: float) -> datetime:
    """The fake records time.monotonic(); the moment on the wall clock."""
    return datetime.now(UTC) - timedelta(seconds=time.monotonic() - slack_at)


async def _bot(url: str, slack: FakeSlack, clock: Callable[[], datetime] | None = None) -> Releasebot:
    await _fresh(url)
    settings = Settings.model_validate({
        "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "bench", "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": url, "RELEASEBOT_MODELS": str(MODELS),
    })
    bot = build(settings, Catalog.load(MODELS), **({"clock": clock} if clock else {}))
    await migrate.upgrade(bot.engine)
    return bot


async def fan_out(url: str, throttled: int = 0) -> tuple[float, str]:
    """Seconds from the survey's due time to its last direct message reaching Slack."""
    slack = FakeSlack(usergroups={"SUSERS": GROUP})
    await slack.start()
    bot = await _bot(url, slack)
    try:
        due = datetime.now(UTC) + timedelta(seconds=3)
        async with bot.services.releases.uow() as uow:  # released 2 h before the due time: the cab survey's delay
            released = due - timedelta(hours=2)
            await add_release(uow, id=1, model="cab", state="released", owner="UALICE",
                              created=released - timedelta(days=1), events=[("released", released)])
            await uow.commit()
        if throttled:
            slack.rate_limit("chat.postMessage", retry_after=RETRY_AFTER_S, times=throttled)
        await bot.start()  # arms the survey job for its due time; the 30 s poll is not due in this run
        recipients = len(GROUP) + 1
        await slack.wait_for(lambda: len(slack.posts()) >= recipients, timeout=120)
        await asyncio.sleep(0.5)  # anything sent twice would arrive now
    finally:
        await bot.stop()
        await slack.close()
    posts = slack.posts()
    channels = [p["channel"] for p in posts]
    assert sorted(channels) == sorted(["UBOB", *GROUP]), "a recipient missed or asked twice"
    last = max(_wall(p.at) for p in posts)
    limited = sum(1 for c in slack.attempts_to("chat.postMessage") if c.status == 429)
    return (last - due).total_seconds(), f"{recipients} recipients once, {limited} answered 429"


async def recovery(url: str) -> tuple[float, str]:
    """Seconds from Slack answering again to the last held message reaching Slack."""
    slack = FakeSlack()
    await slack.start()
    clock = OffsetClock()
    bot = await _bot(url, slack, clock)
    down = {"now": True}
    slack.fail("chat.postMessage", status=503, times=10**9, body="Service Unavailable", when=lambda p: down["now"])
    await bot.start()
    try:
        now = clock()
        messages = [(f"CHELD{n % 20:02d}", f"held {n}", now - timedelta(seconds=60 - n)) for n in range(60)]
        random.shuffle(messages)  # queued in no particular order; due order is what counts
        async with bot.services.releases.uow() as uow:
            for channel, key, due_at in messages:
                await Message.post(channel=channel, rendered=Rendered(key, []), dedupe_key=key,
                                   due_at=due_at).enqueue(uow, now)
            await uow.commit()
        for failures in range(1, 8):  # 2 + 4 + … + 64 s: the outage's first two minutes, moved through
            await _until(lambda n=failures: _attempted(bot, n), 60)
            if failures < 7:
                clock.offset += timedelta(seconds=2 ** failures + 0.5)
        held_until = await _held_until(bot)
        down["now"] = False
        recovered = datetime.now(UTC)
        await slack.wait_for(lambda: len(slack.posts()) >= len(messages), timeout=300)
        await asyncio.sleep(0.5)
    finally:
        await bot.stop()
        await slack.close()
    posts = slack.posts()
    assert sorted(p.text for p in posts) == sorted(key for _, key, _ in messages), "lost or doubled"
    for channel in {c for c, _, _ in messages}:
        sent = [p.text for p in posts if p["channel"] == channel]
        assert sent == [k for _, k in sorted((d, k) for c, k, d in messages if c == channel)], "out of due order"
    last = max(_wall(p.at) for p in posts)
    return (last - recovered).total_seconds(), (f"{len(messages)} messages in 20 channels once, in due order; "
                                                f"backoff had grown to {held_until:.0f} s")


async def _attempted(bot: Releasebot, count: int) -> bool:
    async with bot.services.releases.uow() as uow:
        rows = await uow.session.execute(text("SELECT min(attempts) FROM outbox"))
        return (rows.scalar() or 0) >= count


async def _held_until(bot: Releasebot) -> float:
    """How long the last held row would still wait for its own retry."""
    async with bot.services.releases.uow() as uow:
        latest = (await uow.session.execute(select(func.max(OutboxRow.due_at)))).scalar_one()
    return (aware_utc(latest) - bot.services.clock()).total_seconds()


async def _until(check: Callable[[], Any], timeout: float) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("the outage did not progress")
        await asyncio.sleep(0.05)


async def latency(url: str, messages: int = 60, spread: float = 10.0) -> tuple[list[float], int]:
    """How late each of `messages` due over `spread` seconds reached Slack; and how many early."""
    slack = FakeSlack()
    await slack.start()
    bot = await _bot(url, slack)
    await bot.start()
    try:
        now = datetime.now(UTC)
        run = uuid.uuid4().hex[:8]
        due = {f"due-{run}-{n}": now + timedelta(seconds=1 + random.random() * spread) for n in range(messages)}
        async with bot.services.releases.uow() as uow:
            for n, (key, at) in enumerate(due.items()):
                await Message.post(channel=f"CDUE{n}", rendered=Rendered(key, []), dedupe_key=key,
                                   due_at=at).enqueue(uow, now)
            await uow.commit()
        await slack.wait_for(lambda: len(slack.posts()) >= messages, timeout=spread + 30)
    finally:
        await bot.stop()
        await slack.close()
    posts = slack.posts()
    assert sorted(p.text for p in posts) == sorted(due), "lost or doubled"
    late = sorted((_wall(p.at) - due[p.text]).total_seconds() for p in posts)
    return late, sum(1 for x in late if x < -0.05)


async def figures(database_url: str | None) -> list[Figure]:
    # Every 503 and 429 is a retry the dispatcher logs as a warning: hundreds of lines here.
    logging.getLogger("bot.dispatcher").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        found: list[Figure] = []
        url = db.async_url(database_url) if database_url else ""
        where = (url or "sqlite").split(":")[0].split("+")[0]

        def scratch(name: str) -> str:
            return url or f"sqlite+aiosqlite:///{tmp}/bench-{name}.db"

        seconds, detail = await fan_out(scratch("fan-out"))
        found.append(Figure(f"survey to 1,000: due to last DM ({where})", seconds, "s", 1.0,
                            baseline=FAN_OUT_BOUND_S, ratio_bound=True, detail=f"bound 15 s; {detail}"))
        seconds, detail = await fan_out(scratch("throttled"), throttled=200)
        bound = FAN_OUT_BOUND_S + RETRY_AFTER_S
        found.append(Figure(f"same, 429 Retry-After {RETRY_AFTER_S} s ({where})", seconds, "s", 1.0,
                            baseline=bound, ratio_bound=True, detail=f"bound {bound:.0f} s; {detail}"))
        seconds, detail = await recovery(scratch("recovery"))
        found.append(Figure(f"outage: Slack back to last held message ({where})", seconds, "s", 1.0,
                            baseline=RECOVERY_BOUND_S, ratio_bound=True, detail=f"bound 10 s; {detail}"))
        late, early = await latency(scratch("latency"))
        found.append(Figure(f"dispatch latency, slowest of 60 ({where})", max(late) * 1000, "ms", 1.0,
                            baseline=LATENCY_BOUND_S * 1000, ratio_bound=True,
                            detail=f"bound 1 s; p50 {statistics.median(late) * 1000:.0f} ms, "
                                   f"p95 {late[int(len(late) * 0.95) - 1] * 1000:.0f} ms, {early} early"))
        return found
