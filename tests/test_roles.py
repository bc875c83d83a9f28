"""Who may do what (DESIGN.md §6): the roles table row by row, planners of a model, release
managers, and handing a release over (the new owner gets the reminders from then on)."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.catalog import Catalog
from bot.config import Settings
from bot.lifecycle import MAY, Action, Actor, Release, Role, State, permit, permit_general
from handlers.app import Releasebot, build
from handlers.slack.commands import person
from handlers.slack.manifest import manifest
from tests.conftest import ALICE, BOB, DAVE, EVE, MODELS, MovableClock, eventually, plan_release, plan_values, settle
from tests.fake_slack import FakeSlack
from tests.verifying import approved, ask, card_now, details, state_of
from tests.workspace import Workspace

MANAGER = "UMGR"
OWNER, APPROVER, MGR = Role.OWNER, Role.APPROVER, Role.MANAGER

PIPE = Role.PIPELINE

#: DESIGN.md §6, as written there (planning is checked elsewhere; a pipeline token's model scope
#: is the API's, tests/test_pipeline_errors.py).
TABLE: dict[Action, set[Role]] = {
    **{a: {OWNER, MGR} for a in (Action.CHANGE_WINDOW, Action.ANNOUNCE, Action.SURVEY, Action.HAND_OVER,
                                 Action.CLOSE, Action.LESSONS, Action.EDIT_PLAN)},
    **{a: {OWNER, MGR, PIPE} for a in (Action.SUBMIT, Action.CANCEL, Action.START)},
    Action.DECIDE: {APPROVER},
    **{a: {OWNER, APPROVER, MGR, PIPE} for a in (Action.VERIFY, Action.ROLLBACK, Action.LINK_INCIDENT)},
    Action.REVIEW: {OWNER, APPROVER, MGR},
    Action.MODEL_REVIEW: {APPROVER, MGR},
    **{a: {MGR} for a in (Action.FREEZE, Action.UNFREEZE, Action.OVERRIDE_FREEZE)},
}
ROLE_SETS = [frozenset(c) for n in range(4) for c in itertools.combinations((OWNER, APPROVER, MGR), n)]
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
RELEASE = Release(7, "cab", "Payments API 2.3", State.READY, ALICE, NOW, NOW)


def test_the_table_is_design_section_six() -> None:
    assert {action: set(roles) for action, roles in MAY.items()} == TABLE


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda r: "+".join(sorted(r)) or "nobody")
def test_each_row_allows_its_roles_and_refuses_the_rest_naming_who_may(action: Action,
                                                                      roles: frozenset[Role]) -> None:
    actor = Actor("UX", roles, approvers=(BOB, "SCAB"), managers=(MANAGER,))
    refused = permit(RELEASE, actor, action)
    general = permit_general(actor, action, "cab")
    if roles & TABLE[action]:
        assert refused is None and general is None
        return
    assert refused is not None and refused.code == "not_allowed"
    assert general is not None and general.code == "not_allowed"
    # Who may instead, by id, for Slack to mention.
    expected = ([ALICE] if OWNER in TABLE[action] else []) + \
        ([BOB, "SCAB"] if APPROVER in TABLE[action] else []) + ([MANAGER] if MGR in TABLE[action] else [])
    assert list(refused.people) == expected
    for who in expected:
        assert who in refused.reason


def test_without_managers_configured_a_refusal_names_only_who_there_is() -> None:
    refused = permit(RELEASE, Actor(EVE), Action.START)
    assert refused is not None and refused.reason == "Only the release owner, UALICE, can start REL-7."
    freeze = permit_general(Actor(EVE), Action.FREEZE)
    assert freeze is not None and "RELEASEBOT_MANAGERS" in freeze.reason


def test_a_person_named_in_a_command_arrives_escaped() -> None:
    assert manifest("https://example.com", socket_mode=False)["features"]["slash_commands"][0]["should_escape"]
    assert person("<@UDAVE|dave>") == "UDAVE"
    assert person("<@W0DAVE>") == "W0DAVE"
    assert person("UDAVE") == "UDAVE"
    assert person("@dave") is None and person("<#C123|general>") is None and person("<!subteam^S1|x>") is None


# --- through Slack ----------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The test models, the CAB release planned only by Alice and the CAB group."""
    copy = Path(shutil.copytree(MODELS, tmp_path / "models"))
    cab = copy / "cab.yaml"
    cab.write_text(cab.read_text().replace("approach: push\n", "approach: push\nplanners: [UALICE, SCAB]\n"))
    return copy


@pytest.fixture
async def managed(settings: Settings, folder: Path, slack: FakeSlack,
                  clock: MovableClock) -> AsyncIterator[tuple[Releasebot, Workspace]]:
    """The bot with UMGR as release manager and the models of `folder`."""
    configured = settings.model_copy(update={"releasebot_managers": MANAGER})
    bot = build(configured, Catalog.load(folder), clock=clock)
    bot.heartbeat.poll_seconds = 0.2
    client = TestClient(TestServer(bot.web_app(), host="127.0.0.1"))
    await client.start_server()
    yield bot, Workspace(client, slack)
    await client.close()


async def test_a_non_planner_is_refused_in_the_form_and_a_planner_plans(
        managed: tuple[Releasebot, Workspace], slack: FakeSlack) -> None:
    bot, workspace = managed
    await workspace.command("new cab", by=EVE)
    view = (await slack.wait_for_calls("views.open"))[0]["view"]
    answer = await workspace.submit_view(view, plan_values(), by=EVE)
    errors = answer.json()["errors"]
    assert "Only the planners of cab (UALICE, SCAB) can plan CAB release releases" in errors["model"]
    assert (await bot.services.releases.list())[1] == 0
    release_id, _ = await plan_release(workspace, by=DAVE)  # in the CAB group
    assert (await bot.services.releases.get(release_id)).owner == DAVE  # type: ignore[union-attr]
    # A model without planners is anyone's to plan.
    quick_id, _ = await plan_release(workspace, by=EVE, model="quick")
    assert await state_of(bot, quick_id) == "planned"


async def test_a_release_manager_acts_as_the_owner_and_others_hear_who_may(
        managed: tuple[Releasebot, Workspace], slack: FakeSlack) -> None:
    bot, workspace = managed
    release_id, _ = await plan_release(workspace, by=ALICE)
    refused = await ask(workspace, f"submit REL-{release_id}", by=EVE)
    assert f"Only the release owner, <@UALICE>, or a release manager (<@UMGR>) can submit REL-{release_id}." \
        in refused.text
    assert "is submitted" in (await ask(workspace, f"submit REL-{release_id}", by=MANAGER)).text
    refused = await ask(workspace, f"cancel REL-{release_id} Not needed", by=BOB)  # an approver
    assert "or a release manager (<@UMGR>) can cancel" in refused.text
    assert "is cancelled" in (await ask(workspace, f"cancel REL-{release_id} Not needed", by=MANAGER)).text
    events = [(e.kind, e.actor) for e in (await details(bot, release_id)).events]
    assert ("submitted", MANAGER) in events and ("cancelled", MANAGER) in events


async def test_start_is_the_owners_and_the_managers_and_review_the_approvers_too(
        managed: tuple[Releasebot, Workspace], slack: FakeSlack) -> None:
    bot, workspace = managed
    release_id, _ = await approved(workspace, bot, model="quick")  # no checks: ready on approval
    await eventually(lambda: _is(bot, release_id, "ready"))
    refused = await ask(workspace, f"start REL-{release_id}", by=BOB)  # an approver of quick
    assert "Only the release owner, <@UALICE>, or a release manager (<@UMGR>) can start" in refused.text
    assert "is executing" in (await ask(workspace, f"start REL-{release_id}", by=MANAGER)).text
    rolled = await ask(workspace, f"rollback REL-{release_id} Errors up", by=BOB)  # approvers roll back
    assert "rolled back" in rolled.text
    refused = await ask(workspace, f"review REL-{release_id}", by=EVE)
    assert "the approvers of quick (<@UALICE>, <@UBOB>) or a release manager (<@UMGR>) can post the review" \
        in refused.text
    await workspace.command(f"review REL-{release_id}", by=BOB)
    await slack.wait_for(lambda: [p for p in slack.posts() if "Release review of" in p.text])
    refused = await ask(workspace, f"close REL-{release_id}", by=BOB)
    assert "can close" in refused.text
    assert "is closed" in (await ask(workspace, f"close REL-{release_id}", by=MANAGER)).text


async def test_handing_over_moves_the_reminders_to_the_new_owner(
        managed: tuple[Releasebot, Workspace], slack: FakeSlack, clock: MovableClock) -> None:
    bot, workspace = managed
    release_id, card = await approved(workspace, bot)
    await settle(bot)
    ref = f"REL-{release_id}"
    refused = await ask(workspace, f"owner {ref} <@UEVE|eve>", by=BOB)
    assert f"Only the release owner, <@UALICE>, or a release manager (<@UMGR>) can hand {ref} over" in refused.text
    answer = await ask(workspace, f"owner {ref} <@UEVE|eve>", by=ALICE)
    assert f"{ref} now belongs to <@UEVE>" in answer.text
    record = await details(bot, release_id)
    assert record.release.owner == EVE
    assert [(e.kind, e.actor, e.data) for e in record.events if e.kind == "owner_changed"] == [
        ("owner_changed", ALICE, {"from": ALICE, "to": EVE})]
    await slack.wait_for(lambda: "<@UEVE>" in card_now(slack, card).mrkdwn())

    # The reminder an hour before the start goes to Eve now, not to Alice.
    start = record.release.planned_start
    clock.advance(start - timedelta(minutes=59) - clock())
    reminder = (await slack.wait_for_calls("chat.postMessage", channel=EVE, timeout=15))[0]
    assert f"/release start {ref}" in reminder.all_text()
    await settle(bot)
    assert not [p for p in slack.posts(ALICE) if f"/release start {ref}" in p.all_text()]
    withdrawn = [d for d in (await details(bot, release_id)).deliveries if d.channel == ALICE and d.template]
    assert [d.state for d in withdrawn] == ["withdrawn"]
    # The new owner may do what the owner may; the old one no longer.
    assert "Only the release owner, <@UEVE>" in (await ask(workspace, f"cancel {ref} Moved", by=ALICE)).text
    # A release manager hands it over too, and a bad mention is answered with the usage.
    assert f"{ref} now belongs to <@UCAROL>" in (await ask(workspace, f"owner {ref} <@UCAROL>", by=MANAGER)).text
    bad = await workspace.command(f"owner {ref} carol", by=MANAGER)
    assert "as a mention" in bad.text


async def _is(bot: Releasebot, release_id: int, state: str) -> bool:
    return await state_of(bot, release_id) == state

