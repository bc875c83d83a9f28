"""The release plan a CAB decides on (DESIGN.md §5a): release notes, risk and impact, rollback
plan, planned with the release, shown to the approvers, edited by the owner until execution,
and carried by the announcements.

Models: `cab` (BOB and the CAB group of CAROL and DAVE, quorum 2; approvals stand when the
plan changes) and `strict` (BOB and CAROL, quorum 2; the plan's three parts are required and
a changed plan is approved again). ALICE plans."""

from __future__ import annotations

import json
from typing import Any

from handlers.app import Releasebot
from tests.blockkit_lint import lint_calls
from tests.conftest import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    DAVE,
    eventually,
    plan_form,
    plan_release,
    plan_values,
    settle,
    window,
)
from tests.fake_slack import Call, FakeSlack
from tests.verifying import ask
from tests.workspace import Workspace

APPROVALS, ANNOUNCE = "CAPPROVALS", "CANNOUNCE"
PLAN = {
    "release_notes": "**Refunds** in one click.\n- Partial refunds\n- See [the guide](https://wiki.example/refunds)",
    "risk": "high",
    "impact": "Checkout unavailable for up to 10 minutes",
    "rollback_plan": "1. Redeploy payments-api 2.2\n2. Replay the refund queue",
}


def now(slack: FakeSlack, message: Call) -> Call:
    """A message as it stands in its channel, after every update."""
    return slack.message(message.channel, message.ts)


async def request_of(workspace: Workspace, release_id: int) -> Call:
    prefix = f"Approval requested for REL-{release_id} "
    posts = await workspace.slack.wait_for(
        lambda: [p for p in workspace.slack.posts(APPROVALS) if p.text.startswith(prefix)])
    return posts[0]


async def submit(workspace: Workspace, release_id: int) -> Call:
    assert "is submitted" in (await ask(workspace, f"submit REL-{release_id}", by=ALICE)).text
    return await request_of(workspace, release_id)


async def opened(slack: FakeSlack, callback_id: str, seen: int = 0) -> dict[str, Any]:
    views = await slack.wait_for(lambda: [c["view"] for c in slack.calls_to("views.open")[seen:]
                                          if c["view"].get("callback_id") == callback_id])
    return views[-1]


async def state_of(bot: Releasebot, release_id: int) -> str:
    record = await bot.services.releases.get(release_id)
    assert record is not None
    return record.state.value


async def test_a_plan_with_all_three_is_on_the_card_the_record_and_the_approval_request(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, card = await plan_release(workspace, **PLAN)
    record = await bot.services.releases.get(release_id)
    assert record is not None
    assert (record.plan.risk, record.plan.impact) == ("high", PLAN["impact"])
    assert record.plan.rollback_plan == PLAN["rollback_plan"] and record.plan.release_notes == PLAN["release_notes"]

    shown = card.mrkdwn()
    for expected in (":red_circle: *High* · Checkout unavailable for up to 10 minutes", "*Rollback plan*\n1. Redeploy",
                     "*Refunds* in one click", "• Partial refunds", "<https://wiki.example/refunds|the guide>"):
        assert expected in shown, expected
    assert [b["text"]["text"] for b in card.buttons()] == ["Submit for approval", "Change window", "Edit plan"]

    record_text = (await ask(workspace, f"show REL-{release_id}", by=DAVE)).mrkdwn()
    assert ":red_circle: *High*" in record_text and "Replay the refund queue" in record_text

    # A CAB member opening the request sees the risk, the impact and how to back out.
    request = await submit(workspace, release_id)
    text = request.mrkdwn()
    for expected in (":red_circle: *High* · Checkout unavailable", "*Rollback plan*\n1. Redeploy payments-api 2.2",
                     "*Release notes*\n*Refunds* in one click"):
        assert expected in text, expected
    assert [b["text"]["text"] for b in request.buttons()] == ["Approve", "Reject"]
    assert lint_calls(slack.calls) == []


async def test_a_plan_without_the_parts_says_so_to_the_approvers(workspace: Workspace, slack: FakeSlack) -> None:
    release_id, card = await plan_release(workspace)
    assert "*Risk*\n_not assessed_" in card.mrkdwn() and "*Rollback plan*: _none given_" in card.mrkdwn()
    text = (await submit(workspace, release_id)).mrkdwn()
    assert "_not assessed_" in text and "*Rollback plan*: _none given_" in text
    assert "*Release notes*: _none given_" in text


async def test_the_owner_edits_the_plan_after_an_approval_and_the_approver_is_told(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, card = await plan_release(workspace, **{**PLAN, "risk": "medium"})
    request = await submit(workspace, release_id)
    await workspace.click("Approve", on=request, by=BOB)
    await slack.wait_for(lambda: "1 of 2 approvals" in now(slack, request).mrkdwn())

    await settle(bot)
    seen = len(slack.calls_to("views.open"))
    await workspace.click("Edit plan", on=now(slack, card), by=ALICE)
    form = await opened(slack, "release_plan_edit_view", seen)
    inputs = {b["block_id"]: b for b in form["blocks"] if b["type"] == "input"}
    assert inputs["risk"]["element"]["initial_option"]["value"] == "medium"
    assert inputs["rollback_plan"]["element"]["initial_value"] == PLAN["rollback_plan"]
    answer = await workspace.submit_view(form, plan_form(
        release_notes=PLAN["release_notes"], risk="high", impact="Checkout down for up to 30 minutes",
        rollback_plan="1. Restore the database snapshot\n2. Redeploy 2.2"), by=ALICE)
    assert answer.status == 200 and answer.body == ""

    # The approver who approved hears it; the request says so beside their approval.
    dm = (await slack.wait_for(lambda: slack.posts(BOB)))[-1]
    assert "changed after your approval" in dm.mrkdwn() and "risk, impact and rollback plan" in dm.mrkdwn()
    assert "Your approval stands" in dm.mrkdwn()
    await slack.wait_for(lambda: "Changed after your approval" in now(slack, request).mrkdwn())
    text = now(slack, request).mrkdwn()
    assert "*Changed after your approval*, <@UBOB>: <@UALICE> edited the risk, impact and rollback plan" in text
    assert ":red_circle: *High* · Checkout down for up to 30 minutes" in text and "Restore the database" in text
    assert not slack.posts(CAROL)  # who had not approved reads the request as it is

    details = await bot.services.releases.show(release_id)
    assert details is not None
    edit = [e for e in details.events if e.kind == "plan_changed"][-1]
    assert edit.actor == ALICE and edit.data["changed"] == ["risk", "impact", "rollback_plan"]
    assert edit.data["from"]["risk"] == "medium" and edit.data["to"]["risk"] == "high"
    shown = (await ask(workspace, f"show REL-{release_id}", by=ALICE)).mrkdwn()
    assert "risk, impact and rollback plan edited by <@UALICE> (risk medium → high)" in shown

    # The approval stands under this model: one more makes the quorum.
    await workspace.click("Approve", on=now(slack, request), by=CAROL)
    await eventually(lambda: _is(bot, release_id, "approved"))
    assert lint_calls(slack.calls) == []


async def _is(bot: Releasebot, release_id: int, state: str) -> bool:
    return await state_of(bot, release_id) == state


async def test_a_model_that_reapproves_on_change_withdraws_the_approvals_and_asks_again(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    start, end = window(days=3)
    release_id, _ = await plan_release(workspace, model="strict", start=start, end=end, **PLAN)
    request = await submit(workspace, release_id)
    await workspace.click("Approve", on=request, by=BOB)
    await slack.wait_for(lambda: "1 of 2 approvals" in now(slack, request).mrkdwn())
    await workspace.click("Approve", on=now(slack, request), by=CAROL)
    await eventually(lambda: _is(bot, release_id, "approved"))

    # The announcement carries the release notes.
    planned = (await slack.wait_for(lambda: slack.posts(ANNOUNCE)))[0]
    assert "*Release notes*\n*Refunds* in one click" in planned.mrkdwn()

    seen = len(slack.calls_to("views.open"))
    await workspace.command(f"plan REL-{release_id}", by=ALICE)
    form = await opened(slack, "release_plan_edit_view", seen)
    assert {b["block_id"] for b in form["blocks"] if b["type"] == "input"} == {
        "risk", "impact", "rollback_plan", "release_notes"}
    await workspace.submit_view(form, plan_form(**{**PLAN, "release_notes": "Refunds in one click, and receipts."}),
                                by=ALICE)
    await eventually(lambda: _is(bot, release_id, "awaiting_approval"))
    await settle(bot)

    for approver in (BOB, CAROL):
        dm = slack.posts(approver)[-1].mrkdwn()
        assert "changed after your approval" in dm and "your approval was withdrawn" in dm
    request_now = now(slack, request)
    assert [b["text"]["text"] for b in request_now.buttons()] == ["Approve", "Reject"]
    assert "0 of 2 approvals" in request_now.mrkdwn()
    assert "approval of <@UBOB>, <@UCAROL> was withdrawn" in request_now.mrkdwn()
    details = await bot.services.releases.show(release_id)
    assert details is not None and details.approvals == []
    reset = [e for e in details.events if e.kind == "approvals_reset"][-1]
    assert reset.data["approvers"] == [BOB, CAROL] and reset.data["from"] == "approved"
    upcoming = [d for d in details.deliveries if ":comm:upcoming" in d.dedupe_key]
    assert upcoming and {d.state for d in upcoming} == {"withdrawn"}  # queued at approval, withdrawn at the reset

    # Approved again: the upcoming announcement is queued with the new notes, the owner told again.
    await workspace.click("Approve", on=request_now, by=BOB)
    await slack.wait_for(lambda: "1 of 2 approvals" in now(slack, request).mrkdwn())
    await workspace.click("Approve", on=now(slack, request), by=CAROL)
    await eventually(lambda: _is(bot, release_id, "approved"))
    details = await bot.services.releases.show(release_id)
    assert details is not None
    async with bot.services.releases.uow() as uow:
        upcoming = [r for r in await uow.outbox.for_release(release_id)
                    if r.state == "pending" and r.template == "upcoming"]
    assert len(upcoming) == 1 and "and receipts" in json.dumps(upcoming[0].blocks)
    await settle(bot)
    assert len([p for p in slack.posts(ALICE) if "is approved" in p.text]) == 2
    assert lint_calls(slack.calls) == []


async def test_a_model_requiring_the_plan_refuses_planning_without_it_field_by_field(
        workspace: Workspace, bot: Releasebot) -> None:
    await workspace.command("new strict", by=ALICE)
    view = (await workspace.slack.wait_for_calls("views.open"))[0]["view"]
    hints = {b["block_id"]: b.get("hint", {}).get("text", "") for b in view["blocks"] if b["type"] == "input"}
    assert "Required by the release model Strict CAB release" in hints["rollback_plan"]
    # Slack labels an optional input "(optional)": what the model requires is not labelled so.
    optional = {b["block_id"]: b["optional"] for b in view["blocks"] if b["type"] == "input"}
    assert [optional[k] for k in ("risk", "impact", "rollback_plan", "release_notes")] == [False] * 4
    assert optional["change_ref"] is True
    answer = await workspace.submit_view(view, plan_values(model="strict", risk="low"), by=ALICE)
    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"release_notes", "impact", "rollback_plan"}
    assert "requires a rollback plan" in body["errors"]["rollback_plan"]
    assert (await bot.services.releases.list())[1] == 0

    answer = await workspace.submit_view(view, plan_values(model="strict", **PLAN), by=ALICE)
    assert answer.body == ""
    await eventually(lambda: _count(bot, 1))


async def _count(bot: Releasebot, n: int) -> bool:
    return (await bot.services.releases.list())[1] == n


async def test_the_edit_form_refuses_to_clear_a_required_part(workspace: Workspace, slack: FakeSlack) -> None:
    release_id, _ = await plan_release(workspace, model="strict", **PLAN)
    await workspace.command(f"plan REL-{release_id}", by=ALICE)
    form = await opened(slack, "release_plan_edit_view")
    answer = await workspace.submit_view(form, plan_form(**{**PLAN, "rollback_plan": ""}), by=ALICE)
    assert answer.json() == {"response_action": "errors", "errors": {
        "rollback_plan": "The release model “Strict CAB release” requires a rollback plan: how to back out if it "
                         "goes wrong."}}


async def test_only_the_owner_edits_and_only_until_execution_starts(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    from tests import drive

    release_id, card = await plan_release(workspace, **PLAN)
    await workspace.click("Edit plan", on=card, by=BOB)
    shown = await opened(slack, "release_plan_read_view")
    assert "Only the release owner, <@UALICE>, can edit the plan" in json.dumps(shown)
    assert "submit" not in shown

    await drive.start(bot, release_id)
    seen = len(slack.calls_to("views.open"))
    await workspace.command(f"plan REL-{release_id}", by=ALICE)
    shown = await opened(slack, "release_plan_read_view", seen)
    assert "can change only until execution starts" in json.dumps(shown)
    outcome = await bot.services.plans.edit(release_id, ALICE, {"risk": "low"})
    assert outcome.refusal is not None and outcome.refusal.code == "wrong_state"
    nothing = await bot.services.plans.edit(release_id, BOB, {"risk": "high"})
    assert nothing.refusal is not None and nothing.refusal.code == "wrong_state"
    await settle(bot)
    assert "Edit plan" not in [b["text"]["text"] for b in now(slack, card).buttons()]


HOSTILE = "<!channel> <script>alert(1)</script> <https://evil.example|click> & <@UBOSS>"


async def test_hostile_and_long_plan_text_pings_nobody_and_stays_within_block_kit_limits(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    await workspace.command("new cab", by=ALICE)
    view = (await slack.wait_for_calls("views.open"))[0]["view"]
    too_long = await workspace.submit_view(view, plan_values(impact="i" * 10_000), by=ALICE)
    assert set(too_long.json()["errors"]) == {"impact"}

    notes = HOSTILE + "\n\n" + "n" * 10_000 + " END-OF-NOTES"
    rollback = HOSTILE + "\n" + "r" * 10_000 + " END-OF-ROLLBACK"
    release_id, card = await plan_release(workspace, release_notes=notes, risk="medium", impact=HOSTILE,
                                          rollback_plan=rollback)
    request = await submit(workspace, release_id)
    record = await ask(workspace, f"show REL-{release_id}", by=ALICE)
    for message in (card, request, record):
        text = message.mrkdwn()
        for raw in ("<!channel>", "<script>", "<https://evil.example", "<@UBOSS>"):
            assert raw not in text, (raw, message.method)
        assert "&lt;!channel&gt;" in text and "&lt;script&gt;" in text
        assert "END-OF-ROLLBACK" not in text  # cut, with a way to read the rest:
        assert message.button("Read the plan")

    seen = len(slack.calls_to("views.open"))
    await workspace.click("Read the plan", on=request, by=DAVE)
    modal = await opened(slack, "release_plan_read_view", seen)
    everything = json.dumps(modal)
    assert "END-OF-NOTES" in everything and "END-OF-ROLLBACK" in everything and "<!channel>" not in everything

    await bot.services.approvals.approve(release_id, BOB)
    await bot.services.approvals.approve(release_id, CAROL)
    await settle(bot)
    assert "END-OF-NOTES" in (await slack.wait_for(lambda: slack.posts(ANNOUNCE)))[0].all_text()
    assert lint_calls(slack.calls) == []
    assert all(len(c.text) <= 4000 for c in slack.calls_to("chat.postMessage"))


async def test_the_rollback_form_records_whether_the_plan_was_followed_and_the_review_shows_it(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    from tests import drive

    release_id, _ = await plan_release(workspace, **PLAN)
    await drive.release(bot, release_id)
    seen = len(slack.calls_to("views.open"))
    await workspace.command(f"rollback REL-{release_id}", by=ALICE)
    form = await opened(slack, "release_rollback", seen)
    missing = await workspace.submit_view(form, {"reason": {"reason": {"type": "plain_text_input", "value": "Errors"}},
                                                 "plan_followed": {"plan_followed": {"type": "radio_buttons",
                                                                                     "selected_option": None}}},
                                          by=ALICE)
    assert set(missing.json()["errors"]) == {"plan_followed"}
    answer = await workspace.submit_view(form, {
        "reason": {"reason": {"type": "plain_text_input", "value": "Refunds time out"}},
        "plan_followed": {"plan_followed": {"type": "radio_buttons", "selected_option": {"value": "partly"}}},
    }, by=ALICE)
    assert answer.body == ""
    await eventually(lambda: _is(bot, release_id, "rolled_back"))
    details = await bot.services.releases.show(release_id)
    assert details is not None
    assert [e for e in details.events if e.kind == "rolled_back"][-1].data["plan_followed"] == "partly"

    await workspace.command(f"review REL-{release_id}", by=ALICE)
    report = await slack.wait_for(lambda: [p for p in slack.posts(CHANNEL) if p.text.startswith("Release review")])
    text = report[0].mrkdwn()
    assert "Rollback plan: partly followed" in text and "*Risk:* high · Checkout unavailable" in text


async def test_a_typed_rollback_asks_whether_the_plan_was_followed(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    from tests import drive

    release_id, _ = await plan_release(workspace, **PLAN)
    await drive.release(bot, release_id)
    question = await ask(workspace, f"rollback REL-{release_id} Refunds time out", by=ALICE)
    assert "Did you follow its rollback plan?" in question.text
    assert [b["text"]["text"] for b in question.buttons()] == ["Yes, as written", "Partly", "No, we did something else"]
    seen = len(slack.responses())
    await workspace.click("Yes, as written", on=question, by=ALICE)
    assert "recorded that the rollback plan was followed" in (await slack.next_response(seen)).text
    seen = len(slack.responses())
    await workspace.click("Partly", on=question, by=ALICE)
    assert "is recorded already" in (await slack.next_response(seen)).text
    shown = (await ask(workspace, f"show REL-{release_id}", by=ALICE)).mrkdwn()
    assert "rollback · rollback plan followed (said by <@UALICE>)" in shown


async def test_metrics_show_success_and_rollback_rates_per_risk(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    from tests import drive

    high_ok, _ = await plan_release(workspace, **PLAN)
    high_back, _ = await plan_release(workspace, **PLAN)
    low_ok, _ = await plan_release(workspace, **{**PLAN, "risk": "low"})
    unassessed, _ = await plan_release(workspace)
    for release_id in (high_ok, high_back, low_ok, unassessed):
        await drive.release(bot, release_id)
    await drive.rollback(bot, high_back)

    figures = await bot.services.metrics.key_metrics(by_risk=True)
    by_risk = {(r.risk.value if r.risk else None): r for r in figures.by_risk}
    assert [r.risk.value if r.risk else None for r in figures.by_risk] == ["high", "low", None]
    assert (by_risk["high"].success_rate, by_risk["high"].rollback_rate) == (0.5, 0.5)
    assert (by_risk["low"].success_rate, by_risk["low"].rollback_rate) == (1.0, 0.0)

    answer = await ask(workspace, "metrics", by=DAVE)
    text = answer.mrkdwn()
    assert "*By risk*" in text
    assert ":red_circle: *High*: 2 planned · success 50% (1 of 2) · rollback 50% (1 of 2)" in text
    assert "*Not assessed*: 1 planned · success 100% (1 of 1)" in text
    assert lint_calls(slack.calls) == []
