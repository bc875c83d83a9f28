"""The release authority decides with buttons in Slack (cab model: BOB and the CAB group of
CAROL and DAVE approve, quorum 2, no self-approval; ALICE plans)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection

from bot.approvals import ApprovalService
from handlers.app import Releasebot
from tests.blockkit_lint import lint_calls
from tests.conftest import ALICE, BOB, CAROL, DAVE, EVE, MovableClock, eventually, plan_release, settle
from tests.fake_slack import Call, FakeSlack
from tests.workspace import Workspace

APPROVALS = "CAPPROVALS"


async def submitted(workspace: Workspace, *, by: str = ALICE, model: str = "cab") -> tuple[int, Call]:
    """Plan and submit a release; returns its id and the approval request as posted."""
    release_id, _ = await plan_release(workspace, by=by, model=model)
    answer = await workspace.command(f"submit REL-{release_id}", by=by)
    assert answer.status == 200
    posts = await workspace.slack.wait_for(
        lambda: [p for p in workspace.slack.posts(APPROVALS) if f"REL-{release_id} " in p.text])
    return release_id, posts[0]


def request_now(slack: FakeSlack, request: Call) -> Call:
    return slack.message(request.channel, request.ts)


async def state_of(bot: Releasebot, release_id: int) -> str:
    record = await bot.services.releases.get(release_id)
    assert record is not None
    return record.state.value


async def test_submit_posts_an_approval_request_with_buttons(workspace: Workspace, bot: Releasebot,
                                                             slack: FakeSlack) -> None:
    release_id, request = await submitted(workspace)
    assert await state_of(bot, release_id) == "awaiting_approval"
    text = request.mrkdwn()
    for expected in ("0 of 2 approvals", "<@UALICE>", "payments-api", "CHG-1234", "CAB release"):
        assert expected in text
    assert [b["text"]["text"] for b in request.buttons()] == ["Approve", "Reject"]
    card = await slack.wait_for(lambda: [u for u in slack.updates() if "awaiting approval" in u.text])
    assert card[0]["channel"] == "C0RELEASES"
    assert lint_calls(slack.calls) == []


async def test_quorum_of_two_with_an_approver_from_a_user_group(workspace: Workspace, bot: Releasebot,
                                                                slack: FakeSlack) -> None:
    release_id, request = await submitted(workspace)
    await workspace.click("Approve", on=request, by=BOB)
    await slack.wait_for(lambda: "1 of 2 approvals" in request_now(slack, request).mrkdwn())
    assert "approved by <@UBOB>" in request_now(slack, request).mrkdwn()
    assert await state_of(bot, release_id) == "awaiting_approval"

    await workspace.click("Approve", on=request_now(slack, request), by=CAROL)
    await eventually(lambda: _is(bot, release_id, "approved"))
    await settle(bot)
    final = request_now(slack, request)
    assert "Approved" in final.mrkdwn() and "<@UBOB>, <@UCAROL>" in final.mrkdwn()
    assert final.buttons() == []
    assert slack.calls_to("usergroups.users.list", usergroup="SCAB")
    owner_dm = slack.posts(ALICE)
    assert len(owner_dm) == 1 and "is approved" in owner_dm[0].text
    card = slack.message(*_card(slack, release_id))
    assert "Approved" in card.mrkdwn()
    details = await bot.services.releases.show(release_id)
    assert details is not None
    decisions = [(e.kind, e.actor) for e in details.events if e.kind in ("approval_recorded", "approved")]
    assert decisions == [("approval_recorded", BOB), ("approved", CAROL)]


async def test_requester_cannot_approve_their_own_release(workspace: Workspace, bot: Releasebot,
                                                          slack: FakeSlack) -> None:
    release_id, request = await submitted(workspace, by=BOB)  # BOB is an approver of cab
    seen = _seen(slack)
    await workspace.click("Approve", on=request, by=BOB)
    refusal = await slack.next_response(seen)
    assert "you cannot approve or reject it yourself" in refusal.text
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert await state_of(bot, release_id) == "awaiting_approval"


async def test_self_approval_counts_when_the_model_allows_it(workspace: Workspace, bot: Releasebot) -> None:
    release_id, request = await submitted(workspace, model="quick")
    await workspace.click("Approve", on=request, by=ALICE)
    # quick asks for no pre-execution checks, so the approved release is ready at once
    await eventually(lambda: _is(bot, release_id, "ready"))
    details = await bot.services.releases.show(release_id)
    assert details is not None
    assert [(e.kind, e.actor) for e in details.events][-2:] == [("approved", ALICE), ("ready", None)]


async def test_non_approver_is_told_who_approves_and_nothing_changes(workspace: Workspace, bot: Releasebot,
                                                                     slack: FakeSlack) -> None:
    release_id, request = await submitted(workspace)
    seen = _seen(slack)
    await workspace.click("Approve", on=request, by=EVE)
    refusal = await slack.next_response(seen)
    assert "not an approver for the cab release model" in refusal.text
    assert "<@UBOB>" in refusal.text and "<!subteam^SCAB>" in refusal.text
    details = await bot.services.releases.show(release_id)
    assert details is not None and details.approvals == []
    assert "0 of 2 approvals" in request_now(slack, request).mrkdwn()


async def test_double_click_and_retried_delivery_count_once(workspace: Workspace, bot: Releasebot,
                                                            slack: FakeSlack) -> None:
    release_id, request = await submitted(workspace)
    await workspace.click("Approve", on=request, by=BOB)
    await workspace.click("Approve", on=request, by=BOB)
    await workspace.click("Approve", on=request, by=BOB,
                          headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    await slack.wait_for(lambda: _responses_with(slack, "each approver counts once", 2))
    await settle(bot)
    details = await bot.services.releases.show(release_id)
    assert details is not None
    assert [a.approver for a in details.approvals] == [BOB]
    assert [e.kind for e in details.events].count("approval_recorded") == 1
    assert details.release.state.value == "awaiting_approval"


async def test_concurrent_approvals_make_one_transition(workspace: Workspace, bot: Releasebot,
                                                        slack: FakeSlack) -> None:
    release_id, request = await submitted(workspace)
    answers = await asyncio.gather(*(workspace.click("Approve", on=request, by=who) for who in (BOB, CAROL, DAVE)))
    assert all(a.status == 200 for a in answers)
    await eventually(lambda: _is(bot, release_id, "approved"))
    await settle(bot)
    details = await bot.services.releases.show(release_id)
    assert details is not None
    kinds = [e.kind for e in details.events]
    assert kinds.count("approved") == 1 and kinds.count("approval_recorded") == 1
    assert len(details.approvals) == 2
    assert len(slack.posts(ALICE)) == 1  # the owner is told once
    await slack.wait_for(lambda: _responses_with(slack, "already been decided: it was approved", 1))


async def test_reject_asks_for_a_reason_and_tells_the_owner(workspace: Workspace, bot: Releasebot,
                                                            slack: FakeSlack) -> None:
    release_id, request = await submitted(workspace)
    await workspace.click("Reject", on=request, by=DAVE)
    modal = (await slack.wait_for_calls("views.open", 2))[1]["view"]
    assert modal["callback_id"] == "release_reject_reason"
    blank = await workspace.submit_view(modal, {"reason": {"reason": {"type": "plain_text_input", "value": " "}}},
                                        by=DAVE)
    assert blank.json()["response_action"] == "errors" and "reason" in blank.json()["errors"]
    answer = await workspace.submit_view(
        modal, {"reason": {"reason": {"type": "plain_text_input", "value": "No <!channel> rollback plan"}}}, by=DAVE)
    assert answer.status == 200 and answer.body == ""
    await eventually(lambda: _is(bot, release_id, "rejected"))
    await settle(bot)
    final = request_now(slack, request)
    assert "Rejected* by <@UDAVE>: No &lt;!channel&gt; rollback plan" in final.mrkdwn()
    assert final.buttons() == []
    dm = slack.posts(ALICE)
    assert len(dm) == 1 and "was rejected by <@UDAVE>" in dm[0].text
    details = await bot.services.releases.show(release_id)
    assert details is not None
    assert details.events[-1].kind == "rejected" and details.events[-1].data["reason"] == "No <!channel> rollback plan"


async def test_non_approver_gets_no_rejection_modal(workspace: Workspace, slack: FakeSlack) -> None:
    _, request = await submitted(workspace)
    seen = _seen(slack)
    await workspace.click("Reject", on=request, by=EVE)
    assert "not an approver" in (await slack.next_response(seen)).text
    assert len(slack.calls_to("views.open")) == 1  # only the planning modal


async def test_late_click_names_the_outcome(workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, request = await submitted(workspace, model="quick")
    await workspace.click("Approve", on=request, by=BOB)
    await eventually(lambda: _is(bot, release_id, "ready"))
    seen = _seen(slack)
    await workspace.click("Approve", on=request, by=ALICE)
    assert "already been decided: it was approved" in (await slack.next_response(seen)).text


async def test_cancel_while_awaiting_approval_updates_the_request(workspace: Workspace, bot: Releasebot,
                                                                  slack: FakeSlack) -> None:
    release_id, request = await submitted(workspace)
    seen = _seen(slack)
    await workspace.command(f"cancel REL-{release_id} Freeze week", by=ALICE)
    assert f"REL-{release_id} is cancelled" in (await slack.next_response(seen)).text
    await settle(bot)
    final = request_now(slack, request)
    assert "Cancelled* by <@UALICE>: Freeze week" in final.mrkdwn() and final.buttons() == []
    assert await state_of(bot, release_id) == "cancelled"


async def test_a_reason_reaches_the_record_as_typed_not_as_slack_escaped_it(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    """With should_escape, Slack sends `&`, `<`, `>` as entities; the record keeps what was typed."""
    release_id, request = await submitted(workspace)
    await workspace.command(f"cancel REL-{release_id} R&amp;D asked: version &lt;2 first", by=ALICE)
    await eventually(lambda: _is(bot, release_id, "cancelled"))
    await settle(bot)
    details = await bot.services.releases.show(release_id)
    assert details is not None
    cancelled = [e for e in details.events if e.kind == "cancelled"]
    assert [e.data.get("reason") for e in cancelled] == ["R&D asked: version <2 first"]
    assert "R&amp;D asked: version &lt;2 first" in request_now(slack, request).mrkdwn()


async def test_only_the_owner_cancels_and_a_reason_is_needed(workspace: Workspace, bot: Releasebot,
                                                             slack: FakeSlack) -> None:
    release_id, _ = await submitted(workspace)
    assert "Say why" in (await workspace.command(f"cancel REL-{release_id}", by=ALICE)).json()["text"]
    seen = _seen(slack)
    await workspace.command(f"cancel REL-{release_id} because", by=BOB)
    assert "Only the release owner" in (await slack.next_response(seen)).text
    assert await state_of(bot, release_id) == "awaiting_approval"


async def test_submit_from_the_card_button_and_only_by_the_owner(workspace: Workspace, bot: Releasebot,
                                                                 slack: FakeSlack) -> None:
    release_id, card = await plan_release(workspace)
    seen = _seen(slack)
    await workspace.click("Submit for approval", on=card, by=EVE)
    assert "Only the release owner" in (await slack.next_response(seen)).text
    await workspace.click("Submit for approval", on=card, by=ALICE)
    await eventually(lambda: _is(bot, release_id, "awaiting_approval"))
    await settle(bot)
    assert len([p for p in slack.posts(APPROVALS) if f"REL-{release_id} " in p.text]) == 1
    assert "Submit for approval" not in [b["text"]["text"] for b in slack.message(card.channel, card.ts).buttons()]


async def test_submitting_twice_asks_once(workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, _ = await submitted(workspace)
    seen = _seen(slack)
    await workspace.command(f"submit REL-{release_id}", by=ALICE)
    assert "is awaiting approval, not planned" in (await slack.next_response(seen)).text
    await settle(bot)
    assert len([p for p in slack.posts(APPROVALS) if f"REL-{release_id} " in p.text]) == 1


def _seen(slack: FakeSlack) -> int:
    return len(slack.responses())


def _responses_with(slack: FakeSlack, text: str, count: int) -> bool:
    return len([r for r in slack.responses() if text in r.text]) >= count


def _card(slack: FakeSlack, release_id: int) -> tuple[str, str]:
    post = next(p for p in slack.posts("C0RELEASES") if p.text.startswith(f"REL-{release_id} "))
    return post.channel, post.ts


async def _is(bot: Releasebot, release_id: int, state: str) -> bool:
    return await state_of(bot, release_id) == state


async def test_approvers_who_have_not_answered_are_nudged_every_remind_every(
    workspace: Workspace, bot: Releasebot, slack: FakeSlack, clock: MovableClock
) -> None:
    release_id, request = await submitted(workspace)  # cab: remind_every 4h
    await workspace.click("Approve", on=request, by=BOB)
    await slack.wait_for(lambda: "1 of 2" in request_now(slack, request).mrkdwn())

    async def tick(**delta: float) -> list[str]:
        clock.advance(**delta)
        await bot.services.approvals.remind()
        await settle(bot)
        return sorted(c["channel"] for c in slack.posts() if "waiting for your approval" in c.text)

    assert await tick(hours=3) == []
    assert await tick(hours=1, minutes=1) == [CAROL, DAVE]   # BOB answered; ALICE requested it
    assert await tick(minutes=30) == [CAROL, DAVE]            # once per turn, however often it runs
    assert await tick(hours=4) == [CAROL, CAROL, DAVE, DAVE]
    await workspace.click("Approve", on=request_now(slack, request), by=CAROL)
    await eventually(lambda: _is(bot, release_id, "approved"))
    assert await tick(hours=8) == [CAROL, CAROL, DAVE, DAVE]  # decided: no more nudges


async def test_a_reminder_run_leaves_alone_the_releases_whose_reminders_are_queued(
    workspace: Workspace, bot: Releasebot, slack: FakeSlack, clock: MovableClock
) -> None:
    """With thousands of releases awaiting approval a run comes due every few seconds; it must
    not open a write transaction per release to find each reminder already queued."""
    await submitted(workspace)
    await submitted(workspace)

    async def run(service: ApprovalService) -> tuple[int, int]:
        """Reminders one run tried to queue (each attempt a write transaction, queued or found
        already there), and the reminders Slack has seen in all."""
        writes: list[str] = []

        def executing(conn: Connection, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            if statement.startswith("INSERT INTO outbox") and ":approval-reminder:" in repr(parameters):
                writes.append(statement)

        event.listen(bot.engine.sync_engine, "before_cursor_execute", executing)
        try:
            await service.remind()
        finally:
            event.remove(bot.engine.sync_engine, "before_cursor_execute", executing)
        await settle(bot)
        return len(writes), len([c for c in slack.posts() if "waiting for your approval" in c.text])

    async def tick(**delta: float) -> tuple[int, int]:
        clock.advance(**delta)
        return await run(bot.services.approvals)

    assert await tick(hours=4, minutes=1) == (6, 6)  # BOB, CAROL and DAVE, for each release
    assert await tick(minutes=30) == (0, 6)          # nothing began since: nothing written
    await submitted(workspace)                       # at 4:31
    assert await tick(hours=3, minutes=28) == (0, 6)  # 7:59: no turn began
    assert await tick(minutes=2) == (6, 12)           # 8:01: the first two's second turn
    assert await tick(minutes=31) == (3, 15)          # 8:32: the third's first, alone
    assert await tick(minutes=10) == (0, 15)
    restarted = ApprovalService(bot.services.approvals.uow, bot.services.versions, clock,
                                bot.services.approvals.transitions, bot.services.approvals.roles)
    assert await run(restarted) == (0, 15)            # a new process finds them queued, too
