"""The change schedule (DESIGN.md §8): freezes stop execution, not planning; clashes are shown
where decisions are made; the calendar feed carries releases and freezes. EVE is the release
manager here; ALICE plans and owns, BOB approves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from bot.blackouts import Blackout, load_blackouts
from bot.catalog import CatalogError
from bot.config import Settings
from bot.freeze_input import FreezeRequest, parse_freeze
from bot.rendering.metrics import metrics_message
from handlers.app import Releasebot
from tests.conftest import (
    ALICE,
    BOB,
    CHANNEL,
    EVE,
    MODELS,
    MovableClock,
    drive,
    eventually,
    plan_release,
    settle,
    window,
)
from tests.fake_slack import FakeSlack
from tests.seed import add_release
from tests.test_home import open_home
from tests.test_window import in_days, open_window_modal, window_values
from tests.verifying import APPROVALS, approved, ask, details, state_of
from tests.workspace import SIGNING_SECRET, Workspace

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
KEYS = ("cab", "quick")
TOKEN = "calendar-token-0123456789abcdef0123456789"


@pytest.fixture
def settings(database_url: str, slack: FakeSlack) -> Settings:
    return Settings.model_validate({
        "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url, "DATABASE_URL": database_url, "RELEASEBOT_MODELS": str(MODELS),
        "RELEASEBOT_MANAGERS": EVE, "RELEASEBOT_CALENDAR_TOKEN": TOKEN,
    })


# -- reading /release freeze --------------------------------------------------------------

def parsed(text: str, zone: ZoneInfo = ZoneInfo("UTC")) -> FreezeRequest:
    request = parse_freeze(text.split(), NOW, zone, KEYS)
    assert isinstance(request, FreezeRequest), request
    return request


def problems(text: str) -> dict[str, str]:
    request = parse_freeze(text.split(), NOW, ZoneInfo("UTC"), KEYS)
    assert isinstance(request, dict), request
    return request


def test_a_freeze_from_now_for_a_duration() -> None:
    request = parsed("now 2h Incident INC-42 under investigation")
    assert (request.start, request.end) == (NOW, NOW + timedelta(hours=2))
    assert request.reason == "Incident INC-42 under investigation" and request.models is None


def test_dates_are_whole_days_and_datetimes_are_read_in_the_configured_zone() -> None:
    days = parsed("2026-12-24 2026-12-26 Holidays", BERLIN)
    assert days.start == datetime(2026, 12, 23, 23, 0, tzinfo=UTC)   # midnight in Berlin, winter
    assert days.end == datetime(2026, 12, 26, 23, 0, tzinfo=UTC)     # through the 26th
    moments = parsed("2026-12-02T18:00 3d Sales peak", BERLIN)
    assert moments.start == datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
    assert moments.end == moments.start + timedelta(days=3)


def test_models_scope_a_freeze_wherever_the_word_is() -> None:
    request = parsed("now 1d models=quick,cab Quarter close")
    assert request.models == ("quick", "cab") and request.reason == "Quarter close"


@pytest.mark.parametrize(("text", "field", "says"), [
    ("2026-12-05 2026-12-04 Backwards", "end", "must end after it starts"),
    ("now 3650d Ten years", "end", "at most 90 days"),
    ("now 2h models=nope Unknown", "models", "no release model nope"),
    ("now 2h", "reason", "Say why"),
    ("tomorrow 2h Soon", "start", "not a start"),
    ("now forever Oops", "end", "not an end"),
])
def test_bad_freezes_are_answered_with_a_sentence(text: str, field: str, says: str) -> None:
    assert says in problems(text)[field]


# -- recurring blackouts ------------------------------------------------------------------

def test_a_weekly_blackout_keeps_its_local_time_across_the_change_from_summer_time() -> None:
    friday = Blackout.model_validate({"name": "Friday afternoons", "rrule": "FREQ=WEEKLY;BYDAY=FR",
                                      "start": "15:00", "duration": "9h", "timezone": "Europe/Berlin"})
    found = friday.occurrences(datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
    assert found == [
        (datetime(2026, 10, 23, 13, 0, tzinfo=UTC), datetime(2026, 10, 23, 22, 0, tzinfo=UTC)),  # CEST
        (datetime(2026, 10, 30, 14, 0, tzinfo=UTC), datetime(2026, 10, 30, 23, 0, tzinfo=UTC)),  # CET
    ]


def test_freezes_yaml_is_checked_with_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "freezes.yaml").write_text(
        '- {name: Fridays, rrule: "FREQ=SOMETIMES", start: "15:00", duration: 9h, timezone: Mars/Olympus}\n'
        '- {name: Month end, rrule: "FREQ=MONTHLY;BYMONTHDAY=-1", start: "25:00", duration: 1d, models: [nope]}\n')
    with pytest.raises(CatalogError) as raised:
        load_blackouts(tmp_path, KEYS)
    text = str(raised.value)
    assert "freezes.yaml: 0.rrule:" in text and "freezes.yaml: 0.timezone:" in text
    assert "freezes.yaml: 1.start:" in text and "freezes.yaml: 1.models:" not in text  # 1 failed first
    (tmp_path / "freezes.yaml").write_text('- {name: M, rrule: "FREQ=DAILY", start: "01:00", duration: 1h, '
                                           'models: [nope]}\n')
    with pytest.raises(CatalogError, match="freezes.yaml: 0.models: there is no release model 'nope'"):
        load_blackouts(tmp_path, KEYS)


# -- in Slack -----------------------------------------------------------------------------

async def test_only_a_release_manager_freezes_and_bad_input_records_nothing(
        workspace: Workspace, bot: Releasebot) -> None:
    refused = await ask(workspace, "freeze now 2h Incident", by=ALICE)
    assert "Only release managers" in refused.text
    bad = await ask(workspace, "freeze 2026-12-05 2026-12-04 Backwards", by=EVE)
    assert "must end after it starts" in bad.text
    long = await ask(workspace, "freeze now 3650d Ten years", by=EVE)
    assert "at most 90 days" in long.text
    unknown = await ask(workspace, "freeze now 2h models=nope Oops", by=EVE)
    assert "no release model nope" in unknown.text
    assert await bot.services.freezes.current_and_coming() == []


async def test_a_freeze_refuses_start_until_a_release_manager_overrides_it(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, _ = await approved(workspace, bot, model="quick")
    await eventually(lambda: _is(bot, release_id, "ready"))
    made = await ask(workspace, "freeze now 2h Incident INC-42 under investigation", by=EVE)
    assert "FRZ-1" in made.text
    assert "FRZ-1" in (await ask(workspace, "freezes", by=ALICE)).text

    refused = await ask(workspace, f"start REL-{release_id}", by=ALICE)
    assert "FRZ-1 (Incident INC-42 under investigation) is in force until" in refused.text
    assert f"/release start REL-{release_id} override" in refused.text
    assert await state_of(bot, release_id) == "ready"
    not_manager = await ask(workspace, f"start REL-{release_id} override I am sure", by=ALICE)
    assert "Only a release manager" in not_manager.text
    await settle(bot)
    assert not [p for p in slack.posts() if "started" in p.text.lower() and f"REL-{release_id}" in p.text]

    started = await ask(workspace, f"start REL-{release_id} override Security fix cannot wait", by=EVE)
    assert f"REL-{release_id} is executing" in started.text
    events = [(e.kind, e.actor, e.data) for e in (await details(bot, release_id)).events]
    overridden = [e for e in events if e[0] == "freeze_overridden"]
    assert overridden and overridden[0][1] == EVE
    assert overridden[0][2]["freezes"] == ["FRZ-1"] and overridden[0][2]["reason"] == "Security fix cannot wait"
    shown = await ask(workspace, f"show REL-{release_id}", by=ALICE)
    assert "started through the freeze FRZ-1" in shown.text or "started through the freeze FRZ-1" in str(
        shown.get("blocks"))

    # The calendar shows both, parsed back by the same library.
    assert (await workspace.http.get("/calendar.ics")).status == 401
    assert (await workspace.http.get("/calendar.ics?token=wrong")).status == 401
    answer = await workspace.http.get(f"/calendar.ics?token={TOKEN}")
    assert answer.status == 200 and answer.content_type == "text/calendar"
    feed = Calendar.from_ical(await answer.read())
    events_by_uid = {str(e["UID"]): e for e in feed.walk("VEVENT")}
    assert str(events_by_uid[f"rel-{release_id}@releasebot"]["SUMMARY"]).startswith(f"REL-{release_id} ")
    assert str(events_by_uid["frz-1@releasebot"]["SUMMARY"]).startswith("FRZ-1 ")
    again = Calendar.from_ical(await (await workspace.http.get(f"/calendar.ics?token={TOKEN}")).read())
    assert {str(e["UID"]) for e in again.walk("VEVENT")} == set(events_by_uid)

    ended = await ask(workspace, "unfreeze FRZ-1", by=EVE)
    assert "FRZ-1" in ended.text and "has ended" in ended.text
    assert await bot.services.freezes.in_force("quick") == []


async def test_planning_and_the_approval_request_warn_of_a_freeze_and_a_clashing_release(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    start, end = window(days=2)
    day = start.strftime("%Y-%m-%d")
    await ask(workspace, f"freeze {day} 1d Month-end close", by=EVE)
    first, _ = await plan_release(workspace, title="Ledger 1", start=start, end=end)
    second, _ = await plan_release(workspace, title="Ledger 2", start=start, end=end)

    def told(ref: str) -> list[str]:
        return [p.all_text() for p in slack.posts() if p.channel.startswith("D") and ref in p.all_text()
                and "clashes" in p.all_text()]

    notice = (await slack.wait_for(lambda: told(f"REL-{second}")))[0]
    assert "FRZ-1" in notice and f"REL-{first}" in notice
    assert "ledger-db" in notice or "payments-api" in notice
    await ask(workspace, f"submit REL-{second}", by=ALICE)
    request = (await slack.wait_for(lambda: [p for p in slack.posts(APPROVALS) if f"REL-{second} " in p.text]))[0]
    assert "Clashes with the change schedule" in request.all_text()
    assert "FRZ-1" in request.all_text() and f"REL-{first}" in request.all_text()


async def test_planning_warns_of_a_clash_beyond_the_first_200_releases_of_a_busy_window(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    """A ten-day window met by 250 releases of other components, and one, starting last, on
    the ledger database: the owner is told of that one."""
    start, _ = window(days=2)
    async with bot.services.releases.uow() as uow:
        for n in range(250):
            at = start + timedelta(minutes=30 * n)
            await add_release(uow, id=5000 + n, model="quick", state="planned", owner=BOB, created=start,
                              window=(at, at + timedelta(minutes=20)), components=[f"service-{n}"])
        at = start + timedelta(days=9)
        await add_release(uow, id=5999, model="quick", state="approved", owner=BOB, created=start,
                          window=(at, at + timedelta(hours=1)), title="Ledger index", components=["Ledger-DB"])
        await uow.commit()
    planned, _ = await plan_release(workspace, title="Ledger migration", start=start, end=start + timedelta(days=10))

    def told() -> list[str]:
        return [p.all_text() for p in slack.posts() if p.channel.startswith("D")
                and f"REL-{planned}" in p.all_text() and "clashes" in p.all_text()]

    notice = (await slack.wait_for(told))[0]
    assert "REL-5999" in notice and "REL-5000" not in notice


async def _is(bot: Releasebot, release_id: int, state: str) -> bool:
    return await state_of(bot, release_id) == state


async def test_a_start_a_freeze_held_past_its_window_counts_as_delayed_by_a_freeze(
        workspace: Workspace, bot: Releasebot, clock: MovableClock) -> None:
    start, end = window(days=0, hours=1)
    release_id, _ = await approved(workspace, bot, model="quick", start=start + timedelta(hours=1),
                                   end=end + timedelta(hours=1))
    await eventually(lambda: _is(bot, release_id, "ready"))
    await ask(workspace, "freeze now 4h Data centre move", by=EVE)
    clock.advance(hours=3)  # the planned window has passed; the freeze is still in force
    assert "FRZ-1" in (await ask(workspace, f"start REL-{release_id}", by=ALICE)).text
    clock.advance(hours=1, minutes=30)  # the freeze is over
    assert f"REL-{release_id} is executing" in (await ask(workspace, f"start REL-{release_id}", by=ALICE)).text
    kinds = [e.kind for e in (await details(bot, release_id)).events]
    assert "delayed_by_freeze" in kinds and "freeze_overridden" not in kinds
    figures = await bot.services.metrics.key_metrics(30)
    assert (figures.started, figures.delayed_by_freeze, figures.schedule_adherence) == (1, 1, None)
    text = metrics_message(figures).blocks.__str__()
    assert "1 delayed by a freeze" in text and "counts as delayed by a freeze" in text


async def test_a_recurring_blackout_in_force_refuses_a_start(workspace: Workspace, bot: Releasebot) -> None:
    release_id, _ = await approved(workspace, bot, model="quick")
    await eventually(lambda: _is(bot, release_id, "ready"))
    now = bot.services.clock()
    bot.services.freezes.blackouts.append(Blackout.model_validate({
        "name": "Every day", "rrule": "FREQ=DAILY", "start": f"{now:%H}:00", "duration": "2h",
        "models": ["quick"], "reason": "Batch window"}))
    refused = await ask(workspace, f"start REL-{release_id}", by=ALICE)
    assert "the recurring blackout “Every day” (Batch window) is in force until" in refused.text
    assert [f.ref for f in await bot.services.freezes.in_force("quick")] == ["Every day"]
    assert await bot.services.freezes.in_force("cab") == []


async def test_the_schedule_and_the_app_home_show_freezes_beside_releases(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    await plan_release(workspace, title="Ledger 1")
    await ask(workspace, "freeze now 3d models=cab Quarter close", by=EVE)
    schedule = await ask(workspace, "schedule", by=ALICE)
    assert "FRZ-1" in schedule.all_text() and "Quarter close" in schedule.all_text()
    assert "FRZ-1" in str(await open_home(workspace, ALICE))


async def test_the_review_shows_a_start_through_a_freeze(workspace: Workspace, bot: Releasebot,
                                                         slack: FakeSlack) -> None:
    release_id, _ = await approved(workspace, bot, model="quick")
    await eventually(lambda: _is(bot, release_id, "ready"))
    await ask(workspace, "freeze now 2h Incident INC-42", by=EVE)
    await ask(workspace, f"start REL-{release_id} override Security fix cannot wait", by=EVE)
    await drive(bot, release_id, "released")
    assert (await workspace.command(f"review REL-{release_id}", by=ALICE)).status == 200
    review = await slack.wait_for(lambda: [p for p in slack.posts(CHANNEL) if "Started through the freeze FRZ-1"
                                           in p.all_text()])
    assert "Security fix cannot wait" in review[0].all_text()


async def test_moving_a_window_into_a_freeze_tells_the_owner(workspace: Workspace, bot: Releasebot,
                                                              slack: FakeSlack) -> None:
    start, end = in_days(3)
    release_id, card = await plan_release(workspace, start=start, end=end)
    later, later_end = in_days(6)
    await ask(workspace, f"freeze {later:%Y-%m-%d} 1d Audit", by=EVE)
    await settle(bot)
    assert not [p for p in slack.posts() if "clashes" in p.all_text()]  # the first window was clear
    view = await open_window_modal(workspace, slack, card)
    assert (await workspace.submit_view(view, window_values(later, later_end), by=ALICE)).status == 200
    notice = await slack.wait_for(lambda: [p for p in slack.posts() if p.channel.startswith("D")
                                           and "new window" in p.all_text()])
    assert f"REL-{release_id}" in notice[0].all_text() and "FRZ-1" in notice[0].all_text()
