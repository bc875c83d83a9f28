"""Nothing is released until the release model's criteria say so (cab model: components
"Build artefacts signed", procedures "Rollback rehearsed", release "Smoke tests pass";
ALICE plans and owns, BOB and the CAB group of CAROL and DAVE approve, EVE looks on)."""

from __future__ import annotations

import asyncio
import time

from handlers.app import Releasebot
from tests.blockkit_lint import lint_calls
from tests.conftest import ALICE, BOB, CAROL, DAVE, EVE, eventually, plan_release, settle
from tests.fake_slack import FakeSlack
from tests.verifying import (
    approved,
    ask,
    card_now,
    criteria_of,
    details,
    open_checklist,
    reaches,
    record,
    reply_with,
    responses_seen,
    state_of,
    verify,
)
from tests.workspace import Workspace

SIGNED, REHEARSED, SMOKE = "Build artefacts signed", "Rollback rehearsed", "Smoke tests pass"


async def test_a_release_goes_from_approved_to_released_only_through_the_checklists(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, card = await approved(workspace, bot)
    await settle(bot)
    assert [b["text"]["text"] for b in card_now(slack, card).buttons()] == ["Verify", "Change window", "Edit plan"]
    assert "*Pre-execution checks*: 0 of 2 passed" in card_now(slack, card).mrkdwn()

    # The owner verifies the components; the procedures are still to verify.
    view = await open_checklist(workspace, release_id, by=ALICE)
    assert view["title"]["text"] == f"Verify REL-{release_id}"
    assert list(criteria_of(view)) == [SIGNED, REHEARSED]
    await record(workspace, view, {SIGNED: ("pass", "", "https://ci.example/runs/42")}, by=ALICE)
    await slack.wait_for(lambda: "1 of 2 passed" in card_now(slack, card).mrkdwn())
    assert await state_of(bot, release_id) == "approved"

    # An approver passes the procedures: every pre-execution check has passed.
    await verify(workspace, bot, release_id, {REHEARSED: "pass"}, by=DAVE)
    await reaches(bot, release_id, "ready")
    await settle(bot)
    assert "*Pre-execution checks*: all 2 passed" in card_now(slack, card).mrkdwn()
    assert [b["text"]["text"] for b in card_now(slack, card).buttons()] == [
        "Start", "Verify", "Change window", "Edit plan"]

    await workspace.click("Start", on=card_now(slack, card), by=ALICE)
    await reaches(bot, release_id, "executing")
    await settle(bot)
    assert [b["text"]["text"] for b in card_now(slack, card).buttons()] == ["Verify"]

    # After execution the checklist is the release verification.
    view = await open_checklist(workspace, release_id, by=ALICE)
    assert list(criteria_of(view)) == [SMOKE]
    await record(workspace, view, {SMOKE: "pass"}, by=ALICE)
    await reaches(bot, release_id, "released")
    await settle(bot)
    final = card_now(slack, card)
    assert final.buttons() == [] and "*Release checks*: all 1 passed" in final.mrkdwn()

    record_ = await details(bot, release_id)
    assert [(v.criterion, v.passed, v.by) for v in record_.verifications] == [
        (SIGNED, True, ALICE), (REHEARSED, True, DAVE), (SMOKE, True, ALICE)]
    kinds = [(e.kind, e.actor) for e in record_.events if not e.kind.startswith("communication")]
    assert kinds[-6:] == [("verification_recorded", ALICE), ("verification_recorded", DAVE), ("ready", DAVE),
                          ("started", ALICE), ("verification_recorded", ALICE), ("released", ALICE)]
    assert lint_calls(slack.calls) == []


async def test_a_failed_smoke_test_leads_to_failed_and_a_recorded_rollback(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, card = await approved(workspace, bot)
    await verify(workspace, bot, release_id, {SIGNED: "pass", REHEARSED: "pass"}, by=ALICE)
    await reaches(bot, release_id, "ready")
    assert f"REL-{release_id} is executing" in (await ask(workspace, f"start REL-{release_id}", by=ALICE)).text

    await verify(workspace, bot, release_id,
                 {SMOKE: ("fail", "Refunds answer <500> & time out", "https://grafana.example/d/refunds?from=now-1h")},
                 by=CAROL)
    await reaches(bot, release_id, "failed")
    await settle(bot)
    assert "failed: *Smoke tests pass* (<@UCAROL>: Refunds answer &lt;500&gt; &amp; time out)" in \
        card_now(slack, card).mrkdwn()

    answer = await ask(workspace, f"rollback REL-{release_id} Refunds time out; restored 2.2", by=ALICE)
    assert "is rolled back" in answer.text
    await reaches(bot, release_id, "rolled_back")
    await settle(bot)

    # The record shows every outcome with who and when, and the rollback with its reason.
    shown = (await ask(workspace, f"show REL-{release_id}", by=EVE)).all_text()
    assert "Verification outcomes" in shown
    for line in (f"*Components* · {SIGNED}: :white_check_mark: passed by <@UALICE>",
                 f"*Procedures* · {REHEARSED}: :white_check_mark: passed by <@UALICE>",
                 f"*Release* · {SMOKE}: :x: failed by <@UCAROL> — Refunds answer &lt;500&gt; &amp; time out · "
                 "<https://grafana.example/d/refunds?from=now-1h|evidence>"):
        assert line in shown
    assert shown.count("<!date^") >= 3 + 6  # each outcome and each event says when
    assert "failed release verification: Smoke tests pass (recorded by <@UCAROL>)" in shown
    assert "ready: every pre-execution check passed (the last recorded by <@UALICE>)" in shown
    assert "execution started by <@UALICE>" in shown
    assert "rolled back by <@UALICE>: Refunds time out; restored 2.2" in shown
    events = [e for e in (await details(bot, release_id)).events if not e.kind.startswith("communication")]
    assert events[-1].data == {"reason": "Refunds time out; restored 2.2", "from": "failed", "plan_followed": "no_plan"}
    assert [e.kind for e in events][-3:] == ["verification_recorded", "failed", "rolled_back"]
    assert lint_calls(slack.calls) == []


async def test_a_failed_check_keeps_the_release_approved_until_it_is_verified_again(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, card = await approved(workspace, bot)
    await verify(workspace, bot, release_id, {SIGNED: "pass", REHEARSED: ("fail", "No runbook yet", "")}, by=ALICE)
    await settle(bot)
    assert await state_of(bot, release_id) == "approved"
    assert "1 of 2 passed; failed: *Rollback rehearsed* (<@UALICE>: No runbook yet)" in card_now(slack, card).mrkdwn()

    refusal = await ask(workspace, f"start REL-{release_id}", by=ALICE)
    assert f"REL-{release_id} is not ready to start: still to pass: Rollback rehearsed (failed)." in refusal.text
    assert refusal["response_type"] == "ephemeral"

    await verify(workspace, bot, release_id, {REHEARSED: "pass"}, by=BOB)
    await reaches(bot, release_id, "ready")
    outcomes = [(v.criterion, v.passed) for v in (await details(bot, release_id)).verifications]
    assert outcomes == [(SIGNED, True), (REHEARSED, False), (REHEARSED, True)]  # the history stays


async def test_start_names_every_criterion_not_yet_passed(workspace: Workspace, bot: Releasebot,
                                                         slack: FakeSlack) -> None:
    release_id, card = await approved(workspace, bot)
    text = (await ask(workspace, f"start REL-{release_id}", by=ALICE)).text
    assert f"still to pass: {SIGNED} (not verified), {REHEARSED} (not verified)." in text
    assert await state_of(bot, release_id) == "approved"


async def test_a_ready_release_re_verified_as_failed_is_no_longer_ready(workspace: Workspace, bot: Releasebot,
                                                                       slack: FakeSlack) -> None:
    release_id, card = await approved(workspace, bot)
    await verify(workspace, bot, release_id, {SIGNED: "pass", REHEARSED: "pass"}, by=ALICE)
    await reaches(bot, release_id, "ready")
    await verify(workspace, bot, release_id, {SIGNED: ("fail", "Signature expired", "")}, by=CAROL)
    await reaches(bot, release_id, "approved")
    await settle(bot)
    assert [b["text"]["text"] for b in card_now(slack, card).buttons()] == ["Verify", "Change window", "Edit plan"]
    events = [e for e in (await details(bot, release_id)).events if not e.kind.startswith("communication")]
    assert [(e.kind, e.actor) for e in events][-2:] == [("verification_recorded", CAROL), ("not_ready", CAROL)]


async def test_the_owner_and_the_approvers_verify_and_roll_back_and_only_the_owner_starts(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    """DESIGN.md §6: verify and roll back are the owner's, the approvers' and the managers';
    start is the owner's and the managers' (no managers are configured here)."""
    release_id, card = await approved(workspace, bot)
    await settle(bot)
    seen = responses_seen(slack)
    await workspace.click("Verify", on=card_now(slack, card), by=EVE)
    refusal = await reply_with(slack, seen, "Only the release owner")
    assert (f"Only the release owner, <@UALICE>, or the approvers of cab (<@UBOB>, <!subteam^SCAB>) "
            f"can verify REL-{release_id}") in refusal.text
    assert refusal["response_type"] == "ephemeral"
    assert len(slack.calls_to("views.open")) == 1  # only the planning modal

    await verify(workspace, bot, release_id, {SIGNED: "pass", REHEARSED: "pass"}, by=ALICE)
    await reaches(bot, release_id, "ready")
    await settle(bot)
    seen = responses_seen(slack)
    await workspace.click("Start", on=card_now(slack, card), by=EVE)
    await reply_with(slack, seen, f"Only the release owner, <@UALICE>, can start REL-{release_id}")
    assert await state_of(bot, release_id) == "ready"
    answer = await ask(workspace, f"start REL-{release_id}", by=DAVE)  # an approver through the CAB group
    assert f"Only the release owner, <@UALICE>, can start REL-{release_id}" in answer.text
    answer = await ask(workspace, f"start REL-{release_id}", by=ALICE)
    assert "is executing" in answer.text
    answer = await ask(workspace, f"rollback REL-{release_id} I think it broke", by=EVE)
    assert f"<!subteam^SCAB>) can roll back REL-{release_id}" in answer.text
    assert await state_of(bot, release_id) == "executing"


async def test_the_gates_refuse_in_every_wrong_state(workspace: Workspace, bot: Releasebot,
                                                    slack: FakeSlack) -> None:
    async def answer_to(text: str) -> str:
        return (await ask(workspace, text, by=ALICE)).text

    release_id, _ = await plan_release(workspace)
    ref = f"REL-{release_id}"
    assert "is planned, not approved, so it cannot be verified before execution" in await answer_to(f"verify {ref}")
    assert "is planned, not ready, so execution cannot start" in await answer_to(f"start {ref}")
    assert "nothing to roll back" in await answer_to(f"rollback {ref} oops")

    assert "is submitted" in await answer_to(f"submit {ref}")
    assert "is awaiting approval, not approved" in await answer_to(f"verify {ref}")
    assert "is awaiting approval, not ready" in await answer_to(f"start {ref}")

    assert "is cancelled" in await answer_to(f"cancel {ref} Freeze week")
    assert "is cancelled, not approved" in await answer_to(f"verify {ref}")
    assert "is cancelled, not executing" in await answer_to(f"rollback {ref} oops")
    assert "There is no REL-999" in await answer_to("verify REL-999")
    assert len(slack.calls_to("views.open")) == 1  # only the planning modal

    for usage in ("verify", "start", "rollback"):
        answer = await workspace.command(usage, by=ALICE)
        assert f"Say which release: `/release {usage} REL-7" in answer.json()["text"]
    # Without a reason, rollback opens its form, but only for a release there is something to roll back of.
    assert "nothing to roll back" in await answer_to(f"rollback {ref}")
    assert len(slack.calls_to("views.open")) == 1


async def test_cancel_refuses_once_execution_started_and_points_to_rollback(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, _ = await approved(workspace, bot)
    await verify(workspace, bot, release_id, {SIGNED: "pass", REHEARSED: "pass"}, by=ALICE)
    assert "is executing" in (await ask(workspace, f"start REL-{release_id}", by=ALICE)).text
    text = (await ask(workspace, f"cancel REL-{release_id} Changed my mind", by=ALICE)).text
    assert "has started executing, so it cannot be cancelled" in text
    assert f"`/release rollback REL-{release_id} REASON…`" in text
    assert "is rolled back" in (await ask(workspace, f"rollback REL-{release_id} Changed my mind", by=BOB)).text
    rolled_back = [e for e in (await details(bot, release_id)).events if e.kind == "rolled_back"]
    assert rolled_back[-1].data == {"reason": "Changed my mind", "from": "executing", "plan_followed": "no_plan"}
    answer = await ask(workspace, f"rollback REL-{release_id} again", by=ALICE)
    assert "is rolled back, not executing" in answer.text


async def test_a_double_submitted_checklist_is_recorded_once(workspace: Workspace, bot: Releasebot,
                                                            slack: FakeSlack) -> None:
    release_id, _ = await approved(workspace, bot)
    view = await open_checklist(workspace, release_id, by=ALICE)
    choices = {SIGNED: "pass", REHEARSED: ("fail", "Not yet", "")}
    await record(workspace, view, choices, by=ALICE, view_id="VCHECK1")
    await record(workspace, view, choices, by=ALICE, view_id="VCHECK1")
    await record(workspace, view, choices, by=ALICE, view_id="VCHECK1",
                 headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    await eventually(lambda: _has_outcomes(bot, release_id, 2))
    await settle(bot)
    record_ = await details(bot, release_id)
    assert [(v.criterion, v.passed) for v in record_.verifications] == [(SIGNED, True), (REHEARSED, False)]
    assert [e.kind for e in record_.events].count("verification_recorded") == 2


async def _has_outcomes(bot: Releasebot, release_id: int, count: int) -> bool:
    return len((await details(bot, release_id)).verifications) == count


async def test_a_note_without_an_outcome_is_sent_back_to_the_verifier(workspace: Workspace, bot: Releasebot,
                                                                      slack: FakeSlack) -> None:
    release_id, _ = await approved(workspace, bot)
    view = await open_checklist(workspace, release_id, by=ALICE)
    answer = await record(workspace, view, {SIGNED: ("", "Looked fine", "")}, by=ALICE)
    body = answer.json()
    index = criteria_of(view)[SIGNED]
    assert body["response_action"] == "errors" and list(body["errors"]) == [f"v{index}:o"]
    assert (await details(bot, release_id)).verifications == []


async def test_the_checklist_opens_in_time_when_the_approvers_are_slow_to_look_up(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, _ = await approved(workspace, bot)
    bot.services.verification.roles.directory._cache.clear()  # type: ignore[attr-defined]
    slack.delays["usergroups.users.list"] = 2.0
    seen = len(slack.calls_to("views.open"))
    asked = time.monotonic()
    answer = await workspace.command(f"verify REL-{release_id}", by=DAVE)
    assert answer.status == 200
    opened = (await slack.wait_for_calls("views.open", seen + 1))[seen]
    assert "Looking up" in str(opened["view"])
    assert opened.at - asked < 3  # within the trigger_id's 3 s
    updated = (await slack.wait_for_calls("views.update", 1))[0]
    assert list(criteria_of(updated["view"])) == [SIGNED, REHEARSED]


async def test_two_verifiers_finishing_at_once_make_one_release_ready(workspace: Workspace, bot: Releasebot,
                                                                     slack: FakeSlack) -> None:
    release_id, card = await approved(workspace, bot)
    first = await open_checklist(workspace, release_id, by=ALICE)
    second = await open_checklist(workspace, release_id, by=BOB)
    await asyncio.gather(record(workspace, first, {SIGNED: "pass"}, by=ALICE),
                         record(workspace, second, {REHEARSED: "pass"}, by=BOB))
    await reaches(bot, release_id, "ready")
    await settle(bot)
    kinds = [e.kind for e in (await details(bot, release_id)).events]
    assert kinds.count("ready") == 1 and kinds.count("verification_recorded") == 2

    # The owner clicks Start three times at once: execution starts once.
    answers = await asyncio.gather(*(workspace.click("Start", on=card_now(slack, card), by=who)
                                     for who in (ALICE, ALICE, ALICE)))
    assert all(a.status == 200 for a in answers)
    await reaches(bot, release_id, "executing")
    await slack.wait_for(lambda: len([r for r in slack.responses() if "execution cannot start" in r.text]) == 2)
    await settle(bot)
    assert [e.kind for e in (await details(bot, release_id)).events].count("started") == 1
