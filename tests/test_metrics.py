"""Key metrics against a history worked out by hand (cab: BOB and the CAB group approve;
quick: ALICE or BOB). The clock stands at NOW; every date below is fixed, so every figure is
exact and each expectation says where it comes from."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.catalog import Catalog
from bot.metrics import MetricsRequest, MetricsService
from bot.rendering.metrics import duration, metrics_message
from handlers.slack.arguments import parse_request
from storage.uow import UnitOfWorkFactory
from tests.blockkit_lint import lint_calls, lint_message
from tests.conftest import ALICE, BOB, CAROL, DAVE, EVE, plan_release
from tests.fake_slack import FakeSlack
from tests.seed import add_release, add_survey
from tests.workspace import Workspace

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
async def history(uow: UnitOfWorkFactory) -> UnitOfWorkFactory:
    """Eleven releases; R9 and R10 were created before the last 30 days."""
    async with uow() as u:
        # R1 cab: started 30 min into its window, released; lead 10-31 12:00 → 11-02 11:00 = 169200 s.
        # Closed afterwards: it keeps its outcome. Survey: BOB 5 and DAVE 4 answer, EVE does not.
        await add_release(u, id=1, model="cab", state="closed", owner=ALICE, created=days_ago(20),
                          window=(at(11, 2, 10), at(11, 2, 12)),
                          events=[("submitted", at(10, 31, 13)), ("approved", at(11, 1, 9)),
                                  ("ready", at(11, 1, 10)), ("started", at(11, 2, 10, 30)),
                                  ("released", at(11, 2, 11)), ("closed", at(11, 5, 9))])
        await add_survey(u, 1, at(11, 2, 13), [BOB, DAVE, EVE],
                         [(BOB, "satisfaction", 5, None), (BOB, "comments", None, "Smooth"),
                          (DAVE, "satisfaction", 4, None)])
        # R2 cab: started 11:30, after its window (10:00–11:00): 5400 s late, then failed.
        await add_release(u, id=2, model="cab", state="failed", owner=ALICE, created=days_ago(15),
                          window=(at(11, 7, 10), at(11, 7, 11)),
                          events=[("started", at(11, 7, 11, 30)), ("failed", at(11, 7, 12))])
        # R3 cab: started 15 min early (out of window, no delay), released, rolled back: a rollback.
        # Lead 11-10 12:00 → 11-12 09:30 = 163800 s. Survey: CAROL answers 2.
        await add_release(u, id=3, model="cab", state="rolled_back", owner=BOB, created=days_ago(10),
                          window=(at(11, 12, 9), at(11, 12, 10)),
                          events=[("started", at(11, 12, 8, 45)), ("released", at(11, 12, 9, 30)),
                                  ("rolled_back", at(11, 12, 10))])
        await add_survey(u, 3, at(11, 12, 12), [CAROL], [(CAROL, "satisfaction", 2, None)])
        # R4 quick: started exactly at its planned start, released; lead 11-12 12:00 → 11-13 15:00 = 97200 s.
        # Survey: ALICE writes a comment only (a respondent, not a rating); BOB does not answer.
        await add_release(u, id=4, model="quick", state="released", owner=CAROL, created=days_ago(8),
                          window=(at(11, 13, 14), at(11, 13, 16)),
                          events=[("started", at(11, 13, 14)), ("released", at(11, 13, 15))])
        await add_survey(u, 4, at(11, 13, 17), [ALICE, BOB], [(ALICE, "comments", None, "Fine")])
        # R5 cab awaiting approval (5 days in the backlog), R6 cab planned (3 days).
        await add_release(u, id=5, model="cab", state="awaiting_approval", owner=ALICE, created=days_ago(5),
                          events=[("submitted", days_ago(4))])
        await add_release(u, id=6, model="cab", state="planned", owner=ALICE, created=days_ago(3))
        # R7 cab rejected, R8 quick cancelled.
        await add_release(u, id=7, model="cab", state="rejected", owner=ALICE, created=days_ago(4),
                          events=[("submitted", days_ago(3.9)), ("rejected", days_ago(3.5))])
        await add_release(u, id=8, model="quick", state="cancelled", owner=ALICE, created=days_ago(2),
                          events=[("cancelled", days_ago(1))])
        # R9 cab, 40 days old: released on time; lead 10-11 12:00 → 10-13 10:30 = 167400 s; rated 1.
        await add_release(u, id=9, model="cab", state="released", owner=ALICE, created=days_ago(40),
                          window=(at(10, 13, 10), at(10, 13, 11)),
                          events=[("started", at(10, 13, 10)), ("released", at(10, 13, 10, 30))])
        await add_survey(u, 9, at(10, 13, 12), [BOB], [(BOB, "satisfaction", 1, None)])
        # R10 quick, 60 days old and still planned: the oldest of the backlog, which is "now".
        await add_release(u, id=10, model="quick", state="planned", owner=DAVE, created=days_ago(60))
        # R11 cab executing: started an hour into its window (09:00–11:00): 3600 s late, in the window.
        await add_release(u, id=11, model="cab", state="executing", owner=ALICE, created=days_ago(1),
                          window=(at(11, 20, 9), at(11, 20, 11)), events=[("started", at(11, 20, 10))])
        await u.commit()
    return uow


async def test_reading_the_metrics_holds_up_no_writer(history: UnitOfWorkFactory) -> None:
    """On SQLite every other transaction takes the write lock at BEGIN; a report must not."""
    async with history(read_only=True) as reader:
        assert (await reader.metrics.backlog(["planned"], NOW, None)).count == 2

        async def plan_meanwhile() -> None:
            async with history() as writer:
                await add_release(writer, id=12, model="cab", state="planned", owner=ALICE, created=NOW)
                await writer.commit()

        await asyncio.wait_for(plan_meanwhile(), timeout=10)  # not the 30 s of SQLite's busy timeout
    async with history(read_only=True) as reader:
        assert (await reader.metrics.backlog(["planned"], NOW, None)).count == 3


def service(uow: UnitOfWorkFactory, catalog: Catalog) -> MetricsService:
    return MetricsService(uow, catalog, clock=lambda: NOW)


async def test_key_metrics_of_the_last_30_days(history: UnitOfWorkFactory, catalog: Catalog) -> None:
    m = await service(history, catalog).key_metrics(30)
    assert (m.since, m.until, m.days, m.model_key) == (NOW - timedelta(days=30), NOW, 30, None)
    # R1–R8 and R11; R9 and R10 are older.
    assert m.created == 9
    # R1 (closed) and R4 released; R2 failed; R3 rolled back after release; R7; R8; R5, R6, R11 open.
    assert (m.released, m.failed, m.rolled_back, m.rejected, m.cancelled, m.open) == (2, 1, 1, 1, 1, 3)
    assert m.executed == 4
    assert (m.success_rate, m.failure_rate, m.rollback_rate) == (0.5, 0.25, 0.25)
    # Started: R1, R2, R3, R4, R11; within the window: R1, R4, R11.
    assert (m.started, m.started_in_window, m.schedule_adherence) == (5, 3, 0.6)
    # Delays 1800 + 5400 + 0 (early) + 0 + 3600 = 10800 s over 5 starts.
    assert m.avg_start_delay == timedelta(seconds=2160)
    # Lead times 97200 (R4), 163800 (R3), 169200 (R1): median at rank 2, 90th percentile at rank 3.
    assert m.lead_times == 3
    assert m.lead_time_median == timedelta(seconds=163800)
    assert m.lead_time_p90 == timedelta(seconds=169200)
    # Backlog now: R5 (5 d), R6 (3 d), R10 (60 d), whatever their age.
    assert m.backlog == 3
    assert m.backlog_avg_wait == timedelta(days=68 / 3)
    assert (m.backlog_oldest_id, m.backlog_oldest_wait) == (10, timedelta(days=60))
    # Ratings 5, 4 (R1) and 2 (R3); R9's 1 is older. Invited 3 + 1 + 2; answered BOB, DAVE, CAROL, ALICE.
    assert (m.ratings, m.satisfaction) == (3, pytest.approx(11 / 3))
    assert (m.invitations, m.respondents, m.response_rate) == (6, 4, pytest.approx(4 / 6))


async def test_key_metrics_of_one_release_model(history: UnitOfWorkFactory, catalog: Catalog) -> None:
    m = await service(history, catalog).key_metrics(30, "cab")
    # R1, R2, R3, R5, R6, R7, R11.
    assert m.created == 7
    assert (m.released, m.failed, m.rolled_back, m.rejected, m.cancelled, m.open) == (1, 1, 1, 1, 0, 3)
    # Started R1, R2, R3, R11; in the window R1, R11; delays (1800 + 5400 + 0 + 3600) / 4.
    assert (m.started, m.started_in_window, m.avg_start_delay) == (4, 2, timedelta(seconds=2700))
    # Lead times 163800 (R3), 169200 (R1): ranks 1 and 2.
    assert (m.lead_times, m.lead_time_median, m.lead_time_p90) == (
        2, timedelta(seconds=163800), timedelta(seconds=169200))
    # R5 and R6 wait; R10 is a quick release.
    assert (m.backlog, m.backlog_avg_wait, m.backlog_oldest_id, m.backlog_oldest_wait) == (
        2, timedelta(days=4), 5, timedelta(days=5))
    assert (m.ratings, m.invitations, m.respondents) == (3, 4, 3)


async def test_a_longer_period_takes_in_older_releases(history: UnitOfWorkFactory, catalog: Catalog) -> None:
    m = await service(history, catalog).key_metrics(90)
    assert (m.created, m.released, m.open) == (11, 3, 4)   # R9 released, R10 open
    assert (m.started, m.started_in_window) == (6, 4)      # R9 started on time
    # Lead times 97200, 163800, 167400 (R9), 169200: ranks 2 and 4.
    assert (m.lead_time_median, m.lead_time_p90) == (timedelta(seconds=163800), timedelta(seconds=169200))
    assert (m.ratings, m.satisfaction) == (4, 3.0)         # 5 + 4 + 2 + 1
    assert m.backlog == 3                                  # now, whatever the period


async def test_no_releases_gives_no_rates(uow: UnitOfWorkFactory, catalog: Catalog) -> None:
    m = await service(uow, catalog).key_metrics(30)
    assert (m.created, m.executed, m.started, m.lead_times, m.backlog, m.invitations) == (0, 0, 0, 0, 0, 0)
    assert (m.success_rate, m.schedule_adherence, m.lead_time_median, m.satisfaction, m.response_rate) == (
        None, None, None, None, None)
    rendered = metrics_message(m, catalog)
    assert "no release executed yet" in str(rendered.blocks)
    assert lint_message({"text": rendered.text, "blocks": rendered.blocks}) == []


async def test_the_answer_shows_each_figure_with_its_counts(history: UnitOfWorkFactory, catalog: Catalog) -> None:
    m = await service(history, catalog).key_metrics(30)
    rendered = metrics_message(m, catalog)
    text = str(rendered.blocks)
    for expected in ("Releases planned: 9", "2 released · 1 failed · 1 rolled back · 1 rejected · 1 cancelled · 3 open",
                     "50% (2 of 4 executed)", "25% (1 of 4)", "60% started within the planned window (3 of 5)",
                     "average start delay 36 min", "median 1 d 21 h · 90th percentile 1 d 23 h (3 released)",
                     "3 not yet executed · average wait 22 d 16 h · oldest REL-10, 60 d",
                     "3.7 / 5 from 3 ratings", "67% (4 of 6 invited)", "Releases created", "the backlog is as of now"):
        assert expected in text, expected
    assert lint_message({"text": rendered.text, "blocks": rendered.blocks}) == []


@pytest.mark.parametrize(("args", "expected"), [
    ([], MetricsRequest(30, None)),
    (["90d"], MetricsRequest(90, None)),
    (["90D", "cab"], MetricsRequest(90, "cab")),
    (["CAB"], MetricsRequest(30, "cab")),
    (["quick", "7d"], MetricsRequest(7, "quick")),
])
def test_period_and_release_model_are_read(args: list[str], expected: MetricsRequest, catalog: Catalog) -> None:
    assert parse_request(args, catalog) == expected


@pytest.mark.parametrize(("args", "says"), [
    (["30"], "“30” is not a period: write a number of days followed by `d`"),
    (["3w"], "“3w” is not a period"),
    (["-5d"], "“-5d” is not a period"),
    (["0d"], "“0d” is out of range: the period is 1d to 3650d"),
    (["9999d"], "out of range"),
    (["30d", "60d"], "Give one period only"),
    (["payments"], "There is no release model “payments”; use one of: `cab`, `comms`"),
    (["cab", "quick"], "Give one release model only"),
    (["<!channel>"], "“&lt;!channel&gt;”"),
])
def test_bad_periods_and_models_say_what_to_type(args: list[str], says: str, catalog: Catalog) -> None:
    answer = parse_request(args, catalog)
    assert isinstance(answer, str)
    assert says in answer and "`/release metrics [PERIOD] [MODEL]`" in answer


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "—"), (20, "under a minute"), (45 * 60, "45 min"), (3 * 3600, "3 h"), (3 * 3600 + 20 * 60, "3 h 20 min"),
    (2 * 86400 + 4 * 3600 + 59, "2 d 4 h"), (5 * 86400, "5 d"),
])
def test_durations_read_as_people_say_them(seconds: int | None, text: str) -> None:
    assert duration(None if seconds is None else timedelta(seconds=seconds)) == text


async def test_metrics_command_answers_privately_after_the_ack(workspace: Workspace, slack: FakeSlack) -> None:
    release_id, _ = await plan_release(workspace)            # cab, planned just now: open, and waiting
    await plan_release(workspace, model="quick", title="Not counted for cab")
    seen = len(slack.responses())
    answer = await workspace.command("metrics 30d cab", by=BOB)
    assert answer.status == 200 and answer.body == ""
    reply = await slack.next_response(seen)
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    text = reply.all_text()
    assert "Key metrics · last 30 days · CAB release" in text
    assert "Releases planned: 1*" in text and "0 released" in text and "1 open" in text
    assert "1 not yet executed" in text and f"oldest REL-{release_id}" in text
    assert "release model `cab`" in text
    assert lint_calls(slack.calls) == []


async def test_metrics_command_defaults_to_30_days_of_every_model(workspace: Workspace, slack: FakeSlack) -> None:
    seen = len(slack.responses())
    await workspace.command("metrics", by=ALICE)
    text = (await slack.next_response(seen)).all_text()
    assert "Key metrics · last 30 days" in text and "Releases planned: 0" in text
    assert "no release executed yet" in text


@pytest.mark.parametrize(("typed", "says"), [
    ("metrics 30", "is not a period"),
    ("metrics 90d payments", "There is no release model “payments”"),
])
async def test_metrics_command_refuses_in_the_ack(workspace: Workspace, slack: FakeSlack, typed: str,
                                                  says: str) -> None:
    answer = await workspace.command(typed, by=ALICE)
    body = answer.json()
    assert body["response_type"] == "ephemeral" and says in body["text"] and "/release metrics" in body["text"]
    assert slack.responses() == []
