"""Steps of verification stories, shared by the verification tests: get a release approved,
open its checklist, fill it in as a person would, and read the card and the record."""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import parse_qs

from bot.records import ReleaseDetails
from handlers.app import Releasebot
from tests.conftest import ALICE, BOB, CAROL, CHANNEL, eventually, plan_release
from tests.fake_slack import Call, FakeSlack
from tests.workspace import Answer, Workspace

APPROVALS = "CAPPROVALS"
#: What a verifier chooses for a criterion: "pass" or "fail", with an optional note and evidence.
Choice = tuple[str, str, str] | str


async def state_of(bot: Releasebot, release_id: int) -> str:
    record = await bot.services.releases.get(release_id)
    assert record is not None
    return record.state.value


async def reaches(bot: Releasebot, release_id: int, state: str) -> None:
    async def check() -> bool:
        return await state_of(bot, release_id) == state
    await eventually(check)


async def details(bot: Releasebot, release_id: int) -> ReleaseDetails:
    found = await bot.services.releases.show(release_id)
    assert found is not None
    return found


async def approved(workspace: Workspace, bot: Releasebot, *, model: str = "cab",
                   **values: Any) -> tuple[int, Call]:
    """Plan (by Alice), submit and approve a release; returns its id and the card as posted."""
    release_id, card = await plan_release(workspace, model=model, **values)
    assert "is submitted" in (await ask(workspace, f"submit REL-{release_id}", by=ALICE)).text
    slack = workspace.slack
    request = (await slack.wait_for(
        lambda: [p for p in slack.posts(APPROVALS) if f"REL-{release_id} " in p.text]))[0]
    approvers = (BOB, CAROL) if model == "cab" else (BOB,)
    for approver in approvers:
        await workspace.click("Approve", on=slack.message(request.channel, request.ts), by=approver)
        await eventually(partial(_decided, bot, release_id, approver))
    await eventually(lambda: _past_approval(bot, release_id))
    return release_id, card


async def _decided(bot: Releasebot, release_id: int, approver: str) -> bool:
    return any(a.approver == approver for a in (await details(bot, release_id)).approvals)


async def _past_approval(bot: Releasebot, release_id: int) -> bool:
    return await state_of(bot, release_id) in ("approved", "ready")


async def ask(workspace: Workspace, text: str, *, by: str, channel: str = CHANNEL) -> Call:
    """`/release TEXT`, and the answer to this very command (through its own response_url),
    whatever other answers arrive meanwhile."""
    body = workspace.command_body(text, by, channel)
    n = parse_qs(body)["response_url"][0].rsplit("/", 1)[1]
    answer = await workspace.send(body, "application/x-www-form-urlencoded")
    assert answer.status == 200 and answer.body == "", answer.body
    slack = workspace.slack
    return (await slack.wait_for(lambda: [r for r in slack.responses() if r["n"] == n]))[0]


async def reply_with(slack: FakeSlack, seen: int, text: str) -> Call:
    """The first answer after the `seen` ones that says `text` (for answers to clicks)."""
    return (await slack.wait_for(lambda: [r for r in slack.responses()[seen:] if text in r.text]))[0]


def card_now(slack: FakeSlack, card: Call) -> Call:
    return slack.message(card.channel, card.ts)


def responses_seen(slack: FakeSlack) -> int:
    return len(slack.responses())


async def open_checklist(workspace: Workspace, release_id: int, *, by: str) -> dict[str, Any]:
    """`/release verify REL-n`; returns the modal as opened."""
    seen = len(workspace.slack.calls_to("views.open"))
    answer = await workspace.command(f"verify REL-{release_id}", by=by)
    assert answer.status == 200 and answer.body == "", answer.body
    opened = await workspace.slack.wait_for_calls("views.open", seen + 1)
    return dict(opened[seen]["view"])


def criteria_of(view: dict[str, Any]) -> dict[str, int]:
    """The criteria on a checklist page, by the index their inputs carry."""
    return {block["text"]["text"].split("\n")[0].split(" · ", 1)[1]: int(block["block_id"][1:].split(":")[0])
            for block in view["blocks"] if block["type"] == "section" and block.get("block_id", "").endswith(":c")}


def checklist_values(view: dict[str, Any], choices: dict[str, Choice]) -> dict[str, Any]:
    """view.state.values for a page: every input present, the chosen ones filled."""
    indices = criteria_of(view)
    unknown = set(choices) - set(indices)
    assert not unknown, f"not on this page: {unknown}; page has {list(indices)}"
    values: dict[str, Any] = {}
    by_index = {indices[name]: choice for name, choice in choices.items()}
    for index in indices.values():
        choice = by_index.get(index)
        outcome, note, url = (choice, "", "") if isinstance(choice, str) or choice is None else choice
        option = {"value": outcome, "text": {"type": "plain_text", "text": str(outcome).title()}} if outcome else None
        values[f"v{index}:o"] = {f"v{index}:o": {"type": "radio_buttons", "selected_option": option}}
        values[f"v{index}:n"] = {f"v{index}:n": {"type": "plain_text_input", "value": note or None}}
        values[f"v{index}:e"] = {f"v{index}:e": {"type": "plain_text_input", "value": url or None}}
    return values


async def record(workspace: Workspace, view: dict[str, Any], choices: dict[str, Choice], *, by: str,
                 view_id: str | None = None, **kw: Any) -> Answer:
    answer = await workspace.submit_view(view, checklist_values(view, choices), by=by, view_id=view_id, **kw)
    assert answer.status == 200
    return answer


async def verify(workspace: Workspace, bot: Releasebot, release_id: int, choices: dict[str, Choice], *,
                 by: str) -> None:
    """Open the checklist, record `choices` on its one page, and wait until they are stored."""
    before = len((await details(bot, release_id)).verifications)
    view = await open_checklist(workspace, release_id, by=by)
    answer = await record(workspace, view, choices, by=by)
    assert answer.body == "", answer.body  # the modal closes
    await eventually(lambda: _recorded(bot, release_id, before + len(choices)))


async def _recorded(bot: Releasebot, release_id: int, count: int) -> bool:
    return len((await details(bot, release_id)).verifications) >= count
