"""The post-release survey (cab model: recipients BOB and the USERS group of DAVE and EVE;
sent 2h after release, closes after 3 days)."""

from __future__ import annotations

from bot.catalog import Catalog
from bot.config import Settings
from handlers.app import Releasebot, build
from tests.blockkit_lint import lint_calls
from tests.conftest import ALICE, BOB, DAVE, EVE, MovableClock, drive, plan_release, settle
from tests.fake_slack import Call, FakeSlack
from tests.workspace import Workspace

RECIPIENTS = {BOB, DAVE, EVE}


async def released(workspace: Workspace, bot: Releasebot) -> int:
    release_id, _ = await plan_release(workspace, description="Refunds in one click")
    await drive(bot, release_id, "awaiting_approval", "approved", "ready", "executing", "released")
    return release_id


def surveys(slack: FakeSlack, release_id: int) -> dict[str, Call]:
    """The survey DM each recipient got, by recipient."""
    return {c["channel"]: c for c in slack.posts() if c.text.startswith(f"How did REL-{release_id} ")}


async def due(bot: Releasebot, clock: MovableClock, **delta: float) -> None:
    clock.advance(**delta)
    await bot.services.surveys.tick()
    await settle(bot)


async def test_survey_goes_to_each_recipient_once_after_the_release(workspace: Workspace, bot: Releasebot,
                                                                    slack: FakeSlack, clock: MovableClock) -> None:
    release_id = await released(workspace, bot)
    await due(bot, clock, hours=1)
    assert surveys(slack, release_id) == {}
    await due(bot, clock, hours=1, minutes=1)
    sent = surveys(slack, release_id)
    assert set(sent) == RECIPIENTS
    dm = sent[DAVE]
    assert "Refunds in one click" in dm.mrkdwn() and "payments-api" in dm.mrkdwn()
    assert [b["text"]["text"] for b in dm.buttons()] == ["1", "2", "3", "4", "5", "Add a comment"]
    await due(bot, clock, minutes=5)
    seen = len(slack.responses())
    await workspace.command(f"survey REL-{release_id}", by=ALICE)
    assert "already sent to everyone" in (await slack.next_response(seen)).text
    await settle(bot)
    assert len([c for c in slack.posts() if c.text.startswith(f"How did REL-{release_id} ")]) == 3
    assert lint_calls(slack.calls) == []


async def test_a_restarted_bot_does_not_ask_again(workspace: Workspace, bot: Releasebot, slack: FakeSlack,
                                                  clock: MovableClock, settings: Settings, catalog: Catalog) -> None:
    release_id = await released(workspace, bot)
    await due(bot, clock, hours=3)
    second = build(settings, catalog, clock=clock)
    await second.start()
    try:
        await second.services.surveys.tick()
        await settle(second)
    finally:
        await second.stop()
    assert len([c for c in slack.posts() if c.text.startswith(f"How did REL-{release_id} ")]) == 3


async def test_a_survey_due_while_the_bot_was_down_is_sent_late_but_not_once_its_window_has_passed(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack, clock: MovableClock) -> None:
    """Due 2h after the release and open 3 days: a day late it still goes; once 2h and 3 days
    have passed it would only ask about a release long behind everyone, so it stays unsent
    (a release manager can still send it with `/release survey`)."""
    late = await released(workspace, bot)
    await due(bot, clock, days=1)
    assert set(surveys(slack, late)) == RECIPIENTS
    gone = await released(workspace, bot)
    await due(bot, clock, days=3, hours=2, minutes=1)
    assert surveys(slack, gone) == {}
    seen = len(slack.responses())
    await workspace.command(f"survey REL-{gone}", by=ALICE)
    assert "is on its way" in (await slack.next_response(seen)).text
    await settle(bot)
    assert set(surveys(slack, gone)) == RECIPIENTS


async def test_a_changed_rating_replaces_the_answer(workspace: Workspace, bot: Releasebot, slack: FakeSlack,
                                                    clock: MovableClock) -> None:
    release_id = await released(workspace, bot)
    await due(bot, clock, hours=3)
    dm = surveys(slack, release_id)[DAVE]
    await workspace.click("4", on=dm, by=DAVE)
    await slack.wait_for(lambda: "you answered *4*" in slack.message(dm.channel, dm.ts).mrkdwn())
    await workspace.click("2", on=slack.message(dm.channel, dm.ts), by=DAVE)
    await slack.wait_for(lambda: "you answered *2*" in slack.message(dm.channel, dm.ts).mrkdwn())
    async with bot.services.releases.uow() as uow:
        answers = await uow.surveys.answers(release_id)
    assert [(a.respondent, a.question_key, a.rating) for a in answers] == [(DAVE, "satisfaction", 2)]


async def test_comments_are_recorded_from_the_modal(workspace: Workspace, bot: Releasebot, slack: FakeSlack,
                                                    clock: MovableClock) -> None:
    release_id = await released(workspace, bot)
    await due(bot, clock, hours=3)
    dm = surveys(slack, release_id)[EVE]
    await workspace.click("Add a comment", on=dm, by=EVE)
    modal = (await slack.wait_for_calls("views.open", 2))[1]["view"]
    assert [b["block_id"] for b in modal["blocks"]] == ["comments"]
    empty = await workspace.submit_view(modal, {"comments": {"comments": {"type": "plain_text_input",
                                                                          "value": "  "}}}, by=EVE)
    assert empty.json()["response_action"] == "errors"
    await workspace.submit_view(modal, {"comments": {"comments": {"type": "plain_text_input",
                                                                  "value": "Announce <!here> earlier"}}}, by=EVE)
    await slack.wait_for(lambda: "Change your comment" in slack.message(dm.channel, dm.ts).all_text())
    async with bot.services.releases.uow() as uow:
        answers = await uow.surveys.answers(release_id)
    assert [(a.respondent, a.text) for a in answers] == [(EVE, "Announce <!here> earlier")]


async def test_non_respondents_are_reminded_once_before_it_closes(workspace: Workspace, bot: Releasebot,
                                                                  slack: FakeSlack, clock: MovableClock) -> None:
    release_id = await released(workspace, bot)
    await due(bot, clock, hours=3)
    dm = surveys(slack, release_id)[DAVE]
    await workspace.click("5", on=dm, by=DAVE)
    await slack.wait_for(lambda: "you answered *5*" in slack.message(dm.channel, dm.ts).mrkdwn())
    await due(bot, clock, days=1)
    assert not [c for c in slack.posts() if c.text.startswith(f"How did REL-{release_id}") and
                "Reminder" in c.mrkdwn()]
    await due(bot, clock, days=1, hours=1)  # within a day of closing
    await due(bot, clock, hours=1)
    reminders = [c for c in slack.posts() if "Reminder: the survey closes soon" in c.mrkdwn()]
    assert sorted(c["channel"] for c in reminders) == sorted([BOB, EVE])


async def test_a_closed_survey_refuses_answers(workspace: Workspace, bot: Releasebot, slack: FakeSlack,
                                               clock: MovableClock) -> None:
    release_id = await released(workspace, bot)
    await due(bot, clock, hours=3)
    dm = surveys(slack, release_id)[BOB]
    await due(bot, clock, days=3)
    seen = len(slack.responses())
    await workspace.click("3", on=dm, by=BOB)
    assert "This survey has closed" in (await slack.next_response(seen)).text
    async with bot.services.releases.uow() as uow:
        assert await uow.surveys.answers(release_id) == []


async def test_survey_command_rules(workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, _ = await plan_release(workspace)
    seen = len(slack.responses())
    await workspace.command(f"survey REL-{release_id}", by=ALICE)
    assert "survey is for releases that have been executed" in (await slack.next_response(seen)).text
    await drive(bot, release_id, "awaiting_approval", "approved", "ready", "executing", "released")
    await workspace.command(f"survey REL-{release_id}", by=BOB)
    assert "Only the release owner" in (await slack.next_response(seen + 1)).text
    await workspace.command(f"survey REL-{release_id}", by=ALICE)
    assert "is on its way" in (await slack.next_response(seen + 2)).text
    await settle(bot)
    assert set(surveys(slack, release_id)) == RECIPIENTS
    quick, _ = await plan_release(workspace, model="quick")
    await drive(bot, quick, "awaiting_approval", "approved", "ready", "executing", "released")
    await workspace.command(f"survey REL-{quick}", by=ALICE)
    assert "has no survey" in (await slack.next_response(seen + 3)).text
