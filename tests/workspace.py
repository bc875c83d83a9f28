"""Plays a Slack workspace: people typing commands, clicking buttons and submitting modals,
as signed HTTP requests of the shapes Slack sends (see ../shared/slack/payloads)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient

from tests.fake_slack import Call, FakeSlack

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"


def sign(body: str, timestamp: int | str, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Answer:
    """The HTTP answer to one request (the ack), as Slack would receive it."""

    status: int
    body: str
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}

    @property
    def text(self) -> str:
        try:
            data = self.json()
        except json.JSONDecodeError:
            return self.body
        return str(data.get("text", "")) + json.dumps(data.get("blocks", []), ensure_ascii=False)


@dataclass
class Workspace:
    http: TestClient
    slack: FakeSlack
    team: str = "T111"
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def send(self, body: str, content_type: str, *, timestamp: int | str | None = None,
                   signature: str | None = None, headers: dict[str, str] | None = None) -> Answer:
        stamp = int(time.time()) if timestamp is None else timestamp
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": signature if signature is not None else sign(body, stamp),
            **(headers or {}),
        }
        started = time.monotonic()
        response = await self.http.post("/slack/events", data=body.encode(), headers=all_headers)
        text = await response.text()
        return Answer(response.status, text, time.monotonic() - started)

    def command_body(self, text: str, user: str, channel: str) -> str:
        n = next(self._n)
        return urlencode({
            "token": "verification_token", "team_id": self.team, "team_domain": "test",
            "channel_id": channel, "channel_name": "releases", "user_id": user, "user_name": user.lower(),
            "command": "/release", "text": text, "api_app_id": "A111",
            "response_url": self.slack.response_url(f"cmd{n}"), "trigger_id": f"{n}.111.trigger",
        })

    async def command(self, text: str, *, by: str, channel: str = "C0RELEASES") -> Answer:
        return await self.send(self.command_body(text, by, channel), "application/x-www-form-urlencoded")

    async def interact(self, payload: dict[str, Any], **kw: Any) -> Answer:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.send(body, "application/x-www-form-urlencoded", **kw)

    async def submit_view(self, view: dict[str, Any], values: dict[str, dict[str, Any]], *, by: str,
                          view_id: str | None = None, **kw: Any) -> Answer:
        """Submit a modal the bot opened (`view` as sent to views.open), with `values` by block id."""
        n = next(self._n)
        payload = {
            "type": "view_submission", "team": {"id": self.team, "domain": "test"},
            "user": {"id": by, "username": by.lower(), "name": by.lower(), "team_id": self.team},
            "api_app_id": "A111", "token": "verification_token", "trigger_id": f"{n}.222.trigger",
            "view": {
                "id": view_id or f"VPLAN{n}", "team_id": self.team, "type": "modal",
                "blocks": view.get("blocks", []), "private_metadata": view.get("private_metadata", ""),
                "callback_id": view.get("callback_id"), "state": {"values": values},
                "hash": f"{n}.hash", "title": view.get("title"), "submit": view.get("submit"),
                "close": view.get("close"), "previous_view_id": None, "root_view_id": f"VPLAN{n}",
                "app_id": "A111", "external_id": "", "app_installed_team_id": self.team, "bot_id": "BBOT",
            },
            "response_urls": [],
        }
        return await self.interact(payload, **kw)

    async def click(self, label: str, *, on: Call, by: str, **kw: Any) -> Answer:
        """Click the button labelled `label` on a message the bot posted (or updated)."""
        button = on.button(label)
        n = next(self._n)
        channel, ts = on.channel, on.ts
        payload = {
            "type": "block_actions", "user": {"id": by, "username": by.lower(), "team_id": self.team},
            "api_app_id": "A111", "token": "verification_token",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
            "trigger_id": f"{n}.333.trigger", "team": {"id": self.team, "domain": "test"},
            "channel": {"id": channel, "name": "releases"},
            "message": {"type": "message", "ts": ts, "text": on.text, "blocks": on.blocks},
            "state": {"values": {}}, "response_url": self.slack.response_url(f"act{n}"),
            "actions": [{
                "action_id": button["action_id"], "block_id": "b", "text": button["text"],
                "value": button.get("value", ""), "type": "button", "action_ts": f"{time.time():.6f}",
            }],
        }
        return await self.interact(payload, **kw)

    async def event(self, event: dict[str, Any], *, event_id: str | None = None,
                    retry: int | None = None) -> Answer:
        n = next(self._n)
        body = json.dumps({
            "token": "verification_token", "team_id": self.team, "api_app_id": "A111",
            "event": event, "type": "event_callback", "event_id": event_id or f"Ev{n}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team, "user_id": "UBOT", "is_bot": True}],
        })
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return await self.send(body, "application/json", headers=headers)
