"""The release model review (DESIGN.md §9), against a seeded history where every number is
known: four releases of `support` in the last 30 days (released; released then rolled back;
failed; cancelled) and two released in the 30 days before."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, update

from bot.config import Settings
from handlers.app import Releasebot, build
from storage.tables import IncidentRow, ReleaseEventRow, ReleaseRow, VerificationRow
from tests.conftest import ALICE, BOB, DAVE, EVE, MODELS, MovableClock, eventually, settle
from tests.fake_slack import FakeSlack
from tests.seed import add_release, add_survey
from tests.workspace import Workspace

PNG = b"\x89PNG\r\n\x1a\n"


async def seed_history(bot: Releasebot, now: datetime) -> None:
    day, hour = timedelta(days=1), timedelta(hours=1)
    c1, c2, c3, c4 = now - 20 * day, now - 15 * day, now - 10 * day, now - 5 * day
    p1, p2 = now - 45 * day, now - 40 * day
    async with bot.services.releases.uow() as uow:
        # Window: a day after creation, for an hour. R1, R2 start on time; R3 two hours late.
        await add_release(uow, id=1, model="support", state="closed", owner=ALICE, created=c1,
                          events=[("started", c1 + day), ("released", c1 + day + hour / 2)])
        await add_release(uow, id=2, model="support", state="rolled_back", owner=ALICE, created=c2,
                          events=[("started", c2 + day), ("released", c2 + day + hour)])
        await add_release(uow, id=3, model="support", state="failed", owner=ALICE, created=c3,
                          events=[("started", c3 + day + 2 * hour)])
        await add_release(uow, id=4, model="support", state="cancelled", owner=ALICE, created=c4,
                          events=[("cancelled", c4 + hour)])
        await add_release(uow, id=5, model="support", state="closed", owner=ALICE, created=p1,
                          events=[("started", p1 + day), ("released", p1 + day + hour)])
        await add_release(uow, id=6, model="support", state="closed", owner=ALICE, created=p2,
                          events=[("started", p2 + day), ("released", p2 + day + hour)])
        await add_release(uow, id=7, model="cab", state="rolled_back", owner=ALICE, created=c1,
                          events=[("started", c1 + day), ("rolled_back", c1 + day + hour)])
        await uow.session.execute(insert(ReleaseEventRow), [
            {"release_id": 2, "kind": "rolled_back", "actor": BOB, "at": c2 + day + 3 * hour,
             "data": {"reason": "Payments timed out", "from": "released"}},
            {"release_id": 3, "kind": "verification_recorded", "actor": BOB, "at": c3 + day + 3 * hour,
             "data": {"criterion": "Smoke tests pass", "passed": False, "note": "500s on /pay"}},
            {"release_id": 3, "kind": "failed", "actor": BOB, "at": c3 + day + 3 * hour,
             "data": {"criteria": ["Smoke tests pass"]}},
            {"release_id": 2, "kind": "lessons_learnt", "actor": ALICE, "at": c2 + 2 * day,
             "data": {"text": "Add a payments smoke test to the model"}},
        ])
        await uow.session.execute(insert(VerificationRow), [
            {"release_id": rid, "stage": "release", "criterion": "Smoke tests pass", "outcome": outcome,
             "note": None, "evidence_url": None, "verified_by": BOB, "verified_at": at, "submission": f"s{n}"}
            for n, (rid, outcome, at) in enumerate([(2, "fail", c2 + day), (2, "pass", c2 + day + hour / 2),
                                                    (3, "fail", c3 + day + 3 * hour), (1, "pass", c1 + day)])])
        await uow.session.execute(insert(IncidentRow), [
            {"release_id": rid, "ref": ref, "summary": summary, "url": None, "linked_by": ALICE,
             "linked_at": at, "during_support": during}
            for rid, ref, summary, at, during in [(1, "INC-1", "Slow search", c1 + 2 * day, True),
                                                  (2, "INC-2", None, c2 + 2 * day, True),
                                                  (2, "INC-3", "Refunds stuck", c2 + 5 * day, False)]])
        await add_survey(uow, 1, c1 + 2 * day, [DAVE, EVE], [
            (DAVE, "satisfaction", 4, None), (EVE, "satisfaction", 2, None),
            (DAVE, "comments", None, "Announce earlier")])
        await uow.session.execute(update(ReleaseRow).where(ReleaseRow.id.in_([1, 2])).values(model_version="aaaa1111"))
        await uow.session.execute(update(ReleaseRow).where(ReleaseRow.id.in_([3, 4])).values(model_version="bbbb2222"))
        await uow.commit()


async def test_the_model_review_figures_are_those_a_person_counts(bot: Releasebot, http: object) -> None:
    now = bot.services.clock()
    await seed_history(bot, now)
    review = await bot.services.model_reviews.report("support", 30, until=now)
    c, p = review.current, review.previous
    assert (c.created, c.released, c.failed, c.rolled_back, c.cancelled, c.open) == (4, 1, 1, 1, 1, 0)
    assert (c.success_rate, c.failure_rate, c.rollback_rate) == (1 / 3, 1 / 3, 1 / 3)
    assert (c.started, c.started_in_window, c.schedule_adherence) == (3, 2, 2 / 3)
    assert c.lead_time_median == timedelta(days=1, minutes=30)
    assert (c.incidents, c.with_incidents, c.incident_share) == (3, 2, 2 / 3)
    assert (c.ratings, c.satisfaction) == (2, 3.0)
    assert (p.created, p.released, p.success_rate, p.incidents, p.satisfaction) == (2, 2, 1.0, 0, None)
    assert review.failed_criteria == [("release", "Smoke tests pass", 2)]
    assert [(n.release_id, n.text) for n in review.failures] == [(3, "Smoke tests pass failed (500s on /pay)")]
    assert [(n.release_id, n.text) for n in review.rollbacks] == [(2, "Payments timed out")]
    assert [(n.release_id, n.text) for n in review.lessons] == [(2, "Add a payments smoke test to the model")]
    assert [(n.release_id, n.text, n.who) for n in review.comments] == [(1, "Announce earlier", DAVE)]
    assert [(rid, i.ref) for rid, i in review.incidents] == [(1, "INC-1"), (2, "INC-2"), (2, "INC-3")]
    assert review.versions == [("aaaa1111", 2), ("bbbb2222", 2)]
    assert [(w.released, w.failed, w.rolled_back, w.other) for w in review.weeks] == [
        (0, 0, 0, 0), (1, 0, 0, 0), (0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0)]


async def test_model_review_is_posted_where_asked_with_its_chart_through_the_outbox_retried_on_429(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    await seed_history(bot, bot.services.clock())
    slack.rate_limit("files.completeUploadExternal", retry_after=1)
    ack = await workspace.command("model-review support 30d", by=BOB, channel="CMODELS")
    assert ack.status == 200 and not ack.body
    report = (await slack.wait_for_calls("chat.postMessage", channel="CMODELS"))[0]
    text = report.mrkdwn()
    assert "Release model review: Supported release (support)" in report.all_text()
    assert "Success rate: *33% (1 of 3)* (previous: 100% (2 of 2))" in text
    assert "Rollback rate: *33% (1 of 3)*" in text and "Schedule adherence: *67% (2 of 3)*" in text
    assert "Incidents: *3 · 67% of started releases had one (2 of 3)* (previous: 0 · 0% of" in text
    assert "Satisfaction: *3.0 / 5 (2 ratings)* (previous: —)" in text
    assert "Smoke tests pass (release): failed in 2 releases" in text
    assert "REL-3: Smoke tests pass failed (500s on /pay)" in text
    assert "REL-2: Payments timed out" in text
    assert "REL-2: Add a payments smoke test to the model (<@UALICE>)" in text
    assert "REL-1: “Announce earlier” (<@UDAVE>)" in text
    assert "`support@aaaa1111`: 2 releases" in text and "`support@bbbb2222`: 2 releases" in text
    assert "REL-7" not in text  # another model's release

    shared = (await slack.wait_for_calls("files.completeUploadExternal", timeout=20))[0]
    assert len(slack.attempts_to("files.completeUploadExternal")) == 2  # the 429, then the retry
    assert shared["channel_id"] == "CMODELS"
    assert "Week of" in shared["initial_comment"] and "1 rolled back" in shared["initial_comment"]
    stored = slack.files[shared["files"][0]["id"]]
    assert stored["content"].startswith(PNG) and stored["title"].endswith("outcomes per week")
    asked = slack.calls_to("files.getUploadURLExternal")[-1]
    assert asked["filename"] == "support-outcomes-per-week.png" and "Week of" in asked["alt_txt"]


async def test_model_review_is_for_the_models_approvers_and_the_release_managers(
        workspace: Workspace, bot: Releasebot, slack: FakeSlack) -> None:
    seen = len(slack.responses())
    await workspace.command("model-review support", by=EVE)
    refused = (await slack.next_response(seen)).text
    assert "Only the approvers of support" in refused
    ack = await workspace.command("model-review", by=BOB)
    assert "Say which release model" in ack.text
    ack = await workspace.command("model-review nosuch", by=BOB)
    assert "There is no release model" in ack.text
    assert slack.calls_to("files.getUploadURLExternal") == []


async def test_a_due_model_review_reminds_the_release_managers_once_per_due_date(
        settings: Settings, bot: Releasebot, http: object, slack: FakeSlack, clock: MovableClock) -> None:
    managed = settings.model_copy(update={"releasebot_managers": "UMGR"})
    first, second = build(managed, bot.catalog, clock=clock), build(managed, bot.catalog, clock=clock)
    await first.start()
    await second.start()
    try:
        assert await first.services.model_reviews.remind() == 0  # support: every 30d, first seen now
        clock.advance(days=31)
        # Any of the three running bots may be woken at the due time and send it first: which
        # one sends is theirs to race for; that exactly one reminder goes is the point.
        sent = await asyncio.gather(first.services.model_reviews.remind(), second.services.model_reviews.remind(),
                                    bot.services.model_reviews.remind())
        assert sum(sent) <= 1
        await settle(first)
        reminders = await eventually(lambda: _reminders(slack))
        await first.services.model_reviews.post("support", 30, "UMGR", "CMODELS")  # reviewed: next due in 30d
        assert await second.services.model_reviews.remind() == 0
        await settle(first)
        reminders = await _reminders(slack)
        assert len(reminders) == 1 and "/release model-review support 30d" in reminders[0].mrkdwn()
    finally:
        await first.stop()
        await second.stop()


async def test_the_report_command_prints_the_same_review_as_markdown(
        bot: Releasebot, http: object, settings: Settings, tmp_path: object) -> None:
    await seed_history(bot, bot.services.clock())
    if not settings.database_url.startswith("sqlite"):
        return  # the command reads the same database; one run on SQLite shows the output
    env = {"DATABASE_URL": settings.database_url, "RELEASEBOT_MODELS": str(MODELS), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(MODELS.parent.parent)}
    done = subprocess.run([sys.executable, "-m", "handlers.cli", "report", "model", "support", "--period", "30d"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("# Release model review: Supported release (support)")
    assert "- Success rate: **33% (1 of 3)** (previous: 100% (2 of 2))" in out
    assert "- `support@aaaa1111`: 2 releases" in out and "## Outcomes per week" in out
    assert "- REL-2: Add a payments smoke test to the model (UALICE)" in out
    bad = subprocess.run([sys.executable, "-m", "handlers.cli", "report", "model", "nosuch"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "no release model 'nosuch'" in bad.stderr


def test_the_sandbox_shows_a_shared_file_as_a_download_link() -> None:
    from handlers.sandbox.screens import _files

    html = _files({"files": [{"url_private": "http://127.0.0.1/files/F1/chart.png", "title": "Outcomes <per> week"}]})
    assert 'href="http://127.0.0.1/files/F1/chart.png" download>Outcomes &lt;per&gt; week</a>' in html
    assert _files({"text": "no files"}) == ""


def test_the_manifest_asks_for_the_scope_the_chart_upload_needs() -> None:
    from handlers.slack.manifest import manifest

    scopes = manifest("https://releasebot.example.com", socket_mode=False)["oauth_config"]["scopes"]["bot"]
    assert "files:write" in scopes


async def _reminders(slack: FakeSlack) -> list[Any]:
    return [c for c in slack.posts("UMGR") if "is due" in c.mrkdwn()]
