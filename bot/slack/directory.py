"""The Directory on Slack's `usergroups.users.list`, cached briefly.

A click must be answered quickly and a group rarely changes within a minute, so members
are cached for `ttl` seconds; a failed lookup is logged and counts as an empty group (the
person is then told who the approvers are instead of being let through), or as the members
last read. A failure is remembered for `retry` seconds: a group the bot may not read (no
`usergroups:read`, a deleted group) was asked for again by every click and every reminder.
"""

from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class SlackDirectory:
    def __init__(self, client: AsyncWebClient, ttl: float = 60.0, retry: float = 10.0):
        self.client = client
        self.ttl = ttl
        self.retry = retry
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    async def members(self, group: str) -> frozenset[str]:
        cached = self._cache.get(group)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            response = await self.client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            data = exc.response.data
            error = data.get("error") if isinstance(data, dict) else f"http_{exc.response.status_code}"
            log.error("usergroups.users.list for %s failed: %s", group, error)
            members = cached[1] if cached else frozenset()
            self._cache[group] = (time.monotonic() - self.ttl + self.retry, members)
            return members
        users = frozenset(str(u) for u in response.get("users") or [])
        self._cache[group] = (time.monotonic(), users)
        return users
