"""A small Slack Web API on loopback that records every call and can answer errors.

In the spirit of bolt-python's `tests/mock_web_api_server`: the bot's client is pointed at
it with SLACK_API_URL, and tests assert on what reached it. It also serves response_url
posts (`/response/<n>`), which is where ephemeral answers to commands and clicks go.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.test_utils import TestServer

BOT_USER = "UBOT"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def ts(self) -> str:
        """The message's ts: what Slack answered to a post, or the ts an update targeted."""
        return str(self.params.get("ts") or self.result.get("ts"))

    @property
    def ok(self) -> bool:
        """Answered 200 with `"ok": true`: the call took effect."""
        return self.status == 200 and bool(self.result.get("ok", True))

    @property
    def channel(self) -> str:
        return str(self.result.get("channel") or self.params.get("channel"))

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return list(self.params.get("blocks") or [])

    def all_text(self) -> str:
        """The message text and every text inside its blocks, for content assertions."""
        return self.text + "\n" + json.dumps(self.blocks, ensure_ascii=False)

    def mrkdwn(self) -> str:
        """The text Slack parses for mentions and links: top-level text and mrkdwn objects."""
        found = [self.text]

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if node.get("type") == "mrkdwn":
                    found.append(str(node.get("text", "")))
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.blocks)
        return "\n".join(found)

    def buttons(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for block in self.blocks:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("type") == "button":
                    found.append(element)
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "button":
                found.append(accessory)
        return found

    def button(self, label: str) -> dict[str, Any]:
        for candidate in self.buttons():
            if candidate["text"]["text"] == label:
                return candidate
        raise AssertionError(f"no button {label!r} in {[b['text']['text'] for b in self.buttons()]}")


@dataclass
class Failure:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str]
    times: int
    when: Callable[[dict[str, Any]], bool] | None = None


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    timezones: dict[str, str] = field(default_factory=dict)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _failures: dict[str, list[Failure]] = field(default_factory=dict)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    server: TestServer | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    delays: dict[str, float] = field(default_factory=dict)

    # -- running ----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack-sdk reads some methods with GET
        app.router.add_post("/response/{n}", self._response_url)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def close(self) -> None:
        if self.server:
            await self.server.close()

    @property
    def api_url(self) -> str:
        assert self.server
        return str(self.server.make_url("/api/"))

    def response_url(self, n: int | str) -> str:
        assert self.server
        return str(self.server.make_url(f"/response/{n}"))

    # -- programming failures ---------------------------------------------------------------

    def fail(self, method: str, *, status: int = 200, error: str | None = None, times: int = 1,
             headers: dict[str, str] | None = None, body: dict[str, Any] | str | None = None,
             when: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Answer the next `times` calls of `method` (matching `when`) with an error."""
        if body is None:
            body = {"ok": False, "error": error or ("ratelimited" if status == 429 else "internal_error")}
        self._failures.setdefault(method, []).append(Failure(status, body, headers or {}, times, when))

    def answer(self, method: str, body: dict[str, Any], *, when: Callable[[dict[str, Any]], bool] | None = None,
               times: int = 1000) -> None:
        """Answer calls of `method` (matching `when`) with `body`: a canned Web API answer, ok or not,
        e.g. `answer("conversations.info", {"ok": True, "channel": {...}}, when=...)`."""
        self._failures.setdefault(method, []).append(Failure(200, body, {}, times, when))

    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        self.fail(method, status=429, headers={"Retry-After": str(retry_after)}, times=times)

    # -- reading what happened --------------------------------------------------------------

    def calls_to(self, method: str, **match: Any) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.ok
                and all(c.params.get(k) == v for k, v in match.items())]

    def attempts_to(self, method: str) -> list[Call]:
        """Every call, answered with an error or not."""
        return [c for c in self.calls if c.method == method]

    def posts(self, channel: str | None = None) -> list[Call]:
        return [c for c in self.calls_to("chat.postMessage") if channel is None or c["channel"] == channel]

    def updates(self, ts: str | None = None) -> list[Call]:
        return [c for c in self.calls_to("chat.update") if ts is None or c["ts"] == ts]

    def responses(self) -> list[Call]:
        return self.calls_to("response_url")

    def message(self, channel: str, ts: str) -> Call:
        """The message as it now stands in the channel, after every update."""
        params = self.messages[(channel, ts)]
        return Call("message", params, time.monotonic(), result={"ok": True, "channel": channel, "ts": ts})

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until `condition()` is truthy (and return it); generous, for busy machines."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting; calls so far: {[c.method for c in self.calls]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=0.05)
            except TimeoutError:
                pass

    async def wait_for_calls(self, method: str, count: int = 1, timeout: float = 10.0, **match: Any) -> list[Call]:
        return await self.wait_for(lambda: len(self.calls_to(method, **match)) >= count
                                   and self.calls_to(method, **match), timeout)

    async def next_response(self, after: int = 0, timeout: float = 10.0) -> Call:
        """The first response_url post beyond the `after` already seen."""
        responses = await self.wait_for(lambda: len(self.responses()) > after and self.responses(), timeout)
        return responses[after]

    # -- the server -------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if request.content_type == "application/json":
            params = json.loads(raw or b"{}")
        else:
            params = dict(parse_qsl(raw.decode()))
            params.update(request.query)
            for key in ("blocks", "view", "attachments"):
                if isinstance(params.get(key), str):
                    params[key] = json.loads(params[key])
        return params

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._changed.set()

    async def _response_url(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        params["n"] = request.match_info["n"]
        self._record(Call("response_url", params, time.monotonic()))
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        if self.delays.get(method):
            await asyncio.sleep(self.delays[method])
            if request.transport is None or request.transport.is_closing():
                # The client gave up waiting: model a request that never took effect.
                self._record(Call(method, params, time.monotonic(), status=0,
                                  result={"ok": False, "error": "client_went_away"}))
                return web.Response(status=499)
        for failure in self._failures.get(method, []):
            if failure.times > 0 and (failure.when is None or failure.when(params)):
                failure.times -= 1
                result = failure.body if isinstance(failure.body, dict) else {"ok": False}
                self._record(Call(method, params, time.monotonic(), status=failure.status, result=result))
                if isinstance(failure.body, str):
                    return web.Response(status=failure.status, text=failure.body, headers=failure.headers)
                return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        answer = getattr(self, "_" + method.replace(".", "_"), None)
        body = answer(params) if answer else {"ok": True}
        self._record(Call(method, params, time.monotonic(), result=body))
        return web.json_response(body)

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "releasebot",
                "team_id": "T111", "user_id": BOT_USER, "bot_id": "BBOT"}

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params["channel"])
        if channel[:1] in ("U", "W"):
            channel = "D" + channel[1:]
        ts = f"{1700000000 + next(self._ts)}.000100"
        self.messages[(channel, ts)] = dict(params, channel=channel, ts=ts)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text"), "ts": ts}}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params["channel"]), str(params["ts"]))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        self.messages[key] = dict(self.messages[key], **params)
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": dict(params.get("view") or {}, id=f"V{next(self._ts)}")}

    _views_push = _views_open
    _views_update = _views_open
    _views_publish = _views_open

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = str(params.get("usergroup"))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": self.usergroups[group]}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("user"))
        tz = self.timezones.get(user, "Europe/London")
        return {"ok": True, "user": {"id": user, "name": user.lower(), "tz": tz, "tz_offset": 0}}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """Every channel exists and the bot is in it, unless a test `answer`s otherwise."""
        channel = str(params.get("channel"))
        return {"ok": True, "channel": {"id": channel, "name": channel.lower(), "is_channel": True,
                                        "is_private": channel.startswith("G"), "is_im": channel.startswith("D"),
                                        "is_archived": False, "is_member": True}}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users", ""))
        return {"ok": True, "channel": {"id": "D" + users.split(",")[0][1:]}}
