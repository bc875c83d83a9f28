"""Where the pipeline API meets the rest of the bot: criteria only a pipeline records (shown
read-only in Slack), the gate's long poll waking on a Slack approval, the calendar read with a
pipeline token, incidents, and the `releasebot token` and `export events` commands."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.catalog import Catalog
from bot.config import Settings
from handlers.app import Releasebot
from tests.conftest import ALICE, eventually
from tests.fake_slack import FakeSlack
from tests.pipeline import Pipeline, release_body, token
from tests.test_cli import releasebot
from tests.test_pipeline_api import ALL_PASS, PIPELINE_MODELS, approve_in_slack
from tests.verifying import checklist_values, details, open_checklist, state_of
from tests.workspace import SIGNING_SECRET, Workspace

CALENDAR_TOKEN = "calendar-setting-token-0123456789abcdef01234"


@pytest.fixture
def settings(database_url: str, slack: FakeSlack) -> Settings:
    return Settings.model_validate({
        "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url, "DATABASE_URL": database_url, "RELEASEBOT_MODELS": str(PIPELINE_MODELS),
        "RELEASEBOT_CALENDAR_TOKEN": CALENDAR_TOKEN,
    })


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.load(PIPELINE_MODELS)


@pytest.fixture
async def ci(bot: Releasebot, workspace: Workspace) -> Pipeline:
    return Pipeline(workspace.http, await token(bot, "ci", ["deploy"]))


async def approved_release(bot: Releasebot, workspace: Workspace, ci: Pipeline) -> str:
    ref = str((await ci.post("/releases", release_body()))["id"])
    await ci.post(f"/releases/{ref}/submit")
    await approve_in_slack(workspace, bot, ref)
    return ref


async def test_people_see_pipeline_criteria_read_only_and_cannot_record_them(
        bot: Releasebot, workspace: Workspace, ci: Pipeline) -> None:
    ref = await approved_release(bot, workspace, ci)
    release_id = int(ref.removeprefix("REL-"))
    view = await open_checklist(workspace, release_id, by=ALICE)
    text = json.dumps(view["blocks"])
    assert "Recorded by the pipeline only" in text
    inputs = {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
    assert "v0:o" in inputs and "v1:o" not in inputs  # Integration tests green is index 1
    # Even a crafted submission with an outcome for it records only what people may record.
    values = checklist_values(view, {"Unit tests green": "pass", "Integration tests green": "pass",
                                     "Rollback rehearsed": "pass"})
    assert (await workspace.submit_view(view, values, by=ALICE)).status == 200
    await eventually(lambda: _count(bot, release_id, 2))
    assert {v.criterion for v in (await details(bot, release_id)).verifications} == {
        "Unit tests green", "Rollback rehearsed"}
    assert await state_of(bot, release_id) == "approved"
    done = await ci.post(f"/releases/{ref}/verifications",
                         {"stage": "components", "criterion": "Integration tests green", "outcome": "pass"})
    assert done["release"]["state"] == "ready"


async def _count(bot: Releasebot, release_id: int, count: int) -> bool:
    return len((await details(bot, release_id)).verifications) >= count


async def test_a_waiting_gate_answers_when_the_approver_clicks(bot: Releasebot, workspace: Workspace,
                                                                ci: Pipeline) -> None:
    ref = (await ci.post("/releases", release_body()))["id"]
    await ci.post(f"/releases/{ref}/submit")
    waiting = asyncio.create_task(ci.get(f"/releases/{ref}/gate?wait=30"))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await approve_in_slack(workspace, bot, ref)
    answer = await asyncio.wait_for(waiting, timeout=20)
    assert answer["go"] is False and answer["state"] == "approved" and "verification" in answer["reason"]
    assert "Integration tests green (not verified)" in answer["reason"]


async def test_a_waiting_gate_is_not_woken_by_other_releases_changing(
        bot: Releasebot, ci: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """Held for 3 s while ten other releases are planned and submitted (twenty commits): the
    held request reads its release again on its own once a second, not after each commit."""
    assert bot.api is not None
    gate = bot.api.gate
    ref = (await ci.post("/releases", release_body()))["id"]
    await ci.post(f"/releases/{ref}/submit")
    looks: list[int] = []
    ask = gate.ask

    async def counted(release_id: int) -> object:
        looks.append(release_id)
        return await ask(release_id)

    monkeypatch.setattr(gate, "ask", counted)
    waiting = asyncio.create_task(ci.get(f"/releases/{ref}/gate?wait=3"))
    await eventually(lambda: _looked(looks))
    for n in range(10):
        other = (await ci.post("/releases", release_body(title=f"Other {n}")))["id"]
        await ci.post(f"/releases/{other}/submit")
    answer = await asyncio.wait_for(waiting, timeout=20)
    assert answer["state"] == "awaiting_approval"
    mine = int(str(ref).removeprefix("REL-"))
    assert set(looks) == {mine} and 1 <= len(looks) <= 5  # the first answer, then about one a second


async def _looked(looks: list[int]) -> bool:
    return bool(looks)


async def test_the_calendar_takes_pipeline_tokens_and_the_old_setting(bot: Releasebot, workspace: Workspace,
                                                                      ci: Pipeline) -> None:
    ref = (await ci.post("/releases", release_body()))["id"]
    own = await workspace.http.get(f"/calendar.ics?token={ci.token}")
    assert own.status == 200 and f"SUMMARY:{ref}" in (await own.text())
    other = await token(bot, "other", ["manual"])
    assert f"SUMMARY:{ref}" not in await (await workspace.http.get(f"/calendar.ics?token={other}")).text()
    assert (await workspace.http.get(f"/calendar.ics?token={CALENDAR_TOKEN}")).status == 200
    assert bot.api is not None
    await bot.api.tokens.revoke("ci")
    assert (await workspace.http.get(f"/calendar.ics?token={ci.token}")).status == 401


async def test_a_pipeline_links_an_incident_to_a_release_it_started(bot: Releasebot, workspace: Workspace,
                                                                     ci: Pipeline) -> None:
    ref = await approved_release(bot, workspace, ci)
    early = await ci.post(f"/releases/{ref}/incidents", {"ref": "INC-6"})
    assert early.status == 409 and early["error"] == "wrong_state"  # not executed yet: nothing to relate
    await ci.post(f"/releases/{ref}/verifications", ALL_PASS)
    assert (await ci.post(f"/releases/{ref}/start"))["state"] == "executing"
    answer = await ci.post(f"/releases/{ref}/incidents", {"ref": "INC-7", "summary": "Refunds slow",
                                                          "url": "https://incidents.example.com/INC-7"})
    assert answer.status == 201, answer.body
    assert answer["ref"] == "INC-7" and answer["by"] == "token:ci"
    shown = await ci.get(f"/releases/{ref}")
    assert [(i["ref"], i["summary"], i["by"]) for i in shown["incidents"]] == [("INC-7", "Refunds slow", "token:ci")]
    assert ("incident_linked", "token:ci") in [(e["kind"], e["actor"]) for e in shown["events"]]
    bad = await ci.post(f"/releases/{ref}/incidents", {"ref": "not an id!"})
    assert bad.status == 422 and "ref" in bad["fields"]
    again = await ci.post(f"/releases/{ref}/incidents", {"ref": "INC-7"})
    assert again.status == 409 and again["error"] == "duplicate_incident"


def test_token_commands_and_the_event_export(tmp_path: Path) -> None:
    models = {"RELEASEBOT_MODELS": str(PIPELINE_MODELS)}
    made = releasebot(tmp_path, "token", "create", "deploy-ci", "--models", "deploy", **models)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("rbt_") and len(secret) >= 32
    assert secret not in (tmp_path / "releasebot.db").read_bytes().decode("latin-1")
    taken = releasebot(tmp_path, "token", "create", "deploy-ci", **models)
    assert taken.returncode == 2 and "already" in taken.stderr
    wrong = releasebot(tmp_path, "token", "create", "x", "--models", "nope", **models)
    assert wrong.returncode == 2 and "no release model nope" in wrong.stderr
    listed = releasebot(tmp_path, "token", "list", **models)
    assert "deploy-ci\tmodels=deploy" in listed.stdout and "active" in listed.stdout
    assert releasebot(tmp_path, "token", "revoke", "deploy-ci", **models).returncode == 0
    assert "revoked" in releasebot(tmp_path, "token", "list", **models).stdout
    assert releasebot(tmp_path, "token", "revoke", "deploy-ci", **models).returncode == 1
    exported = releasebot(tmp_path, "export", "events", "--since", "2026-01-01", **models)
    assert exported.returncode == 0 and exported.stdout == "", exported.stderr


async def test_export_prints_every_event_as_a_json_line(bot: Releasebot, workspace: Workspace, ci: Pipeline,
                                                        database_url: str, tmp_path: Path) -> None:
    ref = (await ci.post("/releases", release_body()))["id"]
    await ci.post(f"/releases/{ref}/submit")
    url = database_url.replace("+aiosqlite", "").replace("+asyncpg", "")
    done = await asyncio.to_thread(releasebot, tmp_path, "export", "events", "--release", ref,
                                   DATABASE_URL=url, RELEASEBOT_MODELS=str(PIPELINE_MODELS))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(e["kind"], e["actor"]) for e in lines][:2] == [("planned", "token:ci"), ("submitted", "token:ci")]
    assert all(e["release"] == ref and e["at"] for e in lines)
