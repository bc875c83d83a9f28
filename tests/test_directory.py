"""User groups read through Slack's `usergroups.users.list`: cached for a minute, and a
failed lookup remembered for a few seconds instead of asked again by every caller."""

from __future__ import annotations

from bot.slack.directory import SlackDirectory
from bot.slack.gateway import web_client
from tests.conftest import CAROL, DAVE
from tests.fake_slack import FakeSlack


async def test_members_are_read_once_a_minute(slack: FakeSlack) -> None:
    directory = SlackDirectory(web_client("xoxb-test-token", slack.api_url))
    assert await directory.members("SCAB") == {CAROL, DAVE}
    assert await directory.members("SCAB") == {CAROL, DAVE}
    assert len(slack.calls_to("usergroups.users.list", usergroup="SCAB")) == 1


async def test_a_group_that_cannot_be_read_is_not_asked_for_again_at_once(slack: FakeSlack) -> None:
    slack.fail("usergroups.users.list", error="missing_scope", times=10)
    directory = SlackDirectory(web_client("xoxb-test-token", slack.api_url))
    for _ in range(5):  # five reminders, or five clicks, in the same few seconds
        assert await directory.members("SCAB") == frozenset()
    assert len(slack.attempts_to("usergroups.users.list")) == 1

    again = SlackDirectory(web_client("xoxb-test-token", slack.api_url), retry=0.0)
    assert await again.members("SCAB") == frozenset()
    assert await again.members("SCAB") == frozenset()  # retried at once when told to
    assert len(slack.attempts_to("usergroups.users.list")) == 3


async def test_a_failed_lookup_keeps_the_members_last_read(slack: FakeSlack) -> None:
    directory = SlackDirectory(web_client("xoxb-test-token", slack.api_url), ttl=0.0, retry=0.0)
    assert await directory.members("SCAB") == {CAROL, DAVE}
    slack.fail("usergroups.users.list", error="internal_error")
    assert await directory.members("SCAB") == {CAROL, DAVE}
    assert await directory.members("SCAB") == {CAROL, DAVE}
    assert len(slack.attempts_to("usergroups.users.list")) == 3
