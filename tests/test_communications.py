"""The communication plan of a release model, carried out: the right message, to the right
people, once and on time. Time is moved with the bot's clock, never waited for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.catalog import Catalog
from bot.config import Settings
from bot.records import DeliveryRecord
from handlers.app import Releasebot, build
from tests import drive
from tests.blockkit_lint import lint_calls
from tests.conftest import ALICE, MovableClock, plan_release, settle
from tests.fake_slack import FakeSlack
from tests.workspace import Workspace

ANNOUNCE = "CANNOUNCE"


async def deliveries(bot: Releasebot, release_id: int) -> dict[str, DeliveryRecord]:
    details = await bot.services.releases.show(release_id)
    assert details is not None
    return {d.dedupe_key: d for d in details.deliveries}


async def events(bot: Releasebot, release_id: int) -> list[str]:
    details = await bot.services.releases.show(release_id)
    assert details is not None
    return [str(e.kind) for e in details.events]


def in_days(days: float, hours: int = 1) -> dict[str, datetime]:
    start = (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)
    return {"start": start, "end": start + timedelta(hours=hours)}


async def plan_comms(workspace: Workspace, days: float = 2, **values: object) -> int:
    release_id, _ = await plan_release(workspace, model="comms", **{**in_days(days), **values})
    return release_id


async def move_clock_to(clock: MovableClock, moment: datetime) -> None:
    clock.advance(moment - clock() + timedelta(seconds=1))


async def test_approval_announces_the_plan_at_once_and_schedules_the_rest(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack
) -> None:
    release_id = await plan_comms(workspace)
    record = await drive.approve(bot, release_id)
    planned = (await slack.wait_for_calls("chat.postMessage", channel=ANNOUNCE))[0]
    assert planned.text.startswith(":spiral_calendar_pad: *Planned: Payments API 2.3*")
    assert "push release" in planned.all_text() and "<@UALICE>" in planned.all_text()
    await settle(bot)

    pending = {k: d for k, d in (await deliveries(bot, release_id)).items() if d.state == "pending"}
    start = record.planned_start
    ref, v = f"REL-{release_id}", f"v{record.version}"
    assert {k: d.due_at for k, d in pending.items()} == {
        f"{ref}:comm:upcoming:before-1d:{v}": start - timedelta(hours=24),
        f"{ref}:remind:starting_soon:before-1h:{v}:{ALICE}": start - timedelta(hours=1),
        f"{ref}:remind:starting_soon:before-30m:{v}:UBOB": start - timedelta(minutes=30),
        f"{ref}:remind:starting_soon:before-30m:{v}:SCAB": start - timedelta(minutes=30),
    }
    assert len(slack.posts(ANNOUNCE)) == 1 and slack.posts(ALICE) == []


async def test_each_scheduled_message_leaves_once_when_it_comes_due(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, clock: MovableClock
) -> None:
    release_id = await plan_comms(workspace)
    record = await drive.approve(bot, release_id)
    await slack.wait_for_calls("chat.postMessage", channel=ANNOUNCE)
    start = record.planned_start

    await move_clock_to(clock, start - timedelta(hours=24))
    upcoming = (await slack.wait_for_calls("chat.postMessage", 2, channel=ANNOUNCE))[1]
    assert upcoming.text.startswith(":hourglass_flowing_sand: *Coming up: Payments API 2.3*")
    assert slack.posts(ALICE) == []

    await move_clock_to(clock, start - timedelta(hours=1))
    reminder = (await slack.wait_for_calls("chat.postMessage", channel=ALICE))[0]
    assert f"/release start REL-{release_id}" in reminder.all_text()

    await move_clock_to(clock, start - timedelta(minutes=30))
    for approver in ("UBOB", "UCAROL", "UDAVE"):  # SCAB is Carol and Dave, through usergroups.users.list
        dm = (await slack.wait_for_calls("chat.postMessage", channel=approver))[0]
        assert "You approve releases of *Announced release*" in dm.all_text()

    await move_clock_to(clock, start + timedelta(days=3))
    await settle(bot)
    assert len(slack.posts(ANNOUNCE)) == 2
    assert {c["channel"] for c in slack.posts() if c["channel"].startswith("U")} == {ALICE, "UBOB", "UCAROL", "UDAVE"}
    assert len([c for c in slack.posts() if c["channel"].startswith("U")]) == 4
    assert (await events(bot, release_id)).count("communication_sent") == 6
    assert lint_calls(slack.calls) == []


async def test_approval_after_the_due_time_sends_before_the_start_or_skips_after_it(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack
) -> None:
    soon = await plan_comms(workspace, days=2 / 24, title="Starts in two hours")
    late = await plan_comms(workspace, days=-1 / 24, title="Started an hour ago")
    await drive.approve(bot, soon)
    await drive.approve(bot, late)
    await slack.wait_for(lambda: len(slack.posts(ANNOUNCE)) >= 3)
    await settle(bot)
    texts = [c.text for c in slack.posts(ANNOUNCE)]
    assert any("Coming up: Starts in two hours" in t for t in texts)  # 24h before has passed: now
    assert not any("Coming up: Started an hour ago" in t for t in texts)  # the start has passed: skipped
    assert len([t for t in texts if "Planned:" in t]) == 2 and len(texts) == 3

    soon_rows = await deliveries(bot, soon)
    assert [d.state for k, d in soon_rows.items() if ":remind:starting_soon:before-1h:" in k] == ["pending"]
    details = await bot.services.releases.show(late)
    assert details is not None
    skipped = [e for e in details.events if e.kind == "communication_skipped"]
    assert {e.data["template"] for e in skipped} == {"upcoming", "starting_soon"}
    assert all("planned start had passed" in e.data["reason"] for e in skipped)
    assert not [d for d in details.deliveries if d.state == "pending"]


async def test_cancelling_withdraws_what_was_scheduled_and_announces_the_cancellation(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, clock: MovableClock
) -> None:
    release_id = await plan_comms(workspace)
    record = await drive.approve(bot, release_id)
    await slack.wait_for_calls("chat.postMessage", channel=ANNOUNCE)
    await drive.cancel(bot, release_id, reason="<!channel> change freeze")
    cancelled = (await slack.wait_for_calls("chat.postMessage", 2, channel=ANNOUNCE))[1]
    assert cancelled.text.startswith(":heavy_multiplication_x: *Cancelled: Payments API 2.3*")
    assert "&lt;!channel&gt; change freeze" in cancelled.mrkdwn() and "<!channel>" not in cancelled.mrkdwn()

    await move_clock_to(clock, record.planned_start + timedelta(hours=1))
    await settle(bot)
    # the card, the approval request, planned, cancelled
    assert len(slack.posts(ANNOUNCE)) == 2 and len(slack.posts()) == 4
    states = {k.split(":")[2]: d.state for k, d in (await deliveries(bot, release_id)).items() if ":comm:" in k
              or ":remind:" in k}
    assert states == {"approved": "sent", "upcoming": "withdrawn", "starting_soon": "withdrawn",
                      "cancelled": "sent"}
    details = await bot.services.releases.show(release_id)
    assert details is not None
    withdrawn = [e for e in details.events if e.kind == "communications_withdrawn"]
    assert len(withdrawn) == 1 and withdrawn[0].data["count"] == 4
    assert withdrawn[0].data["reason"] == f"REL-{release_id} is cancelled"


async def test_starting_early_withdraws_the_messages_timed_from_the_start(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack
) -> None:
    release_id = await plan_comms(workspace)
    await drive.approve(bot, release_id)
    await drive.ready(bot, release_id)
    assert [d.state for d in (await deliveries(bot, release_id)).values() if d.state == "pending"]  # still wanted
    await drive.start(bot, release_id)
    await settle(bot)
    assert not [d for d in (await deliveries(bot, release_id)).values() if d.state == "pending"]


async def test_released_is_announced_with_a_follow_up_that_a_rollback_withdraws(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, clock: MovableClock
) -> None:
    release_id = await plan_comms(workspace)
    await drive.approve(bot, release_id)
    await drive.release(bot, release_id)
    released = await slack.wait_for(lambda: [c for c in slack.posts(ANNOUNCE) if "*Released:" in c.text])
    assert "live for everyone" in released[0].all_text()
    follow_up = [d for k, d in (await deliveries(bot, release_id)).items() if ":follow_up:after-2h" in k]
    assert [d.state for d in follow_up] == ["pending"]

    await drive.rollback(bot, release_id, reason="Error rate doubled")
    rolled = await slack.wait_for(lambda: [c for c in slack.posts(ANNOUNCE) if "*Rolled back:" in c.text])
    assert "Error rate doubled" in rolled[0].all_text()
    clock.advance(timedelta(hours=3))
    await settle(bot)
    assert not [c for c in slack.posts(ANNOUNCE) if "How is it working" in c.text]
    assert [d.state for k, d in (await deliveries(bot, release_id)).items() if ":follow_up:" in k] == ["withdrawn"]


async def test_a_follow_up_after_release_leaves_at_its_offset(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, clock: MovableClock
) -> None:
    release_id = await plan_comms(workspace)
    await drive.approve(bot, release_id)
    await drive.release(bot, release_id)
    clock.advance(timedelta(hours=2, seconds=1))
    follow_up = await slack.wait_for(lambda: [c for c in slack.posts(ANNOUNCE) if "How is it working" in c.text])
    assert "has been out for 2 hours" in follow_up[0].text  # the models folder's own template


async def test_a_failed_release_says_which_checks_did_not_pass(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack
) -> None:
    release_id = await plan_comms(workspace)
    await drive.approve(bot, release_id)
    await drive.release(bot, release_id, passed=False)
    failed = await slack.wait_for(lambda: [c for c in slack.posts(ANNOUNCE) if "failed verification" in c.text])
    assert "Not passed: Smoke tests pass." in failed[0].all_text()


async def test_a_model_without_communications_sends_none(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack
) -> None:
    release_id, _ = await plan_release(workspace, model="quick", **in_days(2))
    await drive.approve(bot, release_id)
    await drive.release(bot, release_id)
    await settle(bot)
    # the card (and its updates) and the approval request: no announcement
    assert [c["channel"] for c in slack.posts()] == ["C0RELEASES", "CAPPROVALS"]


async def test_user_group_members_are_looked_up_once_for_many_reminders(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, clock: MovableClock
) -> None:
    first = await plan_comms(workspace, title="First")
    second = await plan_comms(workspace, title="Second")
    record = await drive.approve(bot, first)
    await drive.approve(bot, second)
    await move_clock_to(clock, record.planned_start - timedelta(minutes=30))
    await slack.wait_for(lambda: len(slack.posts("UCAROL")) >= 2 and len(slack.posts("UDAVE")) >= 2)
    await settle(bot)
    assert len(slack.calls_to("usergroups.users.list")) == 1  # cached briefly


async def test_a_scheduled_message_is_sent_once_by_the_bot_that_restarts(
    settings: Settings, catalog: Catalog, slack: FakeSlack
) -> None:
    """The durable schedule is the outbox: a bot that stops (or dies) before a message is due
    loses nothing; the next one sends it, once."""
    first = build(settings, catalog)
    await first.start()
    start = datetime.now(UTC) + timedelta(days=2)
    outcome = await first.services.releases.plan(drive.draft("comms", start))
    assert outcome.value is not None
    await drive.approve(first, outcome.value.id)
    await slack.wait_for(lambda: slack.posts(ANNOUNCE))
    await settle(first)
    await first.stop()

    later = MovableClock()
    later.advance(timedelta(days=1, seconds=1))  # the upcoming announcement is due now
    second = build(settings, catalog, clock=later)
    await second.start()
    try:
        await slack.wait_for(lambda: len(slack.posts(ANNOUNCE)) >= 2)
        await settle(second)
    finally:
        await second.stop()
    assert [c.text.split("*")[1] for c in slack.posts(ANNOUNCE)] == ["Planned: Payments API 2.3",
                                                                     "Coming up: Payments API 2.3"]


async def test_the_release_record_lists_what_is_scheduled(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack
) -> None:
    release_id = await plan_comms(workspace)
    await drive.approve(bot, release_id)
    await slack.wait_for_calls("chat.postMessage", channel=ANNOUNCE)
    await settle(bot)
    seen = len(slack.responses())
    await workspace.command(f"show REL-{release_id}", by=ALICE)
    record = (await slack.next_response(seen)).all_text()
    assert "Scheduled communications" in record
    assert "• “upcoming” to <#CANNOUNCE>, due <!date^" in record and "• “starting_soon” to <@UALICE>" in record
    assert "“planned” sent to <#CANNOUNCE>" in record  # in the history
