"""The test suite's fake Slack: the sandbox's workspace (handlers/sandbox/workspace.py), served
on its own loopback port.

One implementation of Slack's side serves both the sandbox and the tests, so they cannot drift
apart. This module keeps the names the tests import (`FakeSlack`, `Call`, `BOT_USER`): it
records every Web API call and response_url post, can answer errors (`fail`, `rate_limit`,
`delays`), and tests assert on what reached it. Lenient (not `strict`): a test may make up its
own trigger ids, channels and response URLs.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.test_utils import TestServer

from handlers.sandbox.calls import Call, Failure
from handlers.sandbox.directory import BOT_USER
from handlers.sandbox.workspace import SlackWorkspace

__all__ = ["BOT_USER", "Call", "Failure", "FakeSlack"]


@dataclass
class FakeSlack(SlackWorkspace):
    server: TestServer | None = None

    async def start(self) -> None:
        app = web.Application()
        self.add_routes(app)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        self.base_url = str(self.server.make_url("")).rstrip("/")

    async def close(self) -> None:
        if self.server:
            await self.server.close()
