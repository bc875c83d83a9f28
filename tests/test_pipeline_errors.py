"""The pipeline API's answers when something is wrong (DESIGN.md §7): 401, 403, 404, 409, 413,
422, 429, each `{"error", "message"[, "fields"]}`; retries under one Idempotency-Key; a token
scoped to one release model cannot touch another's releases."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot import idempotency
from bot.catalog import Catalog
from bot.config import Settings
from handlers.api.edge import RateLimit
from handlers.app import Releasebot
from tests.fake_slack import FakeSlack
from tests.pipeline import Pipeline, release_body, token
from tests.test_pipeline_api import ALL_PASS, PIPELINE_MODELS, approve_in_slack
from tests.workspace import SIGNING_SECRET, Workspace


@pytest.fixture
def settings(database_url: str, slack: FakeSlack) -> Settings:
    return Settings.model_validate({
        "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url, "DATABASE_URL": database_url, "RELEASEBOT_MODELS": str(PIPELINE_MODELS),
    })


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.load(PIPELINE_MODELS)


@pytest.fixture
async def ci(bot: Releasebot, workspace: Workspace) -> Pipeline:
    return Pipeline(workspace.http, await token(bot, "ci", ["deploy"]))


@pytest.fixture
async def ops(bot: Releasebot, workspace: Workspace) -> Pipeline:
    """An unscoped token that may also freeze the change schedule."""
    return Pipeline(workspace.http, await token(bot, "ops", None, may_freeze=True))


def is_error(answer: Any, status: int, code: str) -> None:
    assert answer.status == status, answer.body
    assert answer.body["error"] == code and answer.body["message"], answer.body


async def test_a_request_without_a_valid_token_is_401(bot: Releasebot, ci: Pipeline) -> None:
    is_error(await ci.get("/releases", token=""), 401, "unauthorized")
    is_error(await ci.get("/releases", token="rbt_not-a-token-anyone-made-0123456789abc"), 401, "unauthorized")
    assert bot.api is not None
    assert (await bot.api.tokens.revoke("ci")).ok
    answer = await ci.post("/releases", release_body())
    is_error(answer, 401, "unauthorized")
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert (await ci.http.post("/slack/events", data=b"{}", headers={"Authorization": f"Bearer {ci.token}"})
            ).status == 401  # Slack's path never takes a token


async def test_a_token_for_one_model_cannot_touch_another_models_releases(ci: Pipeline, ops: Pipeline) -> None:
    other = await ops.post("/releases", release_body(model="manual"))
    assert other.status == 201, other.body
    ref = other["id"]
    for answer in [await ci.get(f"/releases/{ref}"), await ci.post(f"/releases/{ref}/submit"),
                   await ci.get(f"/releases/{ref}/gate"), await ci.post(f"/releases/{ref}/start"),
                   await ci.post(f"/releases/{ref}/cancel", {"reason": "not yours"}),
                   await ci.post(f"/releases/{ref}/verifications", ALL_PASS["results"][0]),
                   await ci.get(f"/events?release={ref}"),
                   await ci.post("/releases", release_body(model="manual"))]:
        is_error(answer, 403, "forbidden")
    assert [r["id"] for r in (await ci.get("/releases"))["releases"]] == []
    assert [r["id"] for r in (await ops.get("/releases"))["releases"]] == [ref]
    assert (await ops.get(f"/releases/{ref}"))["state"] == "planned"  # nothing changed


async def test_no_such_release_is_404(ci: Pipeline) -> None:
    is_error(await ci.get("/releases/REL-999"), 404, "no_such_release")
    is_error(await ci.post("/releases/REL-999/submit"), 404, "no_such_release")
    is_error(await ci.get("/releases/nonsense/gate"), 404, "no_such_release")


async def test_a_lifecycle_refusal_is_409_with_the_sentence_slack_gives(ci: Pipeline) -> None:
    ref = (await ci.post("/releases", release_body()))["id"]
    answer = await ci.post(f"/releases/{ref}/start")
    is_error(answer, 409, "wrong_state")
    assert answer.body["message"] == f"{ref} is planned, not ready, so execution cannot start."
    assert (await ci.post(f"/releases/{ref}/submit")).status == 200
    again = await ci.post(f"/releases/{ref}/submit")
    is_error(again, 409, "wrong_state")
    assert "cannot be submitted" in again.body["message"]
    is_error(await ci.post(f"/releases/{ref}/verifications", ALL_PASS), 409, "wrong_state")


@pytest.mark.parametrize(("body", "field"), [
    ({"title": ""}, "title"),
    ({"owner": "alice"}, "owner"),
    ({"planned_start": "tomorrow"}, "planned_start"),
    ({"planned_start": "2027-01-01T10:00:00"}, "planned_start"),   # no offset
    ({"surprise": 1}, "surprise"),
    ({"model": "nope"}, "model"),
    ({"service": "billing", "environment": "prod"}, "model"),        # nothing matches
    ({"environment": "staging"}, "model"),                           # deploy and wide both match
])
async def test_invalid_input_is_422_field_by_field(ops: Pipeline, body: dict[str, Any], field: str) -> None:
    answer = await ops.post("/releases", release_body(**body))
    is_error(answer, 422, "invalid")
    assert field in answer.body["fields"], answer.body


async def test_detection_names_the_candidates(ops: Pipeline) -> None:
    several = await ops.post("/releases", release_body(environment="staging"))
    assert "deploy, wide" in several.body["fields"]["model"]
    assert (await ops.post("/releases", release_body(model="wide", environment="staging")))["model"]["key"] == "wide"


async def test_other_bad_requests(bot: Releasebot, ci: Pipeline) -> None:
    ref = (await ci.post("/releases", release_body()))["id"]
    is_error(await ci.post("/releases", raw=b"{not json"), 422, "invalid")
    is_error(await ci.get(f"/releases/{ref}/gate?wait=120"), 422, "invalid")
    is_error(await ci.get("/releases?cursor=%%%"), 422, "invalid")
    is_error(await ci.get("/releases?state=done"), 422, "invalid")
    unknown = await ci.post(f"/releases/{ref}/verifications",
                            {"stage": "components", "criterion": "Rollback rehearsed", "outcome": "pass"})
    is_error(unknown, 422, "invalid")
    assert "Unit tests green" in unknown.body["fields"]["results.0.criterion"]
    bad_one = await ci.post(f"/releases/{ref}/verifications", {"stage": "x", "criterion": "a", "outcome": "pass"})
    assert list(bad_one.body["fields"]) == ["stage"]
    bad_batch = await ci.post(f"/releases/{ref}/verifications",
                              {"results": [{"stage": "components", "criterion": "a", "outcome": "maybe"}]})
    assert list(bad_batch.body["fields"]) == ["results.0.outcome"]
    is_error(await ci.post("/releases", raw=b" " * (300 * 1024)), 413, "too_large")
    assert bot.api is not None
    bot.api.limit.rate, bot.api.limit.burst = 0.01, 2
    bot.api.limit._buckets.clear()
    await ci.get("/releases")
    await ci.get("/releases")
    limited = await ci.get("/releases")
    is_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1
    bot.api.limit.rate, bot.api.limit.burst = RateLimit().rate, RateLimit().burst


async def test_a_retry_with_the_same_key_returns_the_first_answer_and_changes_nothing(
        bot: Releasebot, workspace: Workspace, ci: Pipeline) -> None:
    body = release_body()  # once: a retry sends the very same body
    first = await ci.post("/releases", body, key="build-42")
    again = await ci.post("/releases", body, key="build-42")
    assert first.status == again.status == 201 and first.body == again.body
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len((await ci.get("/releases"))["releases"]) == 1
    reused = await ci.post("/releases", {**body, "title": "Something else"}, key="build-42")
    is_error(reused, 422, "idempotency_key_reused")

    ref = first["id"]
    submitted = [await ci.post(f"/releases/{ref}/submit", key="build-42-submit") for _ in range(2)]
    assert [s.status for s in submitted] == [200, 200] and submitted[0].body == submitted[1].body
    await approve_in_slack(workspace, bot, ref)
    batch = ALL_PASS["results"][:1]
    recorded = [await ci.post(f"/releases/{ref}/verifications", {"results": batch}, key="build-42-unit")
                for _ in range(3)]
    assert {r.status for r in recorded} == {201}
    record = await ci.get(f"/releases/{ref}")
    assert len(record["verifications"]) == 1
    assert [e["kind"] for e in record["events"]].count("submitted") == 1
    # Without a key, each request is its own: recorded again (the latest outcome counts).
    await ci.post(f"/releases/{ref}/verifications", {"results": batch})
    assert len((await ci.get(f"/releases/{ref}"))["verifications"]) == 2


async def test_two_attempts_at_once_with_one_key_act_once_and_answer_alike(ci: Pipeline) -> None:
    """Both look the key up before either has claimed it: the second to commit finds the key
    taken, rolls back what it did, and gets the first one's answer."""
    body = release_body()
    first, second = await asyncio.gather(*(ci.post("/releases", body, key="build-7") for _ in range(2)))
    assert first.status == second.status == 201 and first.body == second.body
    assert len((await ci.get("/releases"))["releases"]) == 1
    record = await ci.get(f"/releases/{first['id']}")
    assert [e["kind"] for e in record["events"]].count("planned") == 1


async def test_a_request_that_failed_after_acting_runs_again_on_retry(
        bot: Releasebot, ci: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 500 forgets the key even though the request's work was committed with its claim: the
    retry runs again, and the use case's own key keeps it one release."""
    assert bot.api is not None
    real = bot.api.pipeline.plan

    async def plan_then_fail(*args: Any, **kw: Any) -> Any:
        await real(*args, **kw)
        raise RuntimeError("the reply could not be made")

    monkeypatch.setattr(bot.api.pipeline, "plan", plan_then_fail)
    body = release_body()
    failed = await ci.post("/releases", body, key="build-8")
    is_error(failed, 500, "internal_error")
    monkeypatch.setattr(bot.api.pipeline, "plan", real)
    retried = await ci.post("/releases", body, key="build-8")
    assert retried.status == 201 and "Idempotent-Replayed" not in retried.headers
    assert len((await ci.get("/releases"))["releases"]) == 1


async def test_a_retry_waits_for_an_unanswered_attempt_and_takes_over_a_dead_one(
        bot: Releasebot, ci: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    assert bot.api is not None
    requests = bot.api.requests
    monkeypatch.setattr(requests, "answer", lambda *args: None)  # the first attempt dies before answering
    body = release_body()
    first = await ci.post("/releases", body, key="build-9")
    assert first.status == 201
    monkeypatch.setattr(idempotency, "PATIENCE", 0.3)
    is_error(await ci.post("/releases", body, key="build-9"), 409, "request_in_progress")
    monkeypatch.undo()  # the next attempt answers; and the first's claim is now old enough to be dead
    monkeypatch.setattr(idempotency, "STALE", timedelta(0))
    taken_over = await ci.post("/releases", body, key="build-9")
    assert taken_over.status == 201 and taken_over.body == first.body
    assert "Idempotent-Replayed" not in taken_over.headers
    await requests.settled()
    replayed = await ci.post("/releases", body, key="build-9")
    assert replayed.headers.get("Idempotent-Replayed") == "true" and replayed.body == first.body
    assert len((await ci.get("/releases"))["releases"]) == 1


async def test_the_gate_honours_a_freeze_and_start_is_refused_during_it(
        bot: Releasebot, workspace: Workspace, ci: Pipeline, ops: Pipeline) -> None:
    ref = (await ci.post("/releases", release_body()))["id"]
    await ci.post(f"/releases/{ref}/submit")
    await approve_in_slack(workspace, bot, ref)
    assert (await ci.post(f"/releases/{ref}/verifications", ALL_PASS))["release"]["state"] == "ready"
    now = bot.services.clock()
    is_error(await ci.post("/freezes", {"start": now.isoformat(), "end": now.isoformat(), "reason": "x"}),
             403, "forbidden")
    end = now.replace(microsecond=0) + timedelta(hours=2)
    frozen = await ops.post("/freezes", {"start": now.isoformat(), "end": end.isoformat(),
                                         "reason": "Quarter close", "models": ["deploy"]})
    assert frozen.status == 201 and frozen["id"] == "FRZ-1", frozen.body
    listed = await ci.get("/freezes")
    assert [f["id"] for f in listed["freezes"]] == ["FRZ-1"]
    gate = await ci.get(f"/releases/{ref}/gate?wait=0.5")
    assert gate["go"] is False and gate["state"] == "ready" and "FRZ-1 (Quarter close)" in gate["reason"]
    assert 7100 <= gate["retry_after"] <= 7200
    start = await ci.post(f"/releases/{ref}/start")
    is_error(start, 409, "frozen")
    assert "FRZ-1" in start.body["message"] and "Quarter close" in start.body["message"]
    events = await ops.get(f"/events?release={ref}&limit=2")
    assert len(events["events"]) == 2 and events["next"]
    rest = await ops.get(f"/events?release={ref}&cursor={events['next']}")
    kinds = [e["kind"] for e in events["events"] + rest["events"]]
    assert kinds[0] == "planned" and "ready" in kinds and rest["next"] is None
