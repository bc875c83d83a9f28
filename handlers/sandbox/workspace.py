"""The fake Slack workspace: one implementation for the sandbox and for the test suite.

It plays Slack's side of everything the bot does: the Web API (`/api/{method}`, answered by
`WebApiMethods`), response URLs (`/response/{id}`) and file uploads, with the state a person
would see (channels, direct messages, ephemeral messages, modal stacks, App Home tabs). It
records every call, can be told to fail (`fail`, `rate_limit`, `delays`), and lets a caller
wait for what it expects (`wait_for`). In the spirit of bolt-python's
`tests/mock_web_api_server`: the bot's client is pointed at it with SLACK_API_URL.

`strict` is the sandbox's mode: trigger ids and response URLs must be ones this workspace
issued (and are held to Slack's limits: a trigger lives 3 s and is exchanged once, a
response URL takes 5 posts within 30 minutes), channels and people must exist. The test
suite runs it lenient, so a test may make up its own trigger ids, channels and response URLs;
those issued by the workspace are held to the limits either way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from handlers.sandbox.calls import Call, Failure
from handlers.sandbox.directory import BOT_USER, Directory
from handlers.sandbox.webapi import WebApiMethods

__all__ = ["BOT_USER", "Call", "Failure", "SlackWorkspace", "Trigger", "Hook"]

TRIGGER_SECONDS = 3.0
RESPONSE_URL_USES = 5
RESPONSE_URL_SECONDS = 30 * 60.0
VIEW_STACK = 3


@dataclass
class Trigger:
    """A trigger_id handed to the bot with an interaction: opens one modal, within 3 s."""

    user: str
    issued: float
    exchanged: bool = False


@dataclass
class Hook:
    """A response_url: where the bot answers an interaction, up to 5 times in 30 minutes."""

    user: str
    channel: str
    issued: float
    uses: int = 0
    #: The message an action came from, which `replace_original` and `delete_original` mean.
    message_ts: str | None = None
    ephemeral: bool = False


@dataclass
class SlackWorkspace(WebApiMethods):
    calls: list[Call] = field(default_factory=list)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    timezones: dict[str, str] = field(default_factory=dict)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _failures: dict[str, list[Failure]] = field(default_factory=dict)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    delays: dict[str, float] = field(default_factory=dict)
    directory: Directory | None = None
    strict: bool = False
    #: The bot token the sandbox gave the bot; when set, every call must carry it.
    token: str | None = None
    #: Where this workspace is served (`http://127.0.0.1:N`), for the URLs it hands out.
    base_url: str = ""
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    stacks: dict[str, list[str]] = field(default_factory=dict)
    homes: dict[str, str] = field(default_factory=dict)
    view_errors: dict[str, dict[str, str]] = field(default_factory=dict)
    triggers: dict[str, Trigger] = field(default_factory=dict)
    hooks: dict[str, Hook] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    scheduled: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = 0
    _last_ts: float = 0.0
    _subscribers: set[asyncio.Event] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.directory is not None:
            for group in self.directory.groups.values():
                self.usergroups.setdefault(group.id, list(group.members))
            for person in self.directory.people.values():
                self.timezones.setdefault(person.id, person.tz)

    # -- serving ------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack-sdk reads some methods with GET
        app.router.add_post("/response/{n}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files/{file_id}/{name}", self._download)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, n: int | str) -> str:
        return f"{self.base_url}/response/{n}"

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

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:  # noqa: ASYNC109
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

    async def wait_for_calls(self, method: str, count: int = 1, timeout: float = 10.0,  # noqa: ASYNC109
                             **match: Any) -> list[Call]:
        return await self.wait_for(lambda: len(self.calls_to(method, **match)) >= count
                                   and self.calls_to(method, **match), timeout)

    async def next_response(self, after: int = 0, timeout: float = 10.0) -> Call:  # noqa: ASYNC109
        """The first response_url post beyond the `after` already seen."""
        responses = await self.wait_for(lambda: len(self.responses()) > after and self.responses(), timeout)
        return responses[after]

    # -- changes, for the sandbox page's live updates -----------------------------------------

    def touch(self) -> None:
        """Something a person could see changed: wake the waiters and the page's streams."""
        self.version += 1
        self._changed.set()
        for subscriber in self._subscribers:
            subscriber.set()

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        self._subscribers.add(event)
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        self._subscribers.discard(event)

    # -- what the sandbox's Slack side hands out ----------------------------------------------

    def new_ts(self) -> str:
        """A message timestamp: the wall clock, unique and increasing, as Slack's are."""
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    def issue_trigger(self, user: str) -> str:
        trigger_id = f"{next(self._ts)}.{int(time.time())}.{secrets.token_hex(8)}"
        self.triggers[trigger_id] = Trigger(user, time.monotonic())
        return trigger_id

    def issue_response_url(self, user: str, channel: str, message_ts: str | None = None,
                           ephemeral: bool = False) -> str:
        hook_id = secrets.token_urlsafe(12)
        self.hooks[hook_id] = Hook(user, channel, time.monotonic(), message_ts=message_ts, ephemeral=ephemeral)
        return self.response_url(hook_id)

    def exchange_trigger(self, trigger_id: str) -> tuple[str | None, str | None]:
        """(the user it belongs to, None) or (None, the error Slack answers)."""
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            return (None, "invalid_trigger_id") if self.strict else (None, None)
        if trigger.exchanged:
            return None, "exchanged_trigger_id"
        if time.monotonic() - trigger.issued > TRIGGER_SECONDS:
            return None, "expired_trigger_id"
        trigger.exchanged = True
        return trigger.user, None

    def add_ephemeral(self, channel: str, user: str, params: dict[str, Any]) -> dict[str, Any]:
        ts = self.new_ts()
        message = {k: v for k, v in params.items() if k in ("text", "blocks", "attachments")}
        message.update(channel=channel, user_only=user, ts=ts)
        self.ephemerals.append(message)
        self.touch()
        return message

    def ephemeral(self, ts: str) -> dict[str, Any] | None:
        return next((e for e in self.ephemerals if e["ts"] == ts), None)

    def say(self, channel: str, user: str, text: str) -> dict[str, Any]:
        """A person's own message in a conversation (what they typed that is not a command)."""
        ts = self.new_ts()
        self.messages[(channel, ts)] = {"channel": channel, "ts": ts, "user": user, "text": text}
        self.touch()
        return self.messages[(channel, ts)]

    def conversation(self, channel: str, viewer: str) -> list[dict[str, Any]]:
        """What `viewer` sees in `channel`, oldest first: messages, and ephemerals for them."""
        seen = [m for (c, _), m in self.messages.items() if c == channel]
        seen += [e for e in self.ephemerals if e["channel"] == channel and e["user_only"] == viewer]
        return sorted(seen, key=lambda m: float(m["ts"]))

    def top_view(self, user: str) -> dict[str, Any] | None:
        stack = self.stacks.get(user) or []
        return self.views.get(stack[-1]) if stack else None

    def close_view(self, user: str, view_id: str | None = None, *, everything: bool = False) -> None:
        stack = self.stacks.get(user) or []
        if everything:
            stack.clear()
        elif stack and (view_id is None or stack[-1] == view_id):
            stack.pop()
        self.touch()

    # -- the server -------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "multipart/form-data":  # files.upload with the file's bytes
            form = await request.post()
            params: dict[str, Any] = {}
            for key, value in form.items():
                params[key] = value.file.read() if isinstance(value, web.FileField) else value
            params.update(request.query)
            return params
        raw = await request.read()
        if request.content_type == "application/json":
            params = json.loads(raw or b"{}")
        else:
            params = dict(parse_qsl(raw.decode()))
            params.update(request.query)
            for key in ("blocks", "view", "attachments", "files", "metadata"):
                if isinstance(params.get(key), str):
                    try:
                        params[key] = json.loads(params[key])
                    except json.JSONDecodeError:
                        pass
        return params

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self.touch()

    async def _response_url(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        hook_id = request.match_info["n"]
        params["n"] = hook_id
        hook = self.hooks.get(hook_id)
        problem = self._hook_problem(hook)
        if problem:
            self._record(Call("response_url", params, time.monotonic(), status=404,
                              result={"ok": False, "error": problem}))
            return web.Response(status=404, text=problem)
        self._record(Call("response_url", params, time.monotonic()))
        if hook is not None:
            hook.uses += 1
            self._apply_response(hook, params)
        return web.Response(text="ok")

    def _hook_problem(self, hook: Hook | None) -> str | None:
        if hook is None:
            return "invalid_url" if self.strict else None
        if time.monotonic() - hook.issued > RESPONSE_URL_SECONDS:
            return "expired_url"
        if hook.uses >= RESPONSE_URL_USES:
            return "used_url"
        return None

    def _apply_response(self, hook: Hook, params: dict[str, Any]) -> None:
        """What Slack does with a response_url post: delete, replace, post or whisper."""
        content: dict[str, Any] = {k: params[k] for k in ("text", "blocks", "attachments") if k in params}
        original = hook.message_ts
        if params.get("delete_original") in (True, "true") and original:
            self.messages.pop((hook.channel, original), None)
            self.ephemerals = [e for e in self.ephemerals if e["ts"] != original]
        elif params.get("replace_original") in (True, "true") and original:
            target = self.ephemeral(original) if hook.ephemeral else self.messages.get((hook.channel, original))
            if target is not None:
                target.pop("blocks", None)
                target.update(content, edited=True)
        elif params.get("response_type") == "in_channel":
            ts = self.new_ts()
            self.messages[(hook.channel, ts)] = dict(content, channel=hook.channel, ts=ts)
        else:
            self.add_ephemeral(hook.channel, hook.user, content)
        self.touch()

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
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}" \
                and params.get("token") != self.token:
            body: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
        else:
            answer = getattr(self, "_" + method.replace(".", "_"), None)
            body = answer(params) if answer else self._unknown_method(method)
        self._record(Call(method, params, time.monotonic(), result=body))
        return web.json_response(body)

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL of files.getUploadURLExternal: the file's bytes."""
        stored = self.files.get(request.match_info["file_id"])
        if stored is None:
            return web.Response(status=404, text="not_found")
        stored["content"] = (await request.read())[:5_000_000]
        return web.Response(text=f"OK - {len(stored['content'])}")

    async def _download(self, request: web.Request) -> web.Response:
        stored = self.files.get(request.match_info["file_id"])
        if stored is None:
            raise web.HTTPNotFound()
        # Served as an attachment, never rendered: an uploaded .html must not run in the page.
        return web.Response(body=stored.get("content", b""), content_type="application/octet-stream",
                            headers={"Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff"})
