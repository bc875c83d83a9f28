"""The whole loop, as a team would live it: two CAB releases go through approval and the
checklists; one is released and surveyed, the other fails its smoke test and is rolled back;
a third waits. The review and `/release metrics` must tell exactly that story."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handlers.app import Releasebot
from tests.blockkit_lint import lint_calls
from tests.conftest import ALICE, BOB, CAROL, DAVE, EVE, MovableClock, plan_release, settle
from tests.fake_slack import FakeSlack
from tests.test_surveys import due, surveys
from tests.verifying import approved, ask, reaches, verify
from tests.workspace import Workspace

SIGNED, REHEARSED, SMOKE = "Build artefacts signed", "Rollback rehearsed", "Smoke tests pass"


async def executed(workspace: Workspace, bot: Releasebot, title: str, smoke: str) -> int:
    """Approved by two approvers, verified, started in its window, and its smoke test recorded."""
    start = datetime.now(UTC) - timedelta(minutes=1)
    release_id, _ = await approved(workspace, bot, title=title, start=start, end=start + timedelta(hours=2))
    await verify(workspace, bot, release_id, {SIGNED: "pass", REHEARSED: "pass"}, by=ALICE)
    await reaches(bot, release_id, "ready")
    assert "is executing" in (await ask(workspace, f"start REL-{release_id}", by=ALICE)).text
    await verify(workspace, bot, release_id, {SMOKE: smoke}, by=CAROL)
    return release_id


async def test_released_surveyed_reviewed_and_measured(workspace: Workspace, bot: Releasebot, slack: FakeSlack,
                                                       clock: MovableClock) -> None:
    good = await executed(workspace, bot, "Payments API 2.3", "pass")
    await reaches(bot, good, "released")
    bad = await executed(workspace, bot, "Ledger 7.1", ("fail", "Timeouts", ""))
    await reaches(bot, bad, "failed")
    assert "is rolled back" in (await ask(workspace, f"rollback REL-{bad} Timeouts in ledger", by=ALICE)).text
    waiting, _ = await plan_release(workspace, title="Search 1.4")

    # Two hours after the release, its survey goes to BOB, DAVE and EVE; DAVE and EVE answer,
    # EVE changes her mind.
    await due(bot, clock, hours=2, minutes=5)
    dms = surveys(slack, good)
    assert set(dms) == {BOB, DAVE, EVE}
    assert surveys(slack, bad) == {}
    await workspace.click("4", on=dms[DAVE], by=DAVE)
    await workspace.click("2", on=dms[EVE], by=EVE)
    await slack.wait_for(lambda: "you answered *2*" in slack.message(dms[EVE].channel, dms[EVE].ts).mrkdwn())
    await workspace.click("5", on=slack.message(dms[EVE].channel, dms[EVE].ts), by=EVE)
    await slack.wait_for(lambda: "you answered *5*" in slack.message(dms[EVE].channel, dms[EVE].ts).mrkdwn())
    await slack.wait_for(lambda: "you answered *4*" in slack.message(dms[DAVE].channel, dms[DAVE].ts).mrkdwn())

    await workspace.command(f"review REL-{good}", by=ALICE, channel="CREVIEWS")
    report = (await slack.wait_for_calls("chat.postMessage", channel="CREVIEWS"))[0].mrkdwn()
    assert "*Outcome:* released" in report
    assert "Responses: 2 of 3 · average rating 4.5 of 5" in report
    assert "1: 0 · 2: 0 · 3: 0 · 4: 1 · 5: 1" in report
    assert f"{SMOKE}: passed by <@UCAROL>" in report and f"{SIGNED}: passed by <@UALICE>" in report
    assert "<@UBOB> approved" in report and "<@UCAROL> approved" in report
    assert "comm:approved" in report and "comm:released" in report  # the announcements that went out

    metrics = (await ask(workspace, "metrics 30d cab", by=BOB)).all_text()
    assert "Releases planned: 3*" in metrics
    assert "1 released · 0 failed · 1 rolled back · 0 rejected · 0 cancelled · 1 open" in metrics
    assert "Success rate*\\n50% (1 of 2 executed)" in metrics
    assert "Rollback rate*\\n50% (1 of 2)" in metrics
    assert "100% started within the planned window (2 of 2)" in metrics
    assert "4.5 / 5 from 2 ratings" in metrics
    assert "67% (2 of 3 invited)" in metrics
    assert "1 not yet executed" in metrics and f"oldest REL-{waiting}" in metrics
    await settle(bot)
    assert lint_calls(slack.calls) == []
