"""Delivery at scale and after outages: a survey fanned out to a user group under Slack's rate
limits, the backlog an outage held back released in due order when Slack answers again, the
give-up point as a setting, and jobs woken at their due time rather than on a poll."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.catalog import Catalog
from bot.config import Settings, SettingsError, load_settings
from bot.outbox import Message
from bot.rendering.messages import Rendered
from handlers.app import Releasebot, build
from storage.tables import OutboxRow
from tests.conftest import MODELS, MovableClock, drive, eventually, plan_release, settle
from tests.fake_slack import FakeSlack
from tests.workspace import Workspace

GROUP = [f"UFAN{n:04d}" for n in range(150)]


async def outbox(bot: Releasebot, prefix: str = "") -> list[OutboxRow]:
    async with bot.services.releases.uow() as uow:
        found = await uow.session.execute(
            select(OutboxRow).where(OutboxRow.dedupe_key.startswith(prefix)).order_by(OutboxRow.id)
            .execution_options(populate_existing=True))
        return list(found.scalars())


def survey_dms(slack: FakeSlack, release_id: int) -> list[str]:
    """Who got the survey of the release, once per direct message that reached Slack."""
    return [c["channel"] for c in slack.posts() if c.text.startswith(f"How did REL-{release_id} ")]


async def test_a_survey_fanned_out_to_a_group_honours_retry_after_and_reaches_everyone_once(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, clock: MovableClock
) -> None:
    slack.usergroups["SUSERS"] = GROUP
    release_id, _ = await plan_release(workspace)
    await drive(bot, release_id, "awaiting_approval", "approved", "ready", "executing", "released")
    await settle(bot)
    slack.rate_limit("chat.postMessage", retry_after=30, times=40)  # Slack throttles the first 40 DMs
    clock.advance(hours=2, minutes=1)
    await bot.services.surveys.tick()
    await settle(bot)

    limited = [r for r in await outbox(bot, f"REL-{release_id}:survey:") if r.state == "pending"]
    assert len(limited) == 40
    # Each waits Slack's Retry-After from its attempt (its attempt came after it was due).
    assert all(r.last_error == "ratelimited" and r.failing_since is not None
               and r.due_at >= r.failing_since + timedelta(seconds=30) for r in limited)
    assert len(set(survey_dms(slack, release_id))) == 151 - 40  # the others did not wait for them

    clock.advance(seconds=30)
    await eventually(lambda: _all_sent(bot, release_id), timeout=30)
    await settle(bot)
    dms = survey_dms(slack, release_id)
    assert sorted(dms) == sorted(["UBOB", *GROUP])  # every recipient once: none lost, none doubled
    retried = [c for c in slack.attempts_to("chat.postMessage") if c["channel"] in {r.channel for r in limited}]
    assert all([c.status for c in retried if c["channel"] == ch] == [429, 200] for ch in {r.channel for r in limited})


async def _all_sent(bot: Releasebot, release_id: int) -> bool:
    rows = await outbox(bot, f"REL-{release_id}:survey:")
    return len(rows) == 151 and all(r.state == "sent" for r in rows)


async def test_after_an_outage_the_first_success_releases_the_backlog_in_due_order(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, clock: MovableClock
) -> None:
    down = {"now": True}
    slack.fail("chat.postMessage", status=503, times=10**6, body="Service Unavailable", when=lambda p: down["now"])
    bot.dispatcher.probe_every = timedelta(hours=1)  # while the backoff grows: only the clock's retries
    now = clock()
    # Queued in the reverse of their due order: the order they leave in is the due order, not the queue's.
    messages = [(f"COUT{n % 3}", f"outage {n}", now - timedelta(seconds=10 - n)) for n in reversed(range(6))]
    async with bot.services.releases.uow() as uow:
        for channel, text, due in messages:
            await Message.post(channel=channel, rendered=Rendered(text, []), dedupe_key=text,
                               due_at=due).enqueue(uow, now)
        await uow.commit()
    for failures in (1, 2, 3, 4, 5):  # each retry waits its backoff: move the clock on until it has grown
        await eventually(lambda n=failures: _attempted(bot, "outage", n), timeout=20)
        if failures < 5:
            clock.advance(seconds=2 ** failures + 1)
    held = await outbox(bot, "outage")
    assert all(r.state == "pending" and r.due_at > clock() + timedelta(seconds=20) for r in held)

    down["now"] = False  # Slack answers again; the clock stays: only the probe can find out
    bot.dispatcher.probe_every = timedelta(seconds=1)
    await eventually(lambda: _sent(bot, "outage", 6), timeout=30)
    rows = await outbox(bot, "outage")
    assert all(r.sent_at is not None and r.sent_at < held_due for r, held_due in
               zip(rows, [h.due_at for h in held], strict=True))  # before their backoff ran out
    assert all(r.failing_since is None for r in rows)
    for channel in ("COUT0", "COUT1", "COUT2"):
        posts = [c for c in slack.posts(channel)]
        expected = sorted((due, text) for ch, text, due in messages if ch == channel)
        assert [p.text for p in posts] == [text for _, text in expected]  # due order, each once
        assert all(b.at - a.at >= 0.95 for a, b in zip(posts, posts[1:], strict=False))  # still paced


async def _attempted(bot: Releasebot, prefix: str, count: int) -> bool:
    return all(r.attempts >= count for r in await outbox(bot, prefix))


async def _sent(bot: Releasebot, prefix: str, count: int) -> bool:
    rows = await outbox(bot, prefix)
    return len(rows) == count and all(r.state == "sent" for r in rows)


async def test_an_afternoon_outage_fails_nothing_and_the_give_up_point_is_a_setting(
    settings: Settings, catalog: Catalog, slack: FakeSlack, clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELEASEBOT_DELIVERY_GIVE_UP_HOURS", "0")
    with pytest.raises(SettingsError, match="RELEASEBOT_DELIVERY_GIVE_UP_HOURS is '0': write a number of hours"):
        load_settings()
    assert settings.delivery_give_up == timedelta(hours=24)
    patient = settings.model_copy(update={"releasebot_delivery_give_up_hours": 6.0})
    bot = build(patient, catalog, clock=clock)
    bot.heartbeat.poll_seconds = 0.2
    bot.dispatcher.probe_every = timedelta(days=1)
    await bot.start()
    try:
        slack.fail("chat.postMessage", status=503, times=10**6, body="Service Unavailable")
        async with bot.services.releases.uow() as uow:
            await Message.post(channel="CDOWN", rendered=Rendered("patient", []), dedupe_key="patient").enqueue(
                uow, clock())
            await uow.commit()
        for hours in (1, 2, 3, 4, 5):  # an afternoon: retried every few minutes, still pending
            await eventually(lambda n=hours: _attempted(bot, "patient", n))
            clock.advance(hours=1, minutes=1)
        await eventually(lambda: _attempted(bot, "patient", 6))
        [row] = await outbox(bot, "patient")
        assert row.state == "pending" and row.last_error == "http_503"
        clock.advance(hours=1)  # past six hours after it was due: given up
        await eventually(lambda: _state(bot, "patient", "failed"))
    finally:
        await bot.stop()


async def _state(bot: Releasebot, key: str, state: str) -> bool:
    return [r.state for r in await outbox(bot, key)] == [state]


@pytest.fixture
def quick_survey(tmp_path: Path) -> Catalog:
    """The cab model, its survey due three seconds after the release (instead of two hours)."""
    folder = Path(shutil.copytree(MODELS, tmp_path / "models"))
    cab = folder / "cab.yaml"
    cab.write_text(cab.read_text().replace("after_release: 2h", "after_release: 3s"))
    return Catalog.load(folder)


@pytest.fixture
async def woken(settings: Settings, quick_survey: Catalog, slack: FakeSlack,
                clock: MovableClock) -> AsyncIterator[tuple[Releasebot, Workspace]]:
    from aiohttp.test_utils import TestClient, TestServer

    bot = build(settings.model_copy(update={"releasebot_models": quick_survey.folder}), quick_survey, clock=clock)
    bot.heartbeat.poll_seconds = 0.2
    bot.heartbeat.job_poll_seconds = 3600  # the safety-net poll never comes in this test
    client = TestClient(TestServer(bot.web_app(), host="127.0.0.1"))
    await client.start_server()
    try:
        yield bot, Workspace(client, slack)
    finally:
        await client.close()


async def test_a_survey_is_woken_at_its_due_time_not_at_the_next_poll(
    woken: tuple[Releasebot, Workspace], slack: FakeSlack, clock: MovableClock
) -> None:
    bot, workspace = woken
    release_id, _ = await plan_release(workspace)
    await drive(bot, release_id, "awaiting_approval", "approved", "ready", "executing", "released")
    details = await bot.services.releases.show(release_id)
    assert details is not None
    released_at: datetime = [e for e in details.events if e.kind == "released"][-1].at
    due = released_at + timedelta(seconds=3)
    assert await eventually(lambda: _planned(bot, "surveys")) == due  # re-armed by the release's commit
    await eventually(lambda: _survey_sent(slack, release_id), timeout=30)
    assert bot.heartbeat.due.jobs["surveys"].runs >= 1
    rows = await outbox(bot, f"REL-{release_id}:survey:")
    assert len(rows) == 3 and all(r.created_at >= due for r in rows)  # opened when due, not before


async def _planned(bot: Releasebot, job: str) -> datetime | None:
    return bot.heartbeat.due.planned(job)


async def _survey_sent(slack: FakeSlack, release_id: int) -> bool:
    return len(survey_dms(slack, release_id)) == 3


async def test_stopping_cancels_every_wake_up(
    woken: tuple[Releasebot, Workspace], slack: FakeSlack, clock: MovableClock
) -> None:
    bot, workspace = woken
    release_id, _ = await plan_release(workspace)
    await drive(bot, release_id, "awaiting_approval", "approved", "ready", "executing", "released")
    await eventually(lambda: _planned(bot, "surveys"))
    await bot.heartbeat.shutdown()
    assert all(job.timer is None and (job.task is None or job.task.done()) for job in bot.heartbeat.due.jobs.values())
    bot.heartbeat.rearm()  # a commit after the stop wakes nothing
    assert all(job.timer is None and (job.task is None or job.task.done()) for job in bot.heartbeat.due.jobs.values())
