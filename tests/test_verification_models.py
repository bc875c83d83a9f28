"""Release models at the edges of verification: one without any criteria (quick), and one with
more criteria than fit in a modal (long, 60 criteria before execution)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.catalog import Catalog
from bot.checklist import IMPLICIT_RELEASE_CRITERION
from handlers.app import Releasebot
from tests.blockkit_lint import lint_calls, lint_view
from tests.conftest import ALICE, BOB, EVE, MODELS, eventually, settle
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
    verify,
)
from tests.workspace import Workspace

LONG = [f"Component check {n:02d}" for n in range(40)], [f"Procedure check {n:02d}" for n in range(20)]


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    """The test models plus `long`: 60 criteria before execution, 12 after."""
    folder = tmp_path / "models"
    shutil.copytree(MODELS, folder)
    components, procedures = LONG
    (folder / "long.yaml").write_text(
        "key: long\nname: Long checklist\napproval: {channel: CAPPROVALS, approvers: [UBOB], quorum: 1}\n"
        "verification:\n"
        f"  components: [{', '.join(components)}]\n"
        f"  procedures: [{', '.join(procedures)}]\n"
        f"  release: [{', '.join(f'Release check {n:02d}' for n in range(12))}]\n")
    return Catalog.load(folder)


async def test_a_model_without_criteria_is_ready_on_approval_and_the_owner_says_how_it_went(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, card = await approved(workspace, bot, model="quick")
    await reaches(bot, release_id, "ready")
    await settle(bot)
    shown = card_now(slack, card)
    assert "*Pre-execution checks*: none in the *Quick fix* release model, so there is nothing to pass" in \
        shown.mrkdwn()
    assert [b["text"]["text"] for b in shown.buttons()] == ["Start", "Verify", "Change window", "Edit plan"]
    ready = (await details(bot, release_id)).events[-1]
    assert (ready.kind, ready.actor, ready.data) == ("ready", None, {
        "reason": "the release model asks for no pre-execution checks"})

    seen = responses_seen(slack)
    await workspace.click("Verify", on=shown, by=ALICE)
    await reply_with(slack, seen, "there is nothing to verify")

    await workspace.click("Start", on=shown, by=ALICE)
    await reaches(bot, release_id, "executing")
    view = await open_checklist(workspace, release_id, by=ALICE)
    assert list(criteria_of(view)) == [IMPLICIT_RELEASE_CRITERION]
    assert "lists no release verification criteria" in str(view["blocks"])
    await record(workspace, view, {IMPLICIT_RELEASE_CRITERION: "pass"}, by=ALICE)
    await reaches(bot, release_id, "released")
    await settle(bot)
    assert "no release criteria in the model" in card_now(slack, card).mrkdwn()
    assert lint_calls(slack.calls) == []


async def test_a_model_without_release_criteria_fails_when_the_owner_says_so(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id, _ = await approved(workspace, bot, model="quick")
    await reaches(bot, release_id, "ready")
    assert "is executing" in (await ask(workspace, f"start REL-{release_id}", by=ALICE)).text
    await verify(workspace, bot, release_id, {IMPLICIT_RELEASE_CRITERION: ("fail", "Checkout broke", "")}, by=ALICE)
    await reaches(bot, release_id, "failed")


async def test_sixty_criteria_are_verified_page_by_page_in_one_modal(workspace: Workspace, bot: Releasebot,
                                                                     slack: FakeSlack) -> None:
    release_id, card = await approved(workspace, bot, model="long")
    components, procedures = LONG
    everything = components + procedures
    view = await open_checklist(workspace, release_id, by=BOB)
    pages = [view]
    seen: list[str] = []
    while True:
        assert lint_view(view) == [], lint_view(view)
        on_page = list(criteria_of(view))
        seen += on_page
        answer = await record(workspace, view, {name: "pass" for name in on_page if name != "Procedure check 19"},
                              by=BOB, view_id="VLONG")
        if not answer.body:
            break
        body = answer.json()
        assert body["response_action"] == "update"
        view = body["view"]
        pages.append(view)
    assert seen == everything and len(pages) == 6
    assert pages[-1]["submit"]["text"] == "Record" and pages[0]["submit"]["text"] == "Record & next"
    assert lint_calls(slack.calls) == []

    await eventually(lambda: _count(bot, release_id, 59))
    await slack.wait_for(lambda: "59 of 60 passed" in card_now(slack, card).mrkdwn(), timeout=30)
    assert (await details(bot, release_id)).release.state.value == "approved"
    answer = await ask(workspace, f"start REL-{release_id}", by=ALICE)
    assert "still to pass: Procedure check 19 (not verified)." in answer.text

    # The last page again, from a fresh checklist: the page shows what was recorded before.
    view = await open_checklist(workspace, release_id, by=BOB)
    assert "59 of 60 passed" in view["blocks"][0]["text"]["text"]
    for _ in range(5):
        view = (await record(workspace, view, {}, by=BOB, view_id="VLONG2")).json()["view"]
    assert "last :white_check_mark: passed by <@UBOB>" in str(view["blocks"])
    await record(workspace, view, {"Procedure check 19": "pass"}, by=BOB, view_id="VLONG2")
    await reaches(bot, release_id, "ready")

    shown = await ask(workspace, f"show REL-{release_id}", by=EVE)
    assert lint_calls([shown]) == []
    assert "Procedure check 19: :white_check_mark: passed by <@UBOB>" in shown.all_text()


async def _count(bot: Releasebot, release_id: int, count: int) -> bool:
    return len((await details(bot, release_id)).verifications) >= count
