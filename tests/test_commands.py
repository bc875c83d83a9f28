"""`/release help | models | list | show`: what a person sees, and only they."""

from __future__ import annotations

import pytest

from tests.blockkit_lint import lint_calls, lint_message
from tests.conftest import ALICE, BOB, plan_release
from tests.workspace import Workspace


@pytest.mark.parametrize("text", ["", "help", "frobnicate REL-1", "HELP"])
async def test_help_and_unknown_commands_explain_usage_privately(workspace: Workspace, text: str) -> None:
    answer = await workspace.command(text, by=ALICE)
    assert answer.status == 200
    body = answer.json()
    assert body["response_type"] == "ephemeral"
    assert "/release new" in body["text"] and "/release show REL-n" in body["text"]
    if text.startswith("frob"):
        assert "I don't know `/release frobnicate`" in body["text"]


async def test_models_lists_key_name_approach_and_approvers(workspace: Workspace) -> None:
    answer = await workspace.command("models", by=ALICE)
    body = answer.json()
    assert body["response_type"] == "ephemeral"
    assert lint_message(body) == []
    text = answer.text
    assert "CAB release" in text and "`cab`" in text and "push" in text
    assert "<@UBOB>" in text and "<!subteam^SCAB>" in text
    assert "Quick fix" in text and "pull" in text


async def test_list_shows_releases_newest_first(workspace: Workspace) -> None:
    first, _ = await plan_release(workspace, title="First")
    second, _ = await plan_release(workspace, title="Second", by=BOB)
    seen = len(workspace.slack.responses())
    await workspace.command("list", by=ALICE)
    reply = await workspace.slack.next_response(seen)
    text = reply.all_text()
    assert reply["response_type"] == "ephemeral"
    assert text.index(f"REL-{second}") < text.index(f"REL-{first}")


async def test_list_counts_every_release_planned_whatever_became_of_it(workspace: Workspace) -> None:
    """The total is counted from the metrics' day rows, not from the releases: each planned
    release once, whatever its model, and still once after it is cancelled."""
    first, _ = await plan_release(workspace, title="First")
    await plan_release(workspace, title="Second", by=BOB, model="quick")
    await plan_release(workspace, title="Third", by=BOB)
    seen = len(workspace.slack.responses())
    answer = await workspace.command(f"cancel REL-{first} no longer needed", by=ALICE)
    assert answer.status == 200
    assert "cancelled" in (await workspace.slack.next_response(seen)).all_text()
    seen += 1
    await workspace.command("list", by=ALICE)
    assert "*Releases* (3)" in (await workspace.slack.next_response(seen)).all_text()
    await workspace.command("list mine", by=BOB)
    assert "*Your releases* (2)" in (await workspace.slack.next_response(seen + 1)).all_text()
    await workspace.command("list cancelled", by=ALICE)
    assert f"REL-{first}" in (await workspace.slack.next_response(seen + 2)).all_text()


async def test_list_mine_shows_only_my_releases(workspace: Workspace) -> None:
    mine, _ = await plan_release(workspace, title="Mine", by=ALICE)
    theirs, _ = await plan_release(workspace, title="Theirs", by=BOB)
    seen = len(workspace.slack.responses())
    await workspace.command("list mine", by=ALICE)
    text = (await workspace.slack.next_response(seen)).all_text()
    assert f"REL-{mine}" in text and f"REL-{theirs}" not in text


async def test_list_by_state(workspace: Workspace) -> None:
    planned, _ = await plan_release(workspace)
    seen = len(workspace.slack.responses())
    await workspace.command("list planned", by=ALICE)
    assert f"REL-{planned}" in (await workspace.slack.next_response(seen)).all_text()
    await workspace.command("list released", by=ALICE)
    assert f"REL-{planned}" not in (await workspace.slack.next_response(seen + 1)).all_text()


async def test_list_with_an_unknown_state_says_which_exist(workspace: Workspace) -> None:
    answer = await workspace.command("list shipped", by=ALICE)
    assert "not a release state" in answer.json()["text"] and "awaiting_approval" in answer.json()["text"]


async def test_show_presents_the_record_with_its_history(workspace: Workspace) -> None:
    release_id, _ = await plan_release(workspace, title="Payments API 2.3")
    seen = len(workspace.slack.responses())
    await workspace.command(f"show rel-{release_id}", by=BOB)
    reply = await workspace.slack.next_response(seen)
    text = reply.all_text()
    assert reply["response_type"] == "ephemeral"
    assert f"REL-{release_id} · Payments API 2.3" in text
    assert "History" in text and "planned by <@UALICE>" in text
    assert lint_calls(workspace.slack.calls) == []


async def test_show_an_unknown_release_says_so(workspace: Workspace) -> None:
    seen = len(workspace.slack.responses())
    await workspace.command("show REL-999", by=ALICE)
    assert "There is no REL-999" in (await workspace.slack.next_response(seen)).text


@pytest.mark.parametrize("text", ["show", "show banana"])
async def test_show_without_a_release_asks_which(workspace: Workspace, text: str) -> None:
    answer = await workspace.command(text, by=ALICE)
    assert "Say which release" in answer.json()["text"]
