"""A release keeps its release model as it was planned (DESIGN.md §6): edit or delete the file
and restart, and releases in flight go on under their version; new releases use the file as
it is now; the people of a changed model hear once what changed."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.catalog import Catalog, version_of
from bot.config import Settings
from handlers.app import Releasebot, build
from handlers.cli import check_models
from tests.conftest import ALICE, BOB, CAROL, MODELS, MovableClock, eventually, plan_release, settle
from tests.fake_slack import Call, FakeSlack
from tests.verifying import approved, ask, details, reaches, state_of, verify
from tests.workspace import Workspace

APPROVALS, ANNOUNCE = "CAPPROVALS", "CANNOUNCE"
SIGNED, REHEARSED, SMOKE = "Build artefacts signed", "Rollback rehearsed", "Smoke tests pass"
#: One numbering of requests across restarts, so each answer is told apart by its response_url.
REQUESTS = itertools.count(1000)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A models folder of the test's own, to edit and delete files in."""
    return Path(shutil.copytree(MODELS, tmp_path / "models"))


@asynccontextmanager
async def serving(settings: Settings, folder: Path, slack: FakeSlack,
                  clock: MovableClock) -> AsyncIterator[tuple[Releasebot, Workspace]]:
    """`releasebot serve` with the models of `folder` as they are now; stopped on leaving."""
    bot = build(settings, Catalog.load(folder), clock=clock)
    bot.heartbeat.poll_seconds = 0.2
    client = TestClient(TestServer(bot.web_app(), host="127.0.0.1"))
    await client.start_server()
    try:
        yield bot, Workspace(client, slack, _n=REQUESTS)
    finally:
        await client.close()


def edit(path: Path, change: Callable[[str], str]) -> str:
    text = change(path.read_text())
    path.write_text(text)
    return version_of(text.encode())


def notices(slack: FakeSlack) -> list[Call]:
    return [p for p in slack.posts(ANNOUNCE) if "Release model cab changed" in p.text]


async def submitted(workspace: Workspace) -> tuple[int, Call]:
    release_id, _ = await plan_release(workspace)
    assert "is submitted" in (await ask(workspace, f"submit REL-{release_id}", by=ALICE)).text
    request = (await workspace.slack.wait_for(
        lambda: [p for p in workspace.slack.posts(APPROVALS) if f"REL-{release_id} " in p.text]))[0]
    return release_id, request


async def test_a_release_awaiting_quorum_two_keeps_it_after_the_model_is_edited_while_new_ones_follow_the_edit(
        settings: Settings, folder: Path, slack: FakeSlack, clock: MovableClock) -> None:
    before = version_of((folder / "cab.yaml").read_bytes())
    async with serving(settings, folder, slack, clock) as (bot, workspace):
        old_id, request = await submitted(workspace)
        await workspace.click("Approve", on=request, by=BOB)
        await eventually(lambda: _approvals(bot, old_id, 1))
        assert await state_of(bot, old_id) == "awaiting_approval"
        await settle(bot)
    assert notices(slack) == []  # the first start of an empty database announces nothing

    after = edit(folder / "cab.yaml", lambda text: text.replace("quorum: 2", "quorum: 1"))
    async with serving(settings, folder, slack, clock) as (bot, workspace):
        # The people of the model hear once what changed.
        notice = (await slack.wait_for(lambda: notices(slack)))[0]
        assert f"{before} → {after}" in notice.text and "quorum: 2 → 1" in notice.mrkdwn()

        # The release in flight keeps quorum 2 and says which version it keeps.
        record = await ask(workspace, f"show REL-{old_id}", by=ALICE)
        assert f"cab@{before}" in record.all_text()
        assert (await bot.services.releases.get(old_id)).model_version == before  # type: ignore[union-attr]
        new_id, new_request = await submitted(workspace)
        await workspace.click("Approve", on=new_request, by=BOB)
        await reaches(bot, new_id, "approved")  # the new release follows quorum 1
        assert f"cab@{after}" in (await ask(workspace, f"show REL-{new_id}", by=ALICE)).all_text()
        assert await state_of(bot, old_id) == "awaiting_approval"
        await workspace.click("Approve", on=slack.message(request.channel, request.ts), by=CAROL)
        await reaches(bot, old_id, "approved")  # its second approval reaches its quorum of 2
        await settle(bot)
    async with serving(settings, folder, slack, clock) as (bot, _):
        await settle(bot)
    assert len(notices(slack)) == 1  # a restart with the same file announces nothing more


async def test_a_release_of_a_deleted_model_completes_its_life(
        settings: Settings, folder: Path, slack: FakeSlack, clock: MovableClock) -> None:
    record_version = version_of((folder / "cab.yaml").read_bytes())
    async with serving(settings, folder, slack, clock) as (bot, workspace):
        release_id, card = await approved(workspace, bot)
        await settle(bot)
    (folder / "cab.yaml").unlink()
    async with serving(settings, folder, slack, clock) as (bot, workspace):
        assert bot.services.catalog.get("cab") is None
        await verify(workspace, bot, release_id, {SIGNED: "pass", REHEARSED: "pass"}, by=ALICE)
        await reaches(bot, release_id, "ready")
        assert "is executing" in (await ask(workspace, f"start REL-{release_id}", by=ALICE)).text
        await verify(workspace, bot, release_id, {SMOKE: "pass"}, by=ALICE)
        await reaches(bot, release_id, "released")
        await workspace.command(f"review REL-{release_id}", by=ALICE)
        review = (await slack.wait_for(lambda: [p for p in slack.posts() if "Release review of" in p.text]))[0]
        assert f"cab@{record_version}" in review.all_text()
        assert "is closed" in (await ask(workspace, f"close REL-{release_id}", by=ALICE)).text
        await settle(bot)
        # Its communications still follow the plan of its version.
        assert [p for p in slack.posts(ANNOUNCE) if f"REL-{release_id}" in p.text and "released" in p.text.lower()]
        record = await details(bot, release_id)
        assert record.release.state.value == "closed"


async def test_two_replicas_starting_together_post_the_change_notice_once(
        settings: Settings, folder: Path, slack: FakeSlack, clock: MovableClock) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    async with serving(settings, folder, slack, clock) as (bot, _):
        await settle(bot)
    edit(folder / "cab.yaml", lambda text: text.replace("quorum: 2", "quorum: 1"))
    replicas = [build(settings, Catalog.load(folder), clock=clock) for _ in range(2)]
    for replica in replicas:
        replica.heartbeat.poll_seconds = 0.2
    try:
        # Their start-up sync at the same moment (Alembic's context is global to a process, so
        # the migrations, already at head, run one after the other; real replicas are processes).
        await asyncio.gather(*(replica.services.versions.sync() for replica in replicas))
        for replica in replicas:
            await replica.start()
        await slack.wait_for(lambda: notices(slack))
        for replica in replicas:
            await settle(replica)
        await asyncio.sleep(0.5)
    finally:
        for replica in replicas:
            await replica.stop()
    assert len(notices(slack)) == 1


async def test_models_check_shows_what_serve_would_announce(
        settings: Settings, folder: Path, slack: FakeSlack, clock: MovableClock,
        capsys: pytest.CaptureFixture[str]) -> None:
    async with serving(settings, folder, slack, clock) as (bot, _):
        await settle(bot)
    after = edit(folder / "cab.yaml", lambda text: text.replace("release: [Smoke tests pass]",
                                                                 "release: [Smoke tests pass, Error rate flat]"))
    assert await asyncio.to_thread(check_models, folder, settings.database_url) == 0
    out = capsys.readouterr().out
    assert "cab: " in out and f"→ {after} (serve will announce it in {ANNOUNCE})" in out
    assert "release criteria added: Error rate flat" in out
    async with serving(settings, folder, slack, clock) as (bot, _):
        await settle(bot)
    assert await asyncio.to_thread(check_models, folder, settings.database_url) == 0
    assert "no release model changed" in capsys.readouterr().out


async def _approvals(bot: Releasebot, release_id: int, count: int) -> bool:
    return len((await details(bot, release_id)).approvals) == count


async def test_releases_planned_before_versions_get_their_models_version_at_start(
        settings: Settings, folder: Path, slack: FakeSlack, clock: MovableClock) -> None:
    from sqlalchemy import update

    from storage.tables import ReleaseRow

    async with serving(settings, folder, slack, clock) as (bot, workspace):
        release_id, _ = await plan_release(workspace)
        async with bot.services.releases.uow() as uow:  # as a release of before migration 0007
            await uow.session.execute(update(ReleaseRow).values(model_version=None))
            await uow.commit()
        await settle(bot)
    async with serving(settings, folder, slack, clock) as (bot, _):
        release = await bot.services.releases.get(release_id)
        assert release is not None and release.model_version == version_of((folder / "cab.yaml").read_bytes())


def test_what_changed_is_said_line_by_line_naming_people_by_id() -> None:
    from bot.model_changes import changes
    from bot.rendering.models import version_notice

    catalog = Catalog.load(MODELS)
    old = catalog.get("cab")
    assert old is not None
    new = old.model_copy(update={
        "approval": old.approval.model_copy(update={"approvers": ["UBOB", "UERIN"], "quorum": 1}),
        "verification": old.verification.model_copy(update={"components": ["SBOM published"]}),
        "survey": None,
    })
    lines = [str(line) for line in changes(old, new)]
    assert lines == [
        "approvers added: UERIN", "approvers removed: SCAB", "quorum: 2 → 1",
        "components criteria added: SBOM published", "components criteria removed: Build artefacts signed",
        "survey: removed",
    ]
    assert changes(old, old) == []
    notice = version_notice("cab", old.name, "aaaaaaaa", "bbbbbbbb", changes(old, new))
    assert "<@UERIN>" in str(notice.blocks) and "<!subteam^SCAB>" in str(notice.blocks)
