"""A release manager plans a release from a release model, through the modal."""

from __future__ import annotations

import json

from bot.app import Releasebot
from tests.conftest import ALICE, CHANNEL, plan_release, plan_values, window
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

