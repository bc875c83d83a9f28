"""The App Home tab, published when a person opens it (cab: BOB and the CAB group of CAROL and
DAVE approve, quorum 2, no self-approval; quick: ALICE or BOB, self-approval allowed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from handlers.app import Releasebot
from tests.blockkit_lint import lint_view
from tests.conftest import ALICE, BOB, CAROL, DAVE, EVE, eventually, plan_release
from tests.fake_slack import Call, FakeSlack
from tests.seed import add_approval, add_release
from tests.workspace import Workspace

APPROVALS = "CAPPROVALS"


async def open_home(workspace: Workspace, user: str) -> dict[str, Any]:
    """Open the Home tab as `user`; returns the view the bot published for them."""
    slack = workspace.slack
    seen = len(slack.calls_to("views.publish", user_id=user))
    answer = await workspace.event({"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
                                    "event_ts": f"{datetime.now(UTC).timestamp():.6f}"})
    assert answer.status == 200
    published = await slack.wait_for_calls("views.publish", seen + 1, user_id=user)
    view: dict[str, Any] = published[seen]["view"]
    assert lint_view(view) == []
    return view


def section_after(view: dict[str, Any], heading: str) -> str:
    """The text of the blocks under a header, up to the next divider."""
    texts: list[str] = []
    inside = False
    for block in view["blocks"]:
        if block["type"] == "header":
            inside = block["text"]["text"].startswith(heading)
            continue
        if block["type"] == "divider":
            inside = False
        elif inside:
            texts.append(str(block))
    return "\n".join(texts)


async def submitted(workspace: Workspace, bot: Releasebot, by: str = ALICE, model: str = "cab") -> tuple[int, Call]:
    release_id, _ = await plan_release(workspace, by=by, model=model)
    await workspace.command(f"submit REL-{release_id}", by=by)
    posts = await workspace.slack.wait_for(
        lambda: [p for p in workspace.slack.posts(APPROVALS) if f"REL-{release_id} " in p.text])
    return release_id, posts[0]


async def test_home_shows_a_release_awaiting_approval_to_a_group_approver(
    workspace: Workspace, bot: Releasebot
) -> None:
    release_id, _ = await submitted(workspace, bot)
    view = await open_home(workspace, CAROL)              # in SCAB, so a cab approver
    assert view["type"] == "home"
    headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert headers == ["Key metrics · last 30 days", "Awaiting your approval (1)", "Your releases (0)"]
    awaiting = section_after(view, "Awaiting your approval")
    assert f"REL-{release_id}" in awaiting and "requested by <@UALICE>" in awaiting and "<#CAPPROVALS>" in awaiting
    assert "Releases planned: 1" in str(view["blocks"])
    assert workspace.slack.calls_to("usergroups.users.list", usergroup="SCAB")


async def test_home_shows_nothing_to_approve_to_others(workspace: Workspace, bot: Releasebot) -> None:
    release_id, _ = await submitted(workspace, bot)
    for user in (EVE, ALICE):                              # not an approver; the owner (quick only)
        view = await open_home(workspace, user)
        assert "Awaiting your approval (0)" in str(view["blocks"])
        assert f"REL-{release_id}" not in section_after(view, "Awaiting your approval")
    mine = section_after(await open_home(workspace, ALICE), "Your releases")
    assert f"REL-{release_id}" in mine and "Awaiting approval" in mine


async def test_a_decided_release_leaves_the_approvers_home(workspace: Workspace, bot: Releasebot,
                                                           slack: FakeSlack) -> None:
    release_id, request = await submitted(workspace, bot)
    await workspace.click("Approve", on=request, by=CAROL)

    async def carol_approved() -> bool:
        details = await bot.services.releases.show(release_id)
        return details is not None and [a.approver for a in details.approvals] == [CAROL]

    await eventually(carol_approved)
    assert f"REL-{release_id}" not in section_after(await open_home(workspace, CAROL), "Awaiting your approval")
    # The quorum is two: DAVE, of the same group, is still asked.
    assert f"REL-{release_id}" in section_after(await open_home(workspace, DAVE), "Awaiting your approval")


async def test_the_messages_tab_publishes_nothing(workspace: Workspace, slack: FakeSlack) -> None:
    await workspace.event({"type": "app_home_opened", "user": EVE, "channel": "D0HOME", "tab": "messages"})
    await open_home(workspace, EVE)
    assert len(slack.calls_to("views.publish")) == 1


async def test_own_releases_wait_only_where_self_approval_is_allowed(workspace: Workspace,
                                                                     bot: Releasebot) -> None:
    now = datetime.now(UTC)
    async with bot.services.releases.uow() as uow:
        await add_release(uow, id=1001, model="cab", state="awaiting_approval", owner=EVE, created=now)
        await add_release(uow, id=1002, model="cab", state="awaiting_approval", owner=BOB, created=now)
        await add_release(uow, id=1003, model="quick", state="awaiting_approval", owner=BOB, created=now)
        await add_release(uow, id=1004, model="cab", state="awaiting_approval", owner=EVE, created=now)
        await add_approval(uow, 1004, BOB, now)
        await add_release(uow, id=1005, model="cab", state="approved", owner=EVE, created=now)
        await uow.commit()
    awaiting = section_after(await open_home(workspace, BOB), "Awaiting your approval")
    # 1002 is BOB's own cab release (no self-approval), 1004 he approved, 1005 is decided.
    assert [ref for ref in ("REL-1001", "REL-1002", "REL-1003", "REL-1004", "REL-1005") if ref in awaiting] == [
        "REL-1001", "REL-1003"]


async def test_home_of_a_busy_owner_stays_within_block_kit_limits(workspace: Workspace, bot: Releasebot) -> None:
    now = datetime.now(UTC)
    states = ["planned", "awaiting_approval", "released", "closed", "rolled_back"]
    long_title = "Payments <!channel> " + "x" * 480
    async with bot.services.releases.uow() as uow:
        for n in range(200):
            await add_release(uow, id=2000 + n, model="quick", state=states[n % 5], owner=ALICE,
                              created=now - timedelta(hours=n), title=long_title)
        for n in range(30):
            await add_release(uow, id=3000 + n, model="cab", state="awaiting_approval", owner=EVE,
                              created=now - timedelta(minutes=n), title=long_title)
        await uow.commit()
    view = await open_home(workspace, ALICE)
    assert len(view["blocks"]) <= 100
    mine = section_after(view, "Your releases (200)")
    assert "REL-2199" in mine and "REL-2185" in mine and "REL-2184" not in mine   # newest first, 15 shown
    assert "…and 185 more" in mine
    assert "<!channel>" not in str(view["blocks"]) and "&lt;!channel&gt;" in mine
    view = await open_home(workspace, BOB)                # approves quick and cab: 40 + 30 waiting
    assert len(view["blocks"]) <= 100
    awaiting = section_after(view, "Awaiting your approval (70)")
    assert "REL-3029" in awaiting and "REL-3020" in awaiting and "REL-3019" not in awaiting
    assert "…and 60 more" in awaiting
