"""Incidents related to releases (DESIGN.md §9): linked by `/release incident`, refused
clearly when the reference, the release or the link is wrong, shown on the record, the card
and the review, counted by the metrics; early life support and its end."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.config import Settings
from handlers.app import Releasebot, build
from storage.tables import IncidentRow, ReleaseEventRow
from tests import drive
from tests.conftest import ALICE, BOB, EVE, MovableClock, eventually, settle
from tests.fake_slack import FakeSlack
from tests.test_home import open_home
from tests.workspace import Workspace


async def released(bot: Releasebot, model: str = "support", owner: str = ALICE) -> int:
    start = datetime.now(UTC) + timedelta(minutes=5)
    outcome = await bot.services.releases.plan(drive.draft(model, start, owner=owner))
    release_id = outcome.unwrap().id
    await drive.release(bot, release_id)
    return release_id


async def answer_to(workspace: Workspace, text: str, by: str) -> str:
    seen = len(workspace.slack.responses())
    ack = await workspace.command(text, by=by)
    assert ack.status == 200
    if ack.body:  # refused in the ack
        return ack.text
    response = await workspace.slack.next_response(seen)
    return response.text + "\n" + response.mrkdwn()


async def incidents(bot: Releasebot) -> int:
    async with bot.services.releases.uow() as uow:
        return int((await uow.session.execute(select(func.count(IncidentRow.id)))).scalar_one())


async def test_an_incident_is_linked_with_who_and_when_and_shown_on_the_record_and_the_card(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id = await released(bot)
    said = await answer_to(workspace, f"incident REL-{release_id} inc-42 Checkout <errors> up "
                                      "<https://status.example.com/inc/42>", by=ALICE)
    assert f"INC-42 is now related to REL-{release_id}" in said and "early life support" in said
    said = await answer_to(workspace, f"incident REL-{release_id} INC-43", by=BOB)  # an approver may too
    assert "INC-43 is now related" in said

    found = await bot.services.incidents.for_release(release_id)
    assert [(i.ref, i.summary, i.url, i.linked_by, i.during_support) for i in found] == [
        ("INC-42", "Checkout <errors> up", "https://status.example.com/inc/42", ALICE, True),
        ("INC-43", None, None, BOB, True)]
    details = await bot.services.releases.show(release_id)
    assert details is not None and details.in_support
    linked = [e for e in details.events if e.kind == "incident_linked"]
    assert [(e.actor, e.data["ref"]) for e in linked] == [(ALICE, "INC-42"), (BOB, "INC-43")]

    record = await answer_to(workspace, f"show REL-{release_id}", by=EVE)
    assert "Incidents related to this release* (2)" in record
    assert "<https://status.example.com/inc/42|INC-42> · Checkout &lt;errors&gt; up" in record
    assert "In early life support until" in record
    await settle(bot)
    card = [c for c in slack.calls if c.method in ("chat.postMessage", "chat.update") and c.ok
            and c.text.startswith(f"REL-{release_id} ")][-1]
    assert "INC-43" in card.mrkdwn() and "In early life support until" in card.mrkdwn()


async def test_bad_reference_unknown_release_and_duplicate_are_answered_and_change_nothing(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id = await released(bot)
    assert "Say which incident" in await answer_to(workspace, f"incident REL-{release_id}", by=ALICE)
    said = await answer_to(workspace, f"incident REL-{release_id} <!channel>", by=ALICE)
    assert "is not an incident reference" in said and "INC-42" in said and "<!channel>" not in said
    assert "There is no REL-999" in await answer_to(workspace, "incident REL-999 INC-1", by=ALICE)
    assert "INC-7 is now related" in await answer_to(workspace, f"incident REL-{release_id} INC-7", by=ALICE)
    said = await answer_to(workspace, f"incident REL-{release_id} inc-7 again", by=BOB)
    assert f"INC-7 is already linked to REL-{release_id}; nothing changed." in said
    said = await answer_to(workspace, f"incident REL-{release_id} INC-8", by=EVE)
    assert "Only the release owner" in said
    assert all(r.get("response_type", "ephemeral") == "ephemeral" for r in (c.params for c in slack.responses()))
    assert await incidents(bot) == 1
    async with bot.services.releases.uow() as uow:
        kinds = [e.kind for e in await uow.events.for_release(release_id)]
    assert kinds.count("incident_linked") == 1


async def test_a_duplicate_is_refused_by_the_database_when_two_links_race(bot: Releasebot, http: object) -> None:
    release_id = await released(bot)
    outcomes = await asyncio.gather(*(bot.services.incidents.link(release_id, ALICE, "INC-9") for _ in range(3)))
    assert sorted(o.ok for o in outcomes) == [False, False, True]
    assert {o.refusal.code for o in outcomes if o.refusal} == {"duplicate_incident"}
    assert await incidents(bot) == 1


async def test_a_pipeline_token_links_an_incident_and_a_release_not_executed_refuses(
        bot: Releasebot, http: object) -> None:
    release_id = await released(bot)
    outcome = await bot.services.incidents.link(release_id, "token:deploy", "OPS-3", "Pager fired",
                                                "https://pager.example.com/OPS-3")
    assert outcome.ok and outcome.unwrap().linked_by == "token:deploy"
    planned = (await bot.services.releases.plan(drive.draft("support", datetime.now(UTC) + timedelta(days=1)))).unwrap()
    refused = await bot.services.incidents.link(planned.id, ALICE, "INC-1")
    assert refused.refusal and refused.refusal.code == "wrong_state"
    bad = await bot.services.incidents.link(release_id, ALICE, "INC-2", url="javascript:alert(1)")
    assert bad.refusal and bad.refusal.code == "bad_url"


async def test_the_review_lists_the_incidents(workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    release_id = await released(bot, model="cab")
    await bot.services.incidents.link(release_id, ALICE, "INC-5", "Slow checkout")
    await workspace.command(f"review REL-{release_id}", by=ALICE, channel="CREVIEWS")
    report = (await slack.wait_for_calls("chat.postMessage", channel="CREVIEWS"))[0]
    assert "Incidents related to this release* (1)" in report.mrkdwn()
    assert "INC-5: Slow checkout" in report.mrkdwn()
    assert "during early life support" not in report.mrkdwn()  # cab has none


async def test_metrics_without_and_with_incidents(workspace: Workspace, bot: Releasebot) -> None:
    first = await released(bot)
    await released(bot)
    await released(bot, model="cab")
    said = await answer_to(workspace, "metrics 30d", by=EVE)
    assert "*Incidents related to releases*\nnone linked (0 of 3 started)" in said
    await bot.services.incidents.link(first, ALICE, "INC-1")
    await bot.services.incidents.link(first, ALICE, "INC-2")
    said = await answer_to(workspace, "metrics 30d", by=EVE)
    assert "2 incidents · 33% of releases had one (1 of 3 started)" in said
    assert "`support`: 2 incidents in 1 release" in said
    said = await answer_to(workspace, "metrics 30d support", by=EVE)
    assert "2 incidents · 50% of releases had one (1 of 2 started)" in said
    said = await answer_to(workspace, "metrics 30d cab", by=EVE)
    assert "none linked (0 of 1 started)" in said
    figures = await bot.services.metrics.key_metrics(30, "support")
    assert (figures.incidents, figures.with_incidents, figures.started) == (2, 1, 2)
    view = await open_home(workspace, EVE)
    assert "*Incidents related to releases*\n2 incidents · 33% of releases had one (1 of 3 started)" \
        in json.dumps(view, ensure_ascii=False).replace("\\n", "\n")


async def test_closing_during_early_life_support_asks_to_confirm(
        workspace: Workspace, bot: Releasebot, clock: MovableClock) -> None:
    release_id = await released(bot)
    await bot.services.reviews.post(release_id, ALICE, "C0RELEASES")
    said = await answer_to(workspace, f"close REL-{release_id}", by=ALICE)
    assert "still in early life support until" in said and f"`/release close REL-{release_id} confirm`" in said
    assert (await bot.services.releases.get(release_id)).state == "released"  # type: ignore[union-attr]
    said = await answer_to(workspace, f"close REL-{release_id} confirm", by=ALICE)
    assert f"REL-{release_id} is closed." in said


async def test_the_end_of_early_life_support_is_told_to_the_owner_once_across_replicas_and_a_restart(
        bot: Releasebot, http: object, settings: Settings, slack: FakeSlack, clock: MovableClock) -> None:
    release_id = await released(bot)
    other = build(settings, bot.catalog, clock=clock)
    await other.start()
    assert bot.support and other.support
    try:
        assert await bot.support.tick() + await other.support.tick() == 0  # not yet
        clock.advance(days=3, minutes=1)
        ended = await asyncio.gather(bot.support.tick(), other.support.tick())
        assert sum(ended) <= 1  # or a due-time wake-up ended it first: the one DM below is the point
    finally:
        await other.stop()
    restarted = build(settings, bot.catalog, clock=clock)
    await restarted.start()
    try:
        assert restarted.support and await restarted.support.tick() == 0
        await settle(bot)
        dms = await eventually(lambda: _dms(slack, ALICE))
        assert len(dms) == 1
        assert f"early life support of REL-{release_id}" in dms[0].mrkdwn()
        assert f"/release close REL-{release_id}" in dms[0].mrkdwn()
        async with bot.services.releases.uow() as uow:
            kinds = (await uow.session.execute(select(ReleaseEventRow.kind).where(
                ReleaseEventRow.release_id == release_id))).scalars().all()
        assert list(kinds).count("early_life_support_ended") == 1
        said = await bot.services.incidents.link(release_id, ALICE, "INC-99")
        assert said.ok and not said.unwrap().during_support  # after the support
    finally:
        await restarted.stop()


async def _dms(slack: FakeSlack, user: str) -> list[object]:
    return [c for c in slack.posts(user) if "early life support" in c.mrkdwn().lower()]


async def test_a_link_typed_by_slack_with_an_ampersand_stays_one_link(workspace: Workspace, bot: Releasebot) -> None:
    release_id = await released(bot)
    said = await answer_to(workspace, f"incident REL-{release_id} INC-11 <https://inc.example.com/?id=11&amp;v=2>",
                           by=ALICE)
    assert "INC-11 is now related" in said
    (found,) = await bot.services.incidents.for_release(release_id)
    assert found.url == "https://inc.example.com/?id=11&v=2" and found.summary is None
    record = await answer_to(workspace, f"show REL-{release_id}", by=ALICE)
    assert "<https://inc.example.com/?id=11&amp;v=2|INC-11>" in record


async def test_the_support_watch_reads_only_releases_of_versions_with_early_life_support(
        bot: Releasebot, http: object) -> None:
    supported = await released(bot)
    await released(bot, model="cab")  # released, never closed, and its model gives no support
    async with bot.services.releases.uow(read_only=True) as uow:
        versions = await bot.services.versions.with_early_life_support(uow)
        watched = [rid for rid, _ in await uow.model_review.in_support("early_life_support_ended", versions)]
    assert {key for key, _ in versions} == {"support"}
    assert watched == [supported]
