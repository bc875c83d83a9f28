"""A release manager plans a release from a release model, through the modal."""

from __future__ import annotations

import json

from handlers.app import Releasebot
from tests.blockkit_lint import lint_calls
from tests.conftest import ALICE, CHANNEL, plan_release, plan_values, settle, window
from tests.workspace import Workspace


async def test_new_opens_the_planning_modal_prefilled(workspace: Workspace) -> None:
    answer = await workspace.command("new cab Payments API 2.3", by=ALICE)
    assert answer.status == 200
    opened = await workspace.slack.wait_for_calls("views.open")
    view = opened[0]["view"]
    assert opened[0]["trigger_id"].endswith(".trigger")
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert blocks["model"]["element"]["initial_option"]["value"] == "cab"
    assert blocks["title"]["element"]["initial_value"] == "Payments API 2.3"
    assert json.loads(view["private_metadata"]) == {"channel_id": CHANNEL}


async def test_submitting_the_modal_plans_a_release_and_posts_its_card(
    workspace: Workspace, bot: Releasebot
) -> None:
    release_id, card = await plan_release(workspace, title="Payments API 2.3")
    assert card["channel"] == CHANNEL
    assert card.text.startswith(f"REL-{release_id} Payments API 2.3 is planned")
    content = card.all_text()
    for expected in ("CAB release", "Planned", "<@UALICE>", "payments-api", "ledger-db", "CHG-1234"):
        assert expected in content
    record = await bot.services.releases.get(release_id)
    assert record is not None and record.state == "planned" and record.owner == ALICE



async def test_new_without_a_known_model_takes_the_whole_text_as_title(workspace: Workspace) -> None:
    await workspace.command("new Payments API 2.3", by=ALICE)
    view = (await workspace.slack.wait_for_calls("views.open"))[0]["view"]
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert "initial_option" not in blocks["model"]["element"]
    assert blocks["title"]["element"]["initial_value"] == "Payments API 2.3"


async def _open_modal(workspace: Workspace) -> dict:
    await workspace.command("new cab", by=ALICE)
    return (await workspace.slack.wait_for_calls("views.open"))[0]["view"]


async def test_end_before_start_is_a_field_error_and_plans_nothing(workspace: Workspace, bot: Releasebot) -> None:
    view = await _open_modal(workspace)
    start, _ = window()
    answer = await workspace.submit_view(view, plan_values(start=start, end=start), by=ALICE)
    assert answer.status == 200
    assert answer.json() == {"response_action": "errors",
                             "errors": {"end": "The planned end must be after the planned start."}}
    assert (await bot.services.releases.list())[1] == 0


async def test_blank_title_and_unknown_model_are_field_errors(workspace: Workspace, bot: Releasebot) -> None:
    view = await _open_modal(workspace)
    answer = await workspace.submit_view(view, plan_values(title="   ", model="nope"), by=ALICE)
    errors = answer.json()["errors"]
    assert set(errors) == {"title", "model"}
    assert "cab" in errors["model"]
    assert (await bot.services.releases.list())[1] == 0


async def test_a_resubmitted_modal_plans_one_release(workspace: Workspace, bot: Releasebot) -> None:
    view = await _open_modal(workspace)
    for _ in range(3):
        answer = await workspace.submit_view(view, plan_values(), by=ALICE, view_id="VSAME")
        assert answer.status == 200
    await workspace.slack.wait_for(lambda: workspace.slack.posts(CHANNEL))
    releases, total = await bot.services.releases.list()
    assert total == 1
    details = await bot.services.releases.show(releases[0].id)
    assert details is not None and [e.kind for e in details.events] == ["planned"]
    await settle(bot)
    assert len(workspace.slack.posts(CHANNEL)) == 1


async def test_typed_text_cannot_ping_or_link(workspace: Workspace) -> None:
    _, card = await plan_release(workspace, title="<!channel> <https://evil.example|click me> & co",
                                 description="<@UBOSS> <!here>", components="<!everyone>")
    content = card.mrkdwn()
    for raw in ("<!channel>", "<https://evil.example", "<!here>", "<@UBOSS>", "<!everyone>"):
        assert raw not in content
    assert "&lt;!channel&gt;" in content and "&amp; co" in content


async def test_long_input_stays_within_block_kit_limits(workspace: Workspace) -> None:
    huge = "x" * 10_000
    _, card = await plan_release(workspace, title="T" * 150, description=huge,
                                 components="\n".join(f"component-{i}-{'y' * 150}" for i in range(300)),
                                 change_ref="C" * 200)
    assert lint_calls(workspace.slack.calls) == []
    assert len(card.text) <= 4000
