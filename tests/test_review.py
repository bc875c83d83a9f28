"""The release review: the report from the record, lessons learnt, and closing the release."""

from __future__ import annotations

from handlers.app import Releasebot
from tests.blockkit_lint import lint_calls
from tests.conftest import ALICE, BOB, CAROL, DAVE, EVE, MovableClock, drive, eventually, settle
from tests.fake_slack import FakeSlack
from tests.test_approvals import request_now, submitted
from tests.test_surveys import due, surveys
from tests.workspace import Workspace

TEXT = {"type": "plain_text_input"}


async def reviewed_release(workspace: Workspace, bot: Releasebot, slack: FakeSlack, clock: MovableClock) -> int:
    """A release approved by BOB and CAROL, executed, released, surveyed and answered."""
    release_id, request = await submitted(workspace)
    await workspace.click("Approve", on=request, by=BOB)
    await slack.wait_for(lambda: "1 of 2" in request_now(slack, request).mrkdwn())
    await workspace.click("Approve", on=request_now(slack, request), by=CAROL)
    await eventually(lambda: _state(bot, release_id, "approved"))
    await drive(bot, release_id, "ready", "executing", "released", by=ALICE)
    await due(bot, clock, hours=3)
    dms = surveys(slack, release_id)
    await workspace.click("4", on=dms[DAVE], by=DAVE)
    await workspace.click("2", on=dms[EVE], by=EVE)
    await slack.wait_for(lambda: "you answered *2*" in slack.message(dms[EVE].channel, dms[EVE].ts).mrkdwn())
    await workspace.click("5", on=slack.message(dms[EVE].channel, dms[EVE].ts), by=EVE)
    await workspace.click("Add a comment", on=dms[BOB], by=BOB)
    modal = (await slack.wait_for(lambda: [c for c in slack.calls_to("views.open")
                                           if c["view"]["callback_id"] == "survey_comment_view"]))[0]["view"]
    await workspace.submit_view(modal, {"comments": {"comments": {**TEXT, "value": "Smooth, announce earlier"}}},
                                by=BOB)
    await slack.wait_for(lambda: "you answered *5*" in slack.message(dms[EVE].channel, dms[EVE].ts).mrkdwn())
    await slack.wait_for(lambda: "Change your comment" in slack.message(dms[BOB].channel, dms[BOB].ts).all_text())
    return release_id


async def _state(bot: Releasebot, release_id: int, state: str) -> bool:
    record = await bot.services.releases.get(release_id)
    return record is not None and record.state.value == state


async def test_review_report_shows_what_happened(workspace: Workspace, bot: Releasebot, slack: FakeSlack,
                                                 clock: MovableClock) -> None:
    release_id = await reviewed_release(workspace, bot, slack, clock)
    await workspace.command(f"review REL-{release_id}", by=CAROL, channel="CREVIEWS")
    report = (await slack.wait_for_calls("chat.postMessage", channel="CREVIEWS"))[0]
    text = report.mrkdwn()
    assert "*Outcome:* released" in text
    assert "Approvals* (2 of 2)" in text and "<@UBOB> approved" in text and "<@UCAROL> approved" in text
    assert "Responses: 3 of 3" in text and "average rating 4.5 of 5" in text
    assert "1: 0 · 2: 0 · 3: 0 · 4: 1 · 5: 1" in text
    assert "Smooth, announce earlier — <@UBOB>" in text
    assert "Actual: <!date^" in text
    assert [b["text"]["text"] for b in report.buttons()] == ["Add lessons learnt", "Close release"]
    assert lint_calls(slack.calls) == []


async def test_lessons_learnt_are_added_by_the_owner_and_the_release_closes(
    workspace: Workspace, bot: Releasebot, slack: FakeSlack, clock: MovableClock
) -> None:
    release_id = await reviewed_release(workspace, bot, slack, clock)
    seen = len(slack.responses())
    await workspace.command(f"close REL-{release_id}", by=ALICE)
    assert "Review REL-" in (await slack.next_response(seen)).text  # review first
    await workspace.command(f"review REL-{release_id}", by=ALICE)
    report = (await slack.wait_for_calls("chat.postMessage", channel="C0RELEASES", count=2))[-1]
    assert report.text.startswith("Release review")

    await workspace.click("Add lessons learnt", on=report, by=ALICE)
    modal = (await slack.wait_for(lambda: [c for c in slack.calls_to("views.open")
                                           if c["view"]["callback_id"] == "review_lessons_view"]))[0]["view"]
    await workspace.submit_view(modal, {"lessons": {"lessons": {**TEXT, "value": "Rehearse <the> rollback"}}},
                                by=ALICE)
    await slack.wait_for(lambda: "Rehearse &lt;the&gt; rollback — <@UALICE>"
                         in slack.message(report.channel, report.ts).mrkdwn())

    seen = len(slack.responses())
    await workspace.click("Close release", on=slack.message(report.channel, report.ts), by=BOB)
    assert "Only the release owner" in (await slack.next_response(seen)).text
    await workspace.click("Close release", on=slack.message(report.channel, report.ts), by=ALICE)
    await eventually(lambda: _state(bot, release_id, "closed"))
    await settle(bot)
    final = slack.message(report.channel, report.ts)
    assert "*Outcome:* released · closed" in final.mrkdwn()
    assert [b["text"]["text"] for b in final.buttons()] == ["Add lessons learnt"]


async def test_review_is_for_executed_releases(workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, _ = await submitted(workspace)
    seen = len(slack.responses())
    await workspace.command(f"review REL-{release_id}", by=ALICE)
    assert "a review is for releases that were released" in (await slack.next_response(seen)).text


async def test_rollback_in_the_review(workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    from tests.conftest import plan_release

    release_id, _ = await plan_release(workspace)
    await drive(bot, release_id, "awaiting_approval", "approved", "ready", "executing", "failed", "rolled_back")
    await workspace.command(f"review REL-{release_id}", by=ALICE)
    report = (await slack.wait_for_calls("chat.postMessage", channel="C0RELEASES", count=2))[-1]
    assert "*Outcome:* rolled back" in report.mrkdwn() and "*Rollback:* by <@UBOB>" in report.mrkdwn()
    assert "_not sent_" in report.mrkdwn()


async def test_an_anonymous_survey_is_reported_without_names(workspace: Workspace, bot: Releasebot,
                                                              slack: FakeSlack, clock: MovableClock) -> None:
    from tests.conftest import plan_release

    release_id, _ = await plan_release(workspace, model="pilot")
    await drive(bot, release_id, "awaiting_approval", "approved", "ready", "executing", "released")
    await due(bot, clock, hours=1, minutes=1)
    dm = surveys(slack, release_id)[DAVE]
    assert "Answers are reported without names" in dm.mrkdwn()
    await workspace.click("Add a comment", on=dm, by=DAVE)
    modal = (await slack.wait_for(lambda: [c for c in slack.calls_to("views.open")
                                           if c["view"]["callback_id"] == "survey_comment_view"]))[0]["view"]
    await workspace.submit_view(modal, {"comments": {"comments": {**TEXT, "value": "Dark mode please"}}}, by=DAVE)
    await slack.wait_for(lambda: "Change your comment" in slack.message(dm.channel, dm.ts).all_text())
    await workspace.command(f"review REL-{release_id}", by=ALICE)
    report = (await slack.wait_for_calls("chat.postMessage", channel="C0RELEASES", count=2))[-1]
    assert "> Dark mode please" in report.mrkdwn() and "<@UDAVE>" not in report.mrkdwn()
    assert "Responses: 1 of 2" in report.mrkdwn()
