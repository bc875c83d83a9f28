"""`releasebot sandbox`: the real bot and a local workspace, served together on one port.

The bot is built exactly as `serve` builds it (handlers/app.py: the same migrations,
heartbeat, outbox and dispatcher), on a fresh SQLite file, with a signing secret made up for
this run and SLACK_API_URL pointing at the workspace on the same port. The workspace's Slack
side sends the bot signed requests over loopback HTTP, so what works here works in Slack.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.catalog import Catalog
from bot.config import Settings
from handlers.app import EVENTS_PATH, Releasebot, build
from handlers.sandbox.directory import Directory
from handlers.sandbox.page import Page
from handlers.sandbox.platform import Platform
from handlers.sandbox.workspace import SlackWorkspace

HOST = "127.0.0.1"


@dataclass
class Sandbox:
    bot: Releasebot
    workspace: SlackWorkspace
    directory: Directory
    platform: Platform
    page: Page
    url: str
    database: Path

    def web_app(self) -> web.Application:
        """The bot's own app (`/slack/events`, `/healthz`) plus the workspace and the page."""
        app = self.bot.web_app()
        self.workspace.add_routes(app)
        self.page.add_routes(app)
        return app


def assemble(settings: Settings, catalog: Catalog, port: int, folder: Path) -> Sandbox:
    """Everything wired for `http://127.0.0.1:port/`; nothing is listening yet."""
    url = f"http://{HOST}:{port}"
    token = f"xoxb-sandbox-{secrets.token_hex(8)}"
    secret = secrets.token_hex(24)
    database = folder / "sandbox.db"
    bot_settings = settings.model_copy(update={
        "slack_bot_token": token, "slack_signing_secret": secret, "slack_app_token": "",
        "slack_api_url": f"{url}/api/", "database_url": f"sqlite+aiosqlite:///{database}", "port": port,
    })
    directory = Directory.for_catalog(catalog)
    workspace = SlackWorkspace(directory=directory, strict=True, token=token, base_url=url)
    platform = Platform(workspace, f"{url}{EVENTS_PATH}", secret)
    page = Page(workspace, platform, directory)
    bot = build(bot_settings, catalog)
    return Sandbox(bot, workspace, directory, platform, page, url, database)


def listen(port: int) -> socket.socket:
    """Bind the port first (0: any free one), so the URLs handed to the bot are known."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


def run(settings: Settings, catalog: Catalog, port: int) -> int:
    try:
        sock = listen(port)
    except OSError as exc:
        print(f"releasebot sandbox: cannot listen on {HOST}:{port} ({exc.strerror}); "
              "choose another port with --port N (0 picks a free one)")
        return 2
    port = sock.getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="releasebot-sandbox-"))
    try:
        sandbox = assemble(settings, catalog, port, folder)
        people = ", ".join(f"{sandbox.directory.people[p].real_name} ({sandbox.directory.people[p].title})"
                           for p in sandbox.directory.cast)
        print(f"releasebot sandbox: open {sandbox.url}/ in your browser", flush=True)
        print(f"  {len(catalog)} release model(s) from {catalog.folder}; act as {people}", flush=True)
        print(f"  the database is {sandbox.database} (deleted when you stop the sandbox with Ctrl-C)", flush=True)
        web.run_app(sandbox.web_app(), sock=sock, print=None, access_log=None, shutdown_timeout=2.0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0
