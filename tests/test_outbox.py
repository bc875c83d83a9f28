"""The outbox: every message reaches Slack once, through rate limits, errors and restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.catalog import Catalog
from bot.config import Settings
from bot.outbox import Message, card_anchor
from bot.records import DeliveryRecord
from bot.rendering.messages import Rendered
from handlers.app import Releasebot, build
from tests.conftest import ALICE, CHANNEL, MovableClock, eventually, plan_release, plan_values, settle
from tests.fake_slack import FakeSlack
from tests.workspace import Workspace


async def test_rate_limited_post_is_retried_after_retry_after(workspace: Workspace, slack: FakeSlack) -> None:
    slack.rate_limit("chat.postMessage", retry_after=1, times=1)
    _, card = await plan_release(workspace)
    attempts = slack.attempts_to("chat.postMessage")
    assert [a.status for a in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.9
    assert len(slack.posts(CHANNEL)) == 1


async def attempts_recorded(bot: Releasebot, dedupe_key: str, count: int) -> None:
    """Wait until the outbox row has recorded `count` attempts (and so set its next due time)."""
    async def recorded() -> bool:
        async with bot.services.releases.uow() as uow:
            rows = await uow.outbox.for_release(1)
        return any(r.dedupe_key == dedupe_key and r.attempts >= count for r in rows)

    await eventually(recorded)


async def test_server_errors_are_retried_with_backoff_until_the_card_lands(
    workspace: Workspace, slack: FakeSlack, bot: Releasebot, clock: MovableClock
) -> None:
    slack.fail("chat.postMessage", status=503, times=3, body="Service Unavailable")
    await workspace.command("new cab", by=ALICE)
    view = (await slack.wait_for_calls("views.open"))[0]["view"]
    await workspace.submit_view(view, plan_values(), by=ALICE)
    for failures in (1, 2, 3):  # each retry waits its backoff (2 s, 4 s, 8 s): move the clock on
        await attempts_recorded(bot, "REL-1:card:post", failures)
        clock.advance(timedelta(seconds=2 ** failures))
    card = (await slack.wait_for_calls("chat.postMessage", channel=CHANNEL))[0]
    assert len(slack.posts(CHANNEL)) == 1
    assert [a.status for a in slack.attempts_to("chat.postMessage")] == [503, 503, 503, 200]
    release_id = int(card.text.split()[0].removeprefix("REL-"))

    async def sent() -> list[DeliveryRecord]:
        details = await bot.services.releases.show(release_id)
        assert details is not None
        return [d for d in details.deliveries if d.state == "sent"]

    delivered = await eventually(sent)
    assert len(delivered) == 1 and delivered[0].attempts == 4


async def test_not_in_channel_keeps_the_release_and_tells_the_owner_how_to_fix_it(
    workspace: Workspace, slack: FakeSlack, bot: Releasebot
) -> None:
    slack.fail("chat.postMessage", error="not_in_channel", when=lambda p: p["channel"] == "CPRIVATE")
    await workspace.command("new cab", by=ALICE, channel="CPRIVATE")
    view = (await slack.wait_for_calls("views.open"))[0]["view"]
    from tests.conftest import plan_values

    await workspace.submit_view(view, plan_values(title="Quiet release"), by=ALICE)
    dm = (await slack.wait_for_calls("chat.postMessage", channel=ALICE))[0]
    assert "/invite @releasebot" in dm.text and "<#CPRIVATE>" in dm.text and "REL-1" in dm.text
    details = await bot.services.releases.show(1)
    assert details is not None and details.release.title == "Quiet release"
    assert [e.kind for e in details.events] == ["planned", "message_failed"]

    # Invited, the bot posts the card it owed that channel.
    answer = await workspace.event({"type": "member_joined_channel", "user": "UBOT", "channel": "CPRIVATE",
                                    "channel_type": "G", "team": "T111"})
    assert answer.status == 200
    card = (await slack.wait_for_calls("chat.postMessage", channel="CPRIVATE"))[0]
    assert card.text.startswith("REL-1 Quiet release")


async def test_someone_else_joining_changes_nothing(workspace: Workspace, slack: FakeSlack) -> None:
    answer = await workspace.event({"type": "member_joined_channel", "user": "UCAROL", "channel": "C1"})
    assert answer.status == 200


async def test_card_updates_edit_the_same_message_and_skip_stale_versions(
    workspace: Workspace, slack: FakeSlack, bot: Releasebot
) -> None:
    release_id, card = await plan_release(workspace)
    now = datetime.now(UTC)
    async with bot.services.releases.uow() as uow:
        for version in (2, 3):
            await Message.update(channel=CHANNEL, rendered=Rendered(f"version {version}", []),
                                 anchor=card_anchor(release_id), dedupe_key=f"REL-{release_id}:card:v{version}",
                                 release_id=release_id).enqueue(uow, now)
        await uow.commit()
    updates = await slack.wait_for_calls("chat.update")
    await settle(bot)
    assert [u.text for u in slack.updates()] == ["version 3"]
    assert updates[0]["ts"] == card.ts and updates[0]["channel"] == CHANNEL


async def test_the_same_dedupe_key_is_queued_once(bot: Releasebot, workspace: Workspace) -> None:
    now = datetime.now(UTC)
    for _ in range(2):
        async with bot.services.releases.uow() as uow:
            created = await Message.post(channel="C1", rendered=Rendered("hello", []),
                                         dedupe_key="test:hello").enqueue(uow, now)
            await uow.commit()
    assert created is False
    await workspace.slack.wait_for_calls("chat.postMessage", channel="C1")
    await settle(bot)
    assert len(workspace.slack.posts("C1")) == 1


async def test_messages_queued_before_a_restart_are_sent_after_it(
    settings: Settings, catalog: Catalog, slack: FakeSlack
) -> None:
    first = build(settings, catalog)
    await first.start()
    await first.heartbeat.shutdown()  # the bot dies before its dispatcher runs
    now = datetime.now(UTC)
    async with first.services.releases.uow() as uow:
        await Message.post(channel="C1", rendered=Rendered("owed", []), dedupe_key="test:owed").enqueue(uow, now)
        await uow.commit()
    await first.stop()
    assert slack.posts("C1") == []

    second = build(settings, catalog)
    await second.start()
    try:
        await slack.wait_for_calls("chat.postMessage", channel="C1")
    finally:
        await second.stop()
    assert [c.text for c in slack.posts("C1")] == ["owed"]


async def test_acks_do_not_wait_for_slow_slack(workspace: Workspace, slack: FakeSlack) -> None:
    slack.delays["views.open"] = 3.0
    answer = await workspace.command("new cab", by=ALICE)
    assert answer.status == 200
    assert answer.elapsed < 2.5


async def test_an_older_card_version_due_later_never_replaces_a_newer_one(
    workspace: Workspace, slack: FakeSlack, bot: Releasebot
) -> None:
    """A use case reads the clock before it waits for the release's lock, so a later version
    can be due earlier than the one before it; the card must still end on the later one."""
    release_id, card = await plan_release(workspace)
    await settle(bot)
    now = datetime.now(UTC)
    async with bot.services.releases.uow() as uow:
        for version, due in ((2, now), (3, now - timedelta(seconds=5))):
            await Message.update(channel=CHANNEL, rendered=Rendered(f"version {version}", []),
                                 anchor=card_anchor(release_id), dedupe_key=f"REL-{release_id}:card:v{version}",
                                 release_id=release_id, due_at=due).enqueue(uow, now)
        await uow.commit()
    await settle(bot)
    assert slack.message(card.channel, card.ts).text == "version 3"
    assert [u.text for u in slack.updates()] == ["version 3"]
