"""`/release announce` previews the next communication privately, with Send now and Skip;
`/release schedule` lists the releases ahead and marks those that clash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handlers.app import Releasebot
from tests import drive
from tests.blockkit_lint import lint_calls, lint_message
from tests.conftest import ALICE, BOB, MovableClock, plan_release, settle
from tests.fake_slack import Call, FakeSlack
from tests.seed import add_release
from tests.workspace import Workspace

ANNOUNCE = "CANNOUNCE"


async def approved_release(workspace: Workspace, bot: Releasebot, slack: FakeSlack, days: float = 2) -> int:
    start = (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)
    release_id, _ = await plan_release(workspace, model="comms", start=start, end=start + timedelta(hours=1))
    await drive.approve(bot, release_id)
    await slack.wait_for_calls("chat.postMessage", channel=ANNOUNCE)  # "planned", at once
    return release_id


async def announce(workspace: Workspace, slack: FakeSlack, release_id: int, by: str = ALICE) -> Call:
    seen = len(slack.responses())
    answer = await workspace.command(f"announce REL-{release_id}", by=by)
    assert answer.status == 200
    return await slack.next_response(seen)


async def click(workspace: Workspace, slack: FakeSlack, label: str, on: Call, by: str = ALICE) -> Call:
    seen = len(slack.responses())
    answer = await workspace.click(label, on=on, by=by)
    assert answer.status == 200
    return await slack.next_response(seen)


async def test_the_preview_shows_the_next_communication_privately(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack
) -> None:
    release_id = await approved_release(workspace, bot, slack)
    preview = await announce(workspace, slack, release_id)
    assert preview["response_type"] == "ephemeral"
    text = preview.all_text()
    assert f"Next communication of *REL-{release_id}*: “upcoming” to <#CANNOUNCE>, due <!date^" in text
    assert "Coming up: Payments API 2.3" in text
    assert [b["text"]["text"] for b in preview.buttons()] == ["Send now", "Skip"]
    assert lint_message(preview.params) == [] and lint_calls(slack.calls) == []


async def test_send_now_twice_sends_it_once(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, clock: MovableClock
) -> None:
    release_id = await approved_release(workspace, bot, slack)
    preview = await announce(workspace, slack, release_id)
    first = await click(workspace, slack, "Send now", preview)
    second = await click(workspace, slack, "Send now", preview)
    assert first.text.startswith(":outbox_tray: Sending “upcoming” to <#CANNOUNCE> now.")
    assert first["replace_original"] is True and not first.buttons()
    assert "on its way" in second.text or "already sent" in second.text
    upcoming = (await slack.wait_for_calls("chat.postMessage", 2, channel=ANNOUNCE))[1]
    assert upcoming.text.startswith(":hourglass_flowing_sand: *Coming up")

    clock.advance(timedelta(days=3))  # its original due time passes too
    await settle(bot)
    assert len(slack.posts(ANNOUNCE)) == 2
    third = await click(workspace, slack, "Send now", preview)
    assert "was already sent" in third.text


async def test_skip_withdraws_it_and_the_record_says_who(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack, clock: MovableClock
) -> None:
    release_id = await approved_release(workspace, bot, slack)
    preview = await announce(workspace, slack, release_id)
    skipped = await click(workspace, slack, "Skip", preview)
    assert skipped.text.startswith(":fast_forward: Skipped “upcoming”")
    clock.advance(timedelta(days=3))
    await settle(bot)
    assert len(slack.posts(ANNOUNCE)) == 1
    assert "withdrawn or skipped" in (await click(workspace, slack, "Send now", preview)).text
    details = await bot.services.releases.show(release_id)
    assert details is not None
    event = [e for e in details.events if e.kind == "communication_skipped"][0]
    assert event.actor == ALICE and event.data["template"] == "upcoming"
    seen = len(slack.responses())
    await workspace.command(f"show REL-{release_id}", by=ALICE)
    assert "“upcoming” for <#CANNOUNCE> skipped by <@UALICE>" in (await slack.next_response(seen)).all_text()


async def test_others_see_the_preview_but_cannot_send_or_skip(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack
) -> None:
    release_id = await approved_release(workspace, bot, slack)
    theirs = await announce(workspace, slack, release_id, by=BOB)
    assert not theirs.buttons() and "Only the release owner, <@UALICE>" in theirs.all_text()
    owners = await announce(workspace, slack, release_id)
    refused = await click(workspace, slack, "Send now", owners, by=BOB)
    assert "Only the release owner, <@UALICE>" in refused.text
    await settle(bot)
    assert len(slack.posts(ANNOUNCE)) == 1


async def test_with_nothing_queued_it_says_what_the_plan_will_send(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack
) -> None:
    release_id, _ = await plan_release(workspace, model="comms")
    answer = (await announce(workspace, slack, release_id)).text
    assert f"Nothing is queued for REL-{release_id} (planned) right now." in answer
    assert "“planned” when approved; “upcoming” 1d before the start" in answer


@pytest.mark.parametrize("text", ["announce", "announce banana"])
async def test_announce_without_a_release_asks_which(workspace: Workspace, text: str) -> None:
    answer = await workspace.command(text, by=ALICE)
    assert "Say which release" in answer.json()["text"] and answer.json()["response_type"] == "ephemeral"


async def test_announce_an_unknown_release_says_so(workspace: Workspace, slack: FakeSlack) -> None:
    assert "There is no REL-42" in (await announce(workspace, slack, 42)).text


# --- /release schedule --------------------------------------------------------------------------


async def plan(bot: Releasebot, title: str, start: datetime, hours: int, *components: str) -> int:
    outcome = await bot.services.releases.plan(drive.draft("comms", start, title=title, hours=hours,
                                                           components=components))
    assert outcome.value is not None
    return outcome.value.id


async def test_schedule_lists_upcoming_releases_and_marks_clashes(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack
) -> None:
    day = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    payments = await plan(bot, "Payments API 2.3", day, 2, "payments-api", "ledger-db")
    ledger = await plan(bot, "Ledger migration", day + timedelta(hours=1), 2, "Ledger-DB ")
    later = await plan(bot, "Payments hotfix", day + timedelta(hours=2), 1, "payments-api")
    search = await plan(bot, "Search reindex", day, 4, "search")
    far = await plan(bot, "Next quarter", day + timedelta(days=20), 1, "payments-api")
    called_off = await plan(bot, "Cancelled one", day, 2, "payments-api")
    await drive.cancel(bot, called_off)

    seen = len(slack.responses())
    await workspace.command("schedule", by=BOB)
    listing = await slack.next_response(seen)
    text = listing.all_text()
    assert listing["response_type"] == "ephemeral" and lint_message(listing.params) == []
    assert "Release schedule: the next 14 days" in text and "1 overlap on shared components" in text
    lines = [line for line in listing.mrkdwn().splitlines() if "*REL-" in line and "↳" not in line]
    assert [int(line.split("*REL-")[1].split("*")[0]) for line in lines] == [payments, search, ledger, later]
    assert f"*REL-{far}*" not in text and f"*REL-{called_off}*" not in text
    assert f":warning: *REL-{payments}*" in text and f":warning: *REL-{ledger}*" in text
    assert f":warning: *REL-{later}*" not in text and f":warning: *REL-{search}*" not in text
    assert f"↳ overlaps *REL-{ledger}* Ledger migration on `ledger-db`" in text

    await workspace.command("schedule 30", by=BOB)
    assert f"*REL-{far}*" in (await slack.next_response(seen + 1)).all_text()


async def test_a_busy_schedule_counts_every_release_and_finds_clashes_beyond_those_it_reads_first(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack
) -> None:
    """250 releases an hour apart, and a long migration early on that overlaps one planned a
    week later, beyond the first 200 by start: the count is the whole period's, and the clash
    is found although the later release is not listed."""
    hour = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    async with bot.services.releases.uow() as uow:
        for n in range(250):
            start = hour + timedelta(hours=n)
            await add_release(uow, id=2000 + n, model="comms", state="planned", owner=BOB, created=hour,
                              window=(start, start + timedelta(minutes=30)), components=[f"service-{n}"])
        await add_release(uow, id=3000, model="comms", state="planned", owner=BOB, created=hour,
                          window=(hour + timedelta(hours=49, minutes=40), hour + timedelta(hours=230)),
                          title="Long ledger migration", components=["ledger-db"])
        await add_release(uow, id=3001, model="comms", state="approved", owner=BOB, created=hour,
                          window=(hour + timedelta(hours=220, minutes=10), hour + timedelta(hours=221)),
                          title="Ledger index", components=["Ledger-DB"])
        await uow.commit()
    seen = len(slack.responses())
    await workspace.command("schedule", by=BOB)
    listing = await slack.next_response(seen)
    text = listing.all_text()
    assert lint_message(listing.params) == []
    assert "252 releases from" in text and "…and 152 more" in text
    assert "1 overlap on shared components involving the first 100" in text
    assert ":warning: *REL-3000* Long ledger migration" in text
    assert "↳ overlaps *REL-3001* Ledger index on `ledger-db`" in text
    assert "*REL-3001* Ledger index ·" not in text  # counted, not listed


async def test_an_empty_schedule_says_so(workspace: Workspace, slack: FakeSlack) -> None:
    seen = len(slack.responses())
    await workspace.command("schedule 7", by=BOB)
    assert "Nothing is planned" in (await slack.next_response(seen)).all_text()


@pytest.mark.parametrize("days", ["0", "lots", "999", "-3"])
async def test_schedule_with_a_bad_number_of_days_says_how(workspace: Workspace, days: str) -> None:
    answer = await workspace.command(f"schedule {days}", by=ALICE)
    assert "is not a number of days" in answer.json()["text"] and "/release schedule 30" in answer.json()["text"]


async def test_a_long_schedule_stays_within_block_kit_limits(
    bot: Releasebot, workspace: Workspace, slack: FakeSlack
) -> None:
    day = datetime.now(UTC) + timedelta(days=1)
    for n in range(60):
        await plan(bot, f"<!channel> release {n} " + "x" * 140, day + timedelta(minutes=n), 3,
                   *(f"component-{c}" for c in range(20)))
    seen = len(slack.responses())
    await workspace.command("schedule", by=BOB)
    listing = await slack.next_response(seen)
    assert lint_message(listing.params) == []
    assert "<!channel>" not in listing.mrkdwn()
