"""The pipeline API (DESIGN.md §7) as a pipeline and the people in Slack use it together:
requests with a token into the running app, a person approving in the (fake) Slack, and what
reaches Slack and the record."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.catalog import Catalog
from bot.config import Settings
from handlers.app import Releasebot
from storage.tables import OutboxRow
from tests.conftest import ALICE, BOB, eventually, settle
from tests.fake_slack import Call, FakeSlack
from tests.pipeline import Pipeline, release_body, token
from tests.verifying import APPROVALS, ask, state_of
from tests.workspace import SIGNING_SECRET, Workspace

PIPELINE_MODELS = Path(__file__).parent / "pipeline_models"
ANNOUNCE = "CANNOUNCE"
ALL_PASS = {"results": [
    {"stage": "components", "criterion": "Unit tests green", "outcome": "pass",
     "evidence": "https://ci.example.com/run/1"},
    {"stage": "components", "criterion": "Integration tests green", "outcome": "pass"},
    {"stage": "procedures", "criterion": "Rollback rehearsed", "outcome": "pass"},
]}


@pytest.fixture
def settings(database_url: str, slack: FakeSlack) -> Settings:
    return Settings.model_validate({
        "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url, "DATABASE_URL": database_url, "RELEASEBOT_MODELS": str(PIPELINE_MODELS),
        "RELEASEBOT_MANAGERS": "UEVE",
    })


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.load(PIPELINE_MODELS)


@pytest.fixture
async def ci(bot: Releasebot, workspace: Workspace) -> Pipeline:
    return Pipeline(workspace.http, await token(bot, "ci", ["deploy", "standard-change"]))


async def approve_in_slack(workspace: Workspace, bot: Releasebot, ref: str) -> None:
    slack = workspace.slack
    request = (await slack.wait_for(lambda: [p for p in slack.posts(APPROVALS) if f"{ref} " in p.text
                                             and has_button(p, "Approve")]))[0]
    await workspace.click("Approve", on=slack.message(request.channel, request.ts), by=BOB)
    await eventually(lambda: _state_is(bot, ref, "approved"))


def has_button(call: Call, label: str) -> bool:
    return label in [b["text"]["text"] for b in call.buttons()]


async def _state_is(bot: Releasebot, ref: str, state: str) -> bool:
    return await state_of(bot, int(ref.removeprefix("REL-"))) == state


async def test_a_pipeline_release_goes_from_ci_to_slack_approval_to_released(
        bot: Releasebot, workspace: Workspace, ci: Pipeline, slack: FakeSlack) -> None:
    created = await ci.post("/releases", release_body())
    assert created.status == 201, created.body
    ref = created["id"]
    assert created["model"]["key"] == "deploy" and created["state"] == "planned"
    assert created["model"]["version"] and created["channel"] == APPROVALS

    gate = await ci.get(f"/releases/{ref}/gate")
    assert gate.status == 200 and gate["go"] is False and "submit" in gate["reason"]

    assert (await ci.post(f"/releases/{ref}/submit"))["state"] == "awaiting_approval"
    waiting = await ci.get(f"/releases/{ref}/gate")
    assert waiting["go"] is False and "approval" in waiting["reason"] and waiting["retry_after"] == 30

    await approve_in_slack(workspace, bot, ref)

    recorded = await ci.post(f"/releases/{ref}/verifications", ALL_PASS)
    assert recorded.status == 201, recorded.body
    assert recorded["release"]["state"] == "ready"
    go = await ci.get(f"/releases/{ref}/gate?wait=5")
    assert go.body == {"go": True, "state": "ready", "reason": f"{ref} is ready and no freeze is in force.",
                       "retry_after": None}

    assert (await ci.post(f"/releases/{ref}/start"))["state"] == "executing"
    done = await ci.post(f"/releases/{ref}/verifications",
                         {"stage": "release", "criterion": "Smoke tests pass", "outcome": "pass"})
    assert done["release"]["state"] == "released"

    await settle(bot)
    assert any(f"Released: Payments API 2.4* ({ref})" in p.text for p in slack.posts(ANNOUNCE))

    record = await ci.get(f"/releases/{ref}")
    assert record["state"] == "released" and record["incidents"] == []
    assert [a["by"] for a in record["approvals"]] == [BOB]
    assert {v["by"] for v in record["verifications"]} == {"token:ci"}
    assert record["verifications"][0]["evidence"] == "https://ci.example.com/run/1"
    kinds = [(e["kind"], e["actor"]) for e in record["events"]]
    assert ("planned", "token:ci") in kinds and ("submitted", "token:ci") in kinds
    assert ("approved", BOB) in kinds and ("started", "token:ci") in kinds and ("released", "token:ci") in kinds

    shown = await ask(workspace, f"show {ref}", by=ALICE)
    blocks = json.dumps(shown.params["blocks"])
    assert "`token:ci`" in blocks and "<@token:ci>" not in blocks


async def test_the_openapi_document_needs_no_token_and_describes_every_route(workspace: Workspace) -> None:
    answer = await workspace.http.get("/api/v1/openapi.json")
    assert answer.status == 200
    spec = await answer.json()
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/releases/{ref}/gate" in spec["paths"]
    create = spec["paths"]["/api/v1/releases"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CreateRelease")
    assert "owner" in spec["components"]["schemas"]["CreateRelease"]["required"]
    assert "401" in create["responses"] and "422" in create["responses"]


async def test_a_pre_authorized_model_is_approved_on_submission(bot: Releasebot, ci: Pipeline,
                                                                 slack: FakeSlack) -> None:
    created = await ci.post("/releases", release_body(title="Docs site", service="docs-site", environment=None))
    assert created.status == 201 and created["model"]["key"] == "standard-change", created.body
    ref = created["id"]
    submitted = await ci.post(f"/releases/{ref}/submit")
    assert submitted["state"] == "ready"  # approved without a person; no pre-execution checks
    record = await ci.get(f"/releases/{ref}")
    kinds = [e["kind"] for e in record["events"]]
    assert kinds.index("submitted") < kinds.index("pre_authorized") < kinds.index("approved")
    assert next(e for e in record["events"] if e["kind"] == "approved")["data"] == {"pre_authorized": True}
    await settle(bot)
    assert not [p for p in slack.posts(APPROVALS) if has_button(p, "Approve") and f"{ref} " in p.text]
    # Three steps in one transaction, one update of the card: the release as it ended.
    async with bot.services.releases.uow(read_only=True) as uow:
        updates = list((await uow.session.execute(
            select(OutboxRow.dedupe_key).where(OutboxRow.dedupe_key.like(f"{ref}:card:v%")))).scalars())
    assert len(updates) == 1, updates


async def test_concurrent_verification_posts_from_two_jobs_make_the_release_ready_once(
        bot: Releasebot, workspace: Workspace, ci: Pipeline) -> None:
    ref = (await ci.post("/releases", release_body()))["id"]
    await ci.post(f"/releases/{ref}/submit")
    await approve_in_slack(workspace, bot, ref)
    jobs = [{"stage": "components", "criterion": c, "outcome": "pass"}
            for c in ("Unit tests green", "Integration tests green")]
    await ci.post(f"/releases/{ref}/verifications", {"stage": "procedures", "criterion": "Rollback rehearsed",
                                                     "outcome": "pass"})
    answers = await asyncio.gather(*(ci.post(f"/releases/{ref}/verifications", job) for job in jobs))
    assert [a.status for a in answers] == [201, 201]
    record = await ci.get(f"/releases/{ref}")
    assert record["state"] == "ready"
    assert [e["kind"] for e in record["events"]].count("ready") == 1
