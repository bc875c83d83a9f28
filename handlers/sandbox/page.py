"""The sandbox's page and the little JSON API its script talks to.

`GET /` is the page (static files shipped in the package, no build step, no CDN);
`GET /sandbox/state` what one person sees; `GET /sandbox/stream` server-sent events, one per
change, so the page redraws without reloading; the `POST /sandbox/*` routes are a person
acting: typing in the composer, clicking, submitting or closing a modal, opening the Home.
Every act goes to the bot as Slack would send it (`platform.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from handlers.sandbox import screens
from handlers.sandbox.directory import Directory, dm_channel
from handlers.sandbox.platform import Platform
from handlers.sandbox.workspace import SlackWorkspace

STATIC = Path(str(resources.files("handlers.sandbox") / "static"))
KEEPALIVE_SECONDS = 5.0
#: Only the page's own script and style run: a `<script>` that slipped through would not.
CSP = ("default-src 'self'; img-src 'self' http: https: data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'")


class Page:
    def __init__(self, workspace: SlackWorkspace, platform: Platform, directory: Directory):
        self.workspace = workspace
        self.platform = platform
        self.directory = directory
        self.closing = asyncio.Event()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC, show_index=False)
        app.router.add_get("/sandbox/state", self._state)
        app.router.add_get("/sandbox/stream", self._stream)
        app.router.add_post("/sandbox/type", self._type)
        app.router.add_post("/sandbox/act", self._act)
        app.router.add_post("/sandbox/submit", self._submit)
        app.router.add_post("/sandbox/close", self._close)
        app.router.add_post("/sandbox/home", self._home)
        app.on_shutdown.append(self._shutdown)

    async def _shutdown(self, _: web.Application) -> None:
        self.closing.set()
        self.workspace.touch()  # wake every stream, so it ends now rather than at its next keepalive
        await self.platform.shutdown()

    # -- reading ------------------------------------------------------------------------------

    async def _index(self, _: web.Request) -> web.Response:
        return web.Response(text=(STATIC / "index.html").read_text(encoding="utf-8"), content_type="text/html",
                            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})

    def _person(self, value: Any) -> str:
        user = str(value or "")
        if user not in self.directory.people:
            raise web.HTTPBadRequest(text=f"no such person: {user[:40]}")
        return user

    def _where(self, user: str, value: Any) -> str:
        channel = str(value or "")
        if channel == screens.HOME or channel in self.directory.channels or channel == dm_channel(user):
            return channel
        raise web.HTTPBadRequest(text=f"no such conversation: {channel[:40]}")

    async def _state(self, request: web.Request) -> web.Response:
        """Forgiving, unlike the acts: an unknown person or conversation shows the first one."""
        user = request.query.get("user") or ""
        if user not in self.directory.people:
            user = self.directory.cast[0]
        channel = request.query.get("conversation") or ""
        if not (channel == screens.HOME or channel in self.directory.channels or channel == dm_channel(user)):
            channel = next(iter(self.directory.channels))
        return web.json_response(screens.snapshot(self.workspace, self.directory, user, channel),
                                 headers={"Cache-Control": "no-store"})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: `change` with the workspace's version, whenever it moves."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        changed = self.workspace.subscribe()
        try:
            await response.write(f"event: change\ndata: {self.workspace.version}\n\n".encode())
            while not self.closing.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), KEEPALIVE_SECONDS)
                if changed.is_set():
                    changed.clear()
                    await asyncio.sleep(0.05)  # one redraw for a burst of changes
                    await response.write(f"event: change\ndata: {self.workspace.version}\n\n".encode())
                else:
                    await response.write(b": keepalive\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.workspace.unsubscribe(changed)
        return response

    # -- acting -------------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text="expected JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return body

    @staticmethod
    def _entered(value: Any) -> dict[str, dict[str, Any]]:
        if not isinstance(value, dict):
            return {}
        return {str(b): {str(a): v for a, v in actions.items()} for b, actions in value.items()
                if isinstance(actions, dict)}

    async def _type(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        user = self._person(body.get("user"))
        channel = self._where(user, body.get("conversation"))
        if channel == screens.HOME:
            channel = dm_channel(user)
        await self.platform.type(user, channel, str(body.get("text", ""))[:4000])
        return web.json_response({"ok": True})

    async def _act(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        user = self._person(body.get("user"))
        where: dict[str, Any] = body["where"] if isinstance(body.get("where"), dict) else {}
        problem = await self.platform.act(user, where, str(body.get("block_id", "")), str(body.get("action_id", "")),
                                          body.get("value"), self._entered(body.get("state")))
        return web.json_response({"ok": problem is None, "error": problem})

    async def _submit(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        user = self._person(body.get("user"))
        problem = await self.platform.submit(user, str(body.get("view_id", "")), self._entered(body.get("state")))
        return web.json_response({"ok": problem is None, "error": problem})

    async def _close(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        user = self._person(body.get("user"))
        await self.platform.close(user, str(body.get("view_id", "")))
        return web.json_response({"ok": True})

    async def _home(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        user = self._person(body.get("user"))
        await self.platform.open_home(user, "messages" if body.get("tab") == "messages" else "home")
        return web.json_response({"ok": True})
