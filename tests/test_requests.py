"""Slack's request rules: signatures, timestamps, and answers within the ack."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from slack_sdk.signature import SignatureVerifier

from tests.conftest import ALICE
from tests.workspace import Workspace, sign

PAYLOADS = Path(__file__).resolve().parents[2] / "shared" / "slack" / "payloads"


def test_signature_matches_the_slack_docs_vector() -> None:
    vector_file = PAYLOADS / "signature_test_vector_slash_command.json"
    if not vector_file.exists():
        pytest.skip("shared/slack/payloads is not beside this checkout")
    vector = json.loads(vector_file.read_text())
    assert sign(vector["raw_body"], vector["x_slack_request_timestamp"], vector["signing_secret"]) \
        == vector["x_slack_signature"]
    verifier = SignatureVerifier(vector["signing_secret"], clock=type("C", (), {"now": lambda self: 1531420618})())
    assert verifier.is_valid(vector["raw_body"], vector["x_slack_request_timestamp"], vector["x_slack_signature"])


async def test_signed_command_is_answered(workspace: Workspace) -> None:
    answer = await workspace.command("help", by=ALICE)
    assert answer.status == 200
    assert "/release new" in answer.json()["text"]


@pytest.mark.parametrize("tamper", ["signature", "body", "missing"])
async def test_bad_signature_is_refused_and_changes_nothing(workspace: Workspace, tamper: str) -> None:
    body = workspace.command_body("new cab Sneaky", ALICE, "C0RELEASES")
    stamp = int(time.time())
    signature = sign(body, stamp)
    if tamper == "signature":
        signature = "v0=" + "0" * 64
    elif tamper == "body":
        body = body.replace("Sneaky", "Sneakier")
    else:
        signature = ""
    answer = await workspace.send(body, "application/x-www-form-urlencoded", timestamp=stamp, signature=signature)
    assert answer.status == 401
    assert answer.json() == {"error": "invalid request"}
    assert workspace.slack.calls_to("views.open") == []


@pytest.mark.parametrize("offset", [-301, 301, -3600])
async def test_stale_or_future_timestamp_is_refused(workspace: Workspace, offset: int) -> None:
    answer = await workspace.send(workspace.command_body("help", ALICE, "C1"),
                                  "application/x-www-form-urlencoded", timestamp=int(time.time()) + offset)
    assert answer.status == 401


async def test_timestamp_within_five_minutes_is_accepted(workspace: Workspace) -> None:
    answer = await workspace.send(workspace.command_body("help", ALICE, "C1"),
                                  "application/x-www-form-urlencoded", timestamp=int(time.time()) - 280)
    assert answer.status == 200


@pytest.mark.parametrize("stamp", ["not-a-number", "", "12.5"])
async def test_malformed_timestamp_is_a_401_not_a_500(workspace: Workspace, stamp: str) -> None:
    body = workspace.command_body("help", ALICE, "C1")
    answer = await workspace.send(body, "application/x-www-form-urlencoded", timestamp=stamp,
                                  signature=sign(body, stamp))
    assert answer.status == 401


async def test_reserialised_body_fails_verification(workspace: Workspace) -> None:
    body = workspace.command_body("help", ALICE, "C1")
    stamp = int(time.time())
    signature = sign(body, stamp)
    reordered = "&".join(reversed(body.split("&")))
    answer = await workspace.send(reordered, "application/x-www-form-urlencoded", timestamp=stamp,
                                  signature=signature)
    assert answer.status == 401


async def test_url_verification_challenge(workspace: Workspace) -> None:
    body = json.dumps({"token": "t", "challenge": "abc123", "type": "url_verification"})
    answer = await workspace.send(body, "application/json")
    assert answer.status == 200 and answer.json()["challenge"] == "abc123"


async def test_healthz_answers_when_the_database_does(workspace: Workspace) -> None:
    response = await workspace.http.get("/healthz")
    assert response.status == 200
    assert (await response.json())["ok"] is True


def _form(payload: object | str) -> str:
    from urllib.parse import urlencode

    raw = payload if isinstance(payload, str) else json.dumps(payload)
    return urlencode({"payload": raw})


USER = {"id": ALICE, "team_id": "T111"}


@pytest.mark.parametrize(("body", "content_type"), [
    pytest.param(_form({"type": "block_actions", "user": USER, "actions": [], "trigger_id": "1.2"}),
                 "application/x-www-form-urlencoded", id="block_actions-without-actions"),
    pytest.param(_form({"type": "block_actions", "user": USER, "actions": [{"value": "REL-1"}]}),
                 "application/x-www-form-urlencoded", id="action-without-action_id"),
    pytest.param(_form({"type": "view_submission", "user": USER, "view": {"id": "V1", "state": {"values": {}}}}),
                 "application/x-www-form-urlencoded", id="view-without-type"),
    pytest.param(_form({"type": "view_submission", "view": {"id": "V1", "type": "modal"}}),
                 "application/x-www-form-urlencoded", id="view_submission-without-user"),
    pytest.param("payload=%7Bnot-json", "application/x-www-form-urlencoded", id="payload-not-json"),
    pytest.param(_form("[1, 2]"), "application/x-www-form-urlencoded", id="payload-not-an-object"),
    pytest.param("token=x&team_id=T111", "application/x-www-form-urlencoded", id="neither-command-nor-payload"),
    pytest.param("command=%2Frelease&text=help", "application/x-www-form-urlencoded", id="command-without-user"),
    pytest.param("{not json", "application/json", id="event-not-json"),
])
async def test_a_signed_malformed_request_gets_a_400_and_one_log_line(
        workspace: Workspace, body: str, content_type: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")
    answer = await workspace.send(body, content_type)
    assert answer.status == 400, answer.body
    assert answer.json()["error"] == "malformed request"
    ours = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert len(ours) == 1 and "refused a signed request" in ours[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)
    assert workspace.slack.calls_to("views.open") == [] and workspace.slack.posts() == []


async def test_an_unsigned_malformed_request_is_refused_before_it_is_read(workspace: Workspace) -> None:
    answer = await workspace.send("payload=%7Bnot-json", "application/x-www-form-urlencoded",
                                  signature="v0=" + "0" * 64)
    assert answer.status == 401 and answer.json() == {"error": "invalid request"}


@pytest.mark.parametrize("text", ["help payload", "list payload"])
async def test_a_command_whose_text_says_payload_is_still_a_command(workspace: Workspace, text: str) -> None:
    """Bolt's own body parser takes any form body containing "payload" for an interactive
    payload and, finding no `payload` field, reads an empty request: the command got a 404."""
    answer = await workspace.command(text, by=ALICE)
    assert answer.status == 200, answer.body
