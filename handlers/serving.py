"""`releasebot serve`: checks what it can before it starts, then one line saying what runs.

Everything an operator can get wrong is found before the first request and named in a
sentence (`SettingsError`, exit code 2): settings (all at once), the release models, the
port (bound here, before anything else starts, so "in use" is the first thing said), the
database (reached and migrated as the app starts), and in Socket Mode the connection to
Slack (opened here once, so that the SDK's retry loop does not print a traceback a minute
forever when the network is missing).
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import socket
from typing import Any

import aiohttp
from aiohttp import web
from slack_sdk.errors import SlackApiError

from bot.catalog import Catalog
from bot.config import BUNDLED_MODELS, Settings, SettingsError
from bot.slack.gateway import web_client

log = logging.getLogger("releasebot")

HOST = "0.0.0.0"


class SocketModeUnavailable(SettingsError):
    """Socket Mode cannot start: the message names SLACK_APP_TOKEN and what to do."""


def serve(settings: Settings, catalog: Catalog) -> int:
    from handlers.app import EVENTS_PATH, build

    settings.require(serving=True, database=True)
    sock = bind(settings.port)
    settings.port = int(sock.getsockname()[1])  # PORT=0: the free port the system chose
    warn_about_placeholders(catalog)
    bot = build(settings, catalog)
    if settings.socket_mode:
        bot.listening = f"Slack over Socket Mode, health checks on http://{HOST}:{settings.port}/healthz"
        asyncio.run(_serve_socket_mode(bot, sock))
        return 0
    bot.listening = f"listening on http://{HOST}:{settings.port}{EVENTS_PATH}"
    app = bot.web_app()
    app.on_startup.append(_settled)
    web.run_app(app, sock=sock, print=None)
    return 0


async def _settled(_: web.Application) -> None:
    """Once started, what the process holds for good (modules, the catalog, the app) is moved
    out of the garbage collector's sight: a full collection then scans only what requests
    made, instead of pausing every request in flight for the whole heap (the acks' p99)."""
    gc.collect()
    gc.freeze()


def bind(port: int, host: str = HOST) -> socket.socket:
    """The listening socket, bound now: a port in use is reported before anything starts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SettingsError(f"PORT {port} is in use by another program (another releasebot?): stop it, "
                                "or choose a free port with PORT or `releasebot serve --port N`") from None
        if exc.errno == errno.EACCES:
            raise SettingsError(f"PORT {port} needs privileges this user lacks: choose a port above 1023 "
                                "with PORT or `releasebot serve --port N`") from None
        raise SettingsError(f"PORT {port} cannot be used ({exc.strerror}): choose another with PORT "
                            "or `releasebot serve --port N`") from None
    sock.setblocking(False)
    return sock


def warn_about_placeholders(catalog: Catalog) -> None:
    """Made-up ids in the models (C0123APPROVALS, U0123ALICE): the bot would start and then post
    nowhere and wait for approvers who do not exist, so say so once, at start."""
    held = {catalog.file_of(model.key): model.placeholder_ids() for model in catalog}
    held = {file: ids for file, ids in held.items() if ids}
    if not held:
        return
    ids = list(dict.fromkeys(i for found in held.values() for i in found))
    shown = ", ".join(ids[:4]) + (", …" if len(ids) > 4 else "")
    if catalog.folder == BUNDLED_MODELS:
        log.warning("the bundled example release models are in use, with made-up ids (%s): write your own with "
                    "`releasebot models init DIR`, set RELEASEBOT_MODELS=DIR and run `releasebot doctor`", shown)
    else:
        log.warning("%s still name made-up ids (%s): replace them with your workspace's ids; "
                    "`releasebot doctor` checks every one", ", ".join(sorted(held)), shown)


async def _serve_socket_mode(bot: Any, sock: socket.socket) -> None:
    """Socket Mode for Slack traffic; `/healthz` still answers on PORT."""
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    address = await open_socket_mode(bot.settings)
    runner = web.AppRunner(bot.web_app())
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        handler = AsyncSocketModeHandler(bot.bolt, bot.settings.slack_app_token)
        handler.client.wss_uri = address or None  # the address opened above; the SDK opens the next ones
        await handler.start_async()
    finally:
        await runner.cleanup()


async def open_socket_mode(settings: Settings) -> str:
    """A Socket Mode address from `apps.connections.open`, or a sentence on what stands in the way."""
    client = web_client("", settings.slack_api_url, retries=False)
    try:
        answer = await client.apps_connections_open(app_token=settings.slack_app_token)
    except SlackApiError as exc:
        data = exc.response.data
        error = data.get("error") if isinstance(data, dict) else f"HTTP {exc.response.status_code}"
        raise SocketModeUnavailable(
            f"SLACK_APP_TOKEN is refused by Slack ({error}): create an app-level token with the scope "
            "connections:write under Basic Information → App-Level Tokens, and turn Socket Mode on"
        ) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise SocketModeUnavailable(
            f"SLACK_APP_TOKEN is set, so the bot connects to Slack over Socket Mode, but {settings.slack_api_url} "
            f"cannot be reached ({network_reason(exc)}): check the network and any proxy, or unset "
            "SLACK_APP_TOKEN to serve over HTTP"
        ) from None
    return str(answer.get("url") or "")


def network_reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words ("Connection refused", "timed out")."""
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "timed out"
    error = getattr(exc, "os_error", None) or exc
    if isinstance(error, OSError):
        if error.errno and error.errno > 0:
            return os.strerror(error.errno)
        if error.strerror:  # name resolution: "Name or service not known"
            return error.strerror
    return str(exc) or type(exc).__name__
