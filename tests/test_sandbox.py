"""The sandbox end to end without a browser: the page's own calls (/sandbox/*) drive the real
bot through signed requests, and a release goes from planning to released with its
announcement in #announcements. Also Slack's limits the workspace holds the bot to."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.catalog import Catalog
from bot.config import BUNDLED_MODELS, Settings
from handlers.sandbox import state
from handlers.sandbox import workspace as workspace_module
from handlers.sandbox.directory import RELEASES_CHANNEL, Directory
from handlers.sandbox.platform import Platform
from handlers.sandbox.server import Sandbox, assemble, listen
from handlers.sandbox.workspace import SlackWorkspace

ERIN, ALICE, CAROL, BOB = "U0123ERIN", "U0123ALICE", "U0123CAROL", "U0123BOB"
APPROVALS, ANNOUNCE = "C0123APPROVALS", "C0123ANNOUNCE"


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    sock = listen(0)
    catalog = Catalog.load(BUNDLED_MODELS)
    built = assemble(Settings.model_validate({"RELEASEBOT_MODELS": str(BUNDLED_MODELS)}), catalog,
                     sock.getsockname()[1], tmp_path)
    built.bot.heartbeat.poll_seconds = 0.2
    runner = web.AppRunner(built.web_app(), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    yield built
    await runner.cleanup()


class Person:
    """One person at the sandbox's page, making the calls its script makes."""

    def __init__(self, sandbox: Sandbox, http: aiohttp.ClientSession, user: str):
        self.sandbox, self.http, self.user = sandbox, http, user

    async def post(self, path: str, **body: Any) -> dict[str, Any]:
        async with self.http.post(self.sandbox.url + path, json={"user": self.user, **body}) as response:
            assert response.status == 200, await response.text()
            answer: dict[str, Any] = await response.json()
            return answer

    async def sees(self, conversation: str) -> dict[str, Any]:
        query = {"user": self.user, "conversation": conversation}
        async with self.http.get(self.sandbox.url + "/sandbox/state", params=query) as response:
            assert response.status == 200
            seen: dict[str, Any] = await response.json()
            return seen

    async def type(self, text: str, conversation: str = RELEASES_CHANNEL) -> None:
        await self.post("/sandbox/type", conversation=conversation, text=text)

    async def modal(self) -> dict[str, Any]:
        async def opened() -> dict[str, Any] | None:
            return (await self.sees(RELEASES_CHANNEL))["modal"]
        found: dict[str, Any] = await eventually(opened)
        return found

    async def submit(self, values: dict[str, dict[str, Any]]) -> None:
        view = await self.modal()
        await self.post("/sandbox/submit", view_id=view["id"], state=values)

    async def click(self, label: str, conversation: str) -> None:
        """Click the button labelled `label` on the newest message that has one, once it is
        there: a card is updated through the outbox after the fact, as in Slack, so a person
        sees the button a moment after the announcement that the same approval queued."""
        ws = self.sandbox.workspace

        async def button() -> tuple[str, str, str] | None:
            for message in reversed(ws.conversation(conversation, self.user)):
                for block_id, action_id, element in state.elements(list(message.get("blocks") or [])):
                    if element.get("type") == "button" and element["text"]["text"] == label:
                        return str(message["ts"]), block_id, action_id
            return None

        try:
            ts, block_id, action_id = await eventually(button)
        except AssertionError:
            raise AssertionError(f"no {label!r} button in {conversation}") from None
        answer = await self.post("/sandbox/act", where={"kind": "message", "channel": conversation, "ts": ts},
                                 block_id=block_id, action_id=action_id)
        assert answer["ok"], answer


async def eventually(check: Any, timeout: float = 15.0) -> Any:
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout}s: {result!r}")
        await asyncio.sleep(0.05)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def shows(person: Person, conversation: str, *words: str) -> str:
    async def look() -> str | None:
        seen = text_of((await person.sees(conversation))["conversation"]["html"])
        return seen if all(w in seen for w in words) else None
    found: str = await eventually(look)
    return found


def local(moment: datetime, tz: str = "Europe/London") -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M")


async def test_a_release_from_planning_to_released_with_its_announcement(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        erin, alice, carol, bob = (Person(sandbox, http, u) for u in (ERIN, ALICE, CAROL, BOB))
        await erin.type("/release new standard Payments API 2.3")
        modal = await erin.modal()
        assert modal["title"] == "Plan a release" and "value=\"Payments API 2.3\"" in modal["html"]
        start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=2)
        await erin.submit({
            "model": {"model": "standard"}, "title": {"title": "Payments API 2.3"},
            "start": {"start": local(start)}, "end": {"end": local(start + timedelta(hours=1))},
            "components": {"components": "payments-api"}, "change_ref": {"change_ref": "CHG-1234"},
            "description": {"description": "New refund flow"},
            # The standard model asks for the risk (with its impact) and the rollback plan.
            "risk": {"risk": "low"}, "impact": {"impact": "Refunds unavailable for a few minutes"},
            "rollback_plan": {"rollback_plan": "Redeploy 2.2 from the pipeline."},
        })
        await shows(erin, RELEASES_CHANNEL, "REL-1 · Payments API 2.3", "Planned")
        assert (await erin.sees(RELEASES_CHANNEL))["modal"] is None

        await erin.click("Submit for approval", RELEASES_CHANNEL)
        await shows(alice, APPROVALS, "Approval requested: REL-1", "0 of 2 approvals")
        await alice.click("Approve", APPROVALS)
        await shows(alice, APPROVALS, "1 of 2 approvals", "approved by @Alice Moreau")
        await bob.click("Approve", APPROVALS)  # not an approver: told so, privately
        refusal = await shows(bob, APPROVALS, "Only visible to you")
        assert "1 of 2 approvals" in refusal
        assert "Only visible to you" not in text_of((await alice.sees(APPROVALS))["conversation"]["html"])
        await carol.click("Approve", APPROVALS)
        await shows(carol, APPROVALS, "Approved — 2 of 2")
        await shows(bob, ANNOUNCE, "Planned: Payments API 2.3 (REL-1)")

        await erin.click("Verify", RELEASES_CHANNEL)
        checklist = await erin.modal()
        assert checklist["title"] == "Verify REL-1"
        passed = {f"v{i}:o": {f"v{i}:o": "pass"} for i in range(3)}
        await erin.submit(passed)
        await shows(erin, RELEASES_CHANNEL, "Ready")
        await erin.click("Start", RELEASES_CHANNEL)
        await shows(erin, RELEASES_CHANNEL, "Executing")
        await erin.click("Verify", RELEASES_CHANNEL)
        await eventually(lambda: _title_is(erin, "Verify REL-1"))
        await erin.submit({f"v{i}:o": {f"v{i}:o": "pass"} for i in range(2)})
        await shows(erin, RELEASES_CHANNEL, "REL-1 · Payments API 2.3", "Released")
        await shows(bob, ANNOUNCE, "Planned: Payments API 2.3", "Released: Payments API 2.3 (REL-1)")


async def _title_is(person: Person, title: str) -> bool:
    modal = (await person.sees(RELEASES_CHANNEL))["modal"]
    return bool(modal and modal["title"] == title and "Release" in text_of(modal["html"]))


async def test_field_errors_show_on_the_modal_and_keep_it_open(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        erin = Person(sandbox, http, ERIN)
        await erin.type("/release new standard")
        start = datetime.now(UTC) + timedelta(days=1)
        await erin.submit({"model": {"model": "standard"}, "title": {"title": "Backwards"},
                           "start": {"start": local(start)}, "end": {"end": local(start - timedelta(hours=2))},
                           "risk": {"risk": "low"}, "impact": {"impact": "None"},
                           "rollback_plan": {"rollback_plan": "Redeploy"}})

        async def errors() -> dict[str, str] | None:
            modal = (await erin.sees(RELEASES_CHANNEL))["modal"]
            return modal["errors"] if modal and modal["errors"] else None
        assert "after the planned start" in (await errors_of(errors))["end"]
        assert sandbox.workspace.posts(RELEASES_CHANNEL) == []


async def errors_of(check: Any) -> dict[str, str]:
    found: dict[str, str] = await eventually(check)
    return found


async def test_the_workspace_checks_required_fields_before_the_bot_hears(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        erin = Person(sandbox, http, ERIN)
        await erin.type("/release new")
        await erin.submit({"title": {"title": ""}})
        modal = await erin.modal()
        assert modal["errors"]["title"] == "Please complete this required field."
        assert not [c for c in sandbox.workspace.calls if c.method == "views.update"]


async def test_help_is_an_ephemeral_answer_and_plain_text_is_a_message(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        erin, bob = Person(sandbox, http, ERIN), Person(sandbox, http, BOB)
        await erin.type("/release help")
        seen = await shows(erin, RELEASES_CHANNEL, "Only visible to you", "/release new")
        assert "releasebot" in seen
        assert "/release new" not in text_of((await bob.sees(RELEASES_CHANNEL))["conversation"]["html"])
        await erin.type("hello <b>team</b>")
        assert "hello &lt;b&gt;team&lt;/b&gt;" in (await bob.sees(RELEASES_CHANNEL))["conversation"]["html"]
        await erin.type("/deploy now")
        await shows(erin, RELEASES_CHANNEL, "is not a valid command")


async def test_the_app_home_is_published_when_opened(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        alice = Person(sandbox, http, ALICE)
        await alice.post("/sandbox/home", tab="home")
        await shows(alice, "home", "Awaiting your approval", "Your releases")


async def test_the_page_is_served_with_its_assets_and_a_strict_policy(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(sandbox.url + "/") as response:
            html = await response.text()
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "<label for=\"composer\"" in html and "role=\"dialog\"" in html
        for asset in ("/static/sandbox.js", "/static/sandbox.css"):
            async with http.get(sandbox.url + asset) as response:
                assert response.status == 200
        async with http.get(sandbox.url + "/healthz") as response:
            assert response.status == 200


async def test_a_request_signed_with_another_secret_is_refused(sandbox: Sandbox) -> None:
    impostor = Platform(sandbox.workspace, sandbox.platform.events_url, "not-the-sandbox-secret")
    try:
        status, _ = await impostor.send("token=x&command=%2Frelease&text=help", "application/x-www-form-urlencoded")
    finally:
        await impostor.shutdown()
    assert status == 401


# -- Slack's limits, held by the workspace -----------------------------------------------------

def strict_workspace() -> SlackWorkspace:
    return SlackWorkspace(directory=Directory.for_catalog(Catalog.load(BUNDLED_MODELS)), strict=True)


MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "A modal"}, "blocks": []}


def test_a_trigger_opens_one_modal_within_three_seconds() -> None:
    ws = strict_workspace()
    trigger = ws.issue_trigger(ERIN)
    assert ws._views_open({"trigger_id": trigger, "view": MODAL})["ok"]
    assert ws._views_open({"trigger_id": trigger, "view": MODAL})["error"] == "exchanged_trigger_id"
    late = ws.issue_trigger(ERIN)
    ws.triggers[late].issued -= workspace_module.TRIGGER_SECONDS + 0.1
    assert ws._views_open({"trigger_id": late, "view": MODAL})["error"] == "expired_trigger_id"
    assert ws._views_open({"trigger_id": "1.2.made-up", "view": MODAL})["error"] == "invalid_trigger_id"


def test_the_view_stack_holds_three() -> None:
    ws = strict_workspace()
    ws._views_open({"trigger_id": ws.issue_trigger(ERIN), "view": MODAL})
    for _ in range(2):
        assert ws._views_push({"trigger_id": ws.issue_trigger(ERIN), "view": MODAL})["ok"]
    assert ws._views_push({"trigger_id": ws.issue_trigger(ERIN), "view": MODAL})["error"] == "push_limit_reached"
    assert len(ws.stacks[ERIN]) == 3


def test_a_modal_with_inputs_needs_a_submit_button() -> None:
    ws = strict_workspace()
    view = dict(MODAL, blocks=[{"type": "input", "block_id": "x", "label": {"type": "plain_text", "text": "X"},
                                "element": {"type": "plain_text_input", "action_id": "x"}}])
    assert ws._views_open({"trigger_id": ws.issue_trigger(ERIN), "view": view})["error"] == "invalid_arguments"


def test_views_update_honours_the_hash() -> None:
    ws = strict_workspace()
    opened = ws._views_open({"trigger_id": ws.issue_trigger(ERIN), "view": MODAL})["view"]
    assert ws._views_update({"view_id": opened["id"], "hash": "stale", "view": MODAL})["error"] == "hash_conflict"
    assert ws._views_update({"view_id": opened["id"], "hash": opened["hash"], "view": MODAL})["ok"]
    assert ws._views_update({"view_id": "VNOPE", "view": MODAL})["error"] == "not_found"


def test_posts_go_only_to_channels_and_people_that_exist() -> None:
    ws = strict_workspace()
    assert ws._chat_postMessage({"channel": "CNOWHERE", "text": "hi"})["error"] == "channel_not_found"
    assert ws._chat_postMessage({"channel": ERIN, "text": "hi"})["channel"] == "D0123ERIN"
    assert ws._chat_postMessage({"channel": APPROVALS, "text": "hi"})["ok"]
    assert ws._users_info({"user": "UNOBODY"})["error"] == "user_not_found"


def test_a_scheduled_message_must_be_due_within_120_days() -> None:
    ws = strict_workspace()
    now = time.time()
    assert ws._chat_scheduleMessage({"channel": ANNOUNCE, "text": "x", "post_at": now - 5})["error"] == "time_in_past"
    assert ws._chat_scheduleMessage({"channel": ANNOUNCE, "text": "x",
                                     "post_at": now + 121 * 86400})["error"] == "time_too_far"
    assert ws._chat_scheduleMessage({"channel": ANNOUNCE, "text": "x", "post_at": now + 60})["ok"]


async def test_a_response_url_takes_five_posts_in_thirty_minutes(sandbox: Sandbox) -> None:
    ws = sandbox.workspace
    url = ws.issue_response_url(ERIN, RELEASES_CHANNEL)
    async with aiohttp.ClientSession() as http:
        statuses = []
        for n in range(6):
            async with http.post(url, json={"text": f"answer {n}"}) as response:
                statuses.append(response.status)
        assert statuses == [200] * 5 + [404]
        late = ws.issue_response_url(ERIN, RELEASES_CHANNEL)
        ws.hooks[late.rsplit("/", 1)[1]].issued -= workspace_module.RESPONSE_URL_SECONDS + 1
        async with http.post(late, json={"text": "too late"}) as response:
            assert (response.status, await response.text()) == (404, "expired_url")
    assert len([e for e in ws.ephemerals if e["user_only"] == ERIN]) == 5


async def test_an_unknown_token_is_refused(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(sandbox.workspace.api_url + "auth.test",
                             headers={"Authorization": "Bearer xoxb-wrong"}) as response:
            assert (await response.json())["error"] == "invalid_auth"


def test_file_uploads_are_shared_in_the_channel() -> None:
    ws = strict_workspace()
    upload = ws._files_getUploadURLExternal({"filename": "review.md", "length": 5})
    ws.files[upload["file_id"]]["content"] = b"hello"
    done = ws._files_completeUploadExternal({"files": [{"id": upload["file_id"], "title": "Review"}],
                                             "channel_id": ANNOUNCE, "initial_comment": "The review"})
    assert done["files"][0]["title"] == "Review"
    shared = [m for m in ws.conversation(ANNOUNCE, ERIN) if m.get("files")]
    assert shared and shared[0]["text"] == "The review"


# -- what a person entered, as Slack sends it -------------------------------------------------

def test_state_values_in_slacks_shapes() -> None:
    from zoneinfo import ZoneInfo

    option = {"text": {"type": "plain_text", "text": "Pass"}, "value": "pass"}
    blocks = [
        {"type": "input", "block_id": "when", "label": {"type": "plain_text", "text": "When"},
         "element": {"type": "datetimepicker", "action_id": "when"}},
        {"type": "input", "block_id": "o", "label": {"type": "plain_text", "text": "Outcome"},
         "element": {"type": "radio_buttons", "action_id": "o", "options": [option]}},
        {"type": "input", "block_id": "c", "label": {"type": "plain_text", "text": "Checks"},
         "element": {"type": "checkboxes", "action_id": "c", "options": [option]}},
        {"type": "input", "block_id": "t", "label": {"type": "plain_text", "text": "Note"},
         "element": {"type": "plain_text_input", "action_id": "t"}},
        {"type": "actions", "elements": [{"type": "users_select", "action_id": "who"},
                                         {"type": "button", "action_id": "go", "text": {"type": "plain_text",
                                                                                         "text": "Go"}}]},
    ]
    values = state.state_values(blocks, {"when": {"when": "2026-07-01T14:30"}, "o": {"o": "pass"},
                                         "c": {"c": ["pass"]}, "b4": {"who": ALICE}}, ZoneInfo("Europe/London"))
    assert values["when"]["when"] == {"type": "datetimepicker",
                                      "selected_date_time": int(datetime(2026, 7, 1, 13, 30, tzinfo=UTC).timestamp())}
    assert values["o"]["o"]["selected_option"] == option
    assert values["c"]["c"]["selected_options"] == [option]
    assert values["t"]["t"] == {"type": "plain_text_input", "value": None}
    assert values["b4"] == {"who": {"type": "users_select", "selected_user": ALICE}}  # the button holds none
    clicked = state.action(blocks[4]["elements"][1], "b4", "go", None, ZoneInfo("UTC"))
    assert clicked["type"] == "button" and clicked["text"]["text"] == "Go" and clicked["block_id"] == "b4"


def test_response_actions_update_push_and_clear_the_modal_stack() -> None:
    ws = strict_workspace()
    platform = Platform(ws, "http://127.0.0.1:9/slack/events", "secret")
    opened = ws._views_open({"trigger_id": ws.issue_trigger(ERIN), "view": MODAL})["view"]
    other = dict(MODAL, title={"type": "plain_text", "text": "Next page"})
    platform._after_submit(ERIN, opened["id"], opened, json.dumps({"response_action": "update", "view": other}))
    assert ws.top_view(ERIN)["title"]["text"] == "Next page" and ws.top_view(ERIN)["id"] == opened["id"]
    platform._after_submit(ERIN, opened["id"], opened, json.dumps({"response_action": "push", "view": MODAL}))
    assert len(ws.stacks[ERIN]) == 2
    platform._after_submit(ERIN, opened["id"], opened, '{"response_action": "errors", "errors": {"nope": "x"}}')
    assert "not inputs" in ws.view_errors[opened["id"]][""]
    platform._after_submit(ERIN, opened["id"], opened, '{"response_action": "clear"}')
    assert ws.top_view(ERIN) is None


def test_a_models_folder_of_ones_own_gets_its_channels_people_and_groups() -> None:
    """With RELEASEBOT_MODELS, whatever the models name exists, so nothing is channel_not_found."""
    directory = Directory.for_catalog(Catalog.load(Path(__file__).parent / "release_models"))
    assert {"CANNOUNCE", "CAPPROVALS", "CSOON"} <= set(directory.channels)
    assert {"UALICE", "UBOB", "UDAVE", "UEVE"} <= set(directory.cast)
    assert set(directory.groups["SCAB"].members) <= set(directory.people)


async def test_the_composer_sends_what_slack_sends_with_should_escape(sandbox: Sandbox) -> None:
    """`&`, `<`, `>` arrive as entities and `@handle` as a mention, as from Slack; the bot
    gets back the text as typed (the title below), and a person named by handle is an id."""
    assert sandbox.platform.escaped("owner REL-1 @alice & @cab <x>") == \
        "owner REL-1 <@U0123ALICE|alice> &amp; <!subteam^S0123CAB|@cab> &lt;x&gt;"
    assert sandbox.platform.escaped("mail erin@example.com @nobody") == "mail erin@example.com @nobody"
    async with aiohttp.ClientSession() as http:
        erin = Person(sandbox, http, ERIN)
        await erin.type("/release new standard R&D <tools>")
        modal = await erin.modal()
        assert 'value="R&amp;D &lt;tools&gt;"' in modal["html"]
