"""The `releasebot` command: serve, db upgrade, models check, manifest."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from bot.blackouts import load_blackouts
from bot.catalog import Catalog, CatalogError
from bot.config import Settings, SettingsError, load_settings
from handlers.slack.manifest import manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="releasebot", description="Release management in Slack.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the bot (HTTP, or Socket Mode with SLACK_APP_TOKEN)")
    serve.add_argument("--port", type=int, help="HTTP port (default: $PORT or 3000)")
    db = commands.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])
    models = commands.add_parser("models", help="release models")
    models.add_argument("action", choices=["check"])
    models.add_argument("folder", nargs="?", type=Path, help="folder of *.yaml (default: $RELEASEBOT_MODELS)")
    manifest_cmd = commands.add_parser("manifest", help="print the Slack app manifest")
    manifest_cmd.add_argument("--url", default="https://releasebot.example.com",
                              help="the public base URL of the bot (for HTTP mode)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every poll at INFO
    try:
        if args.command == "manifest":
            print(json.dumps(manifest(args.url, socket_mode=False), indent=2))
            return 0
        settings = load_settings()
        if args.command == "models":
            return check_models(args.folder or settings.releasebot_models)
        if args.command == "db":
            asyncio.run(_upgrade(settings))
            print("database is up to date")
            return 0
        if args.port:
            settings.port = args.port
        return _serve(settings)
    except SettingsError as exc:
        print(f"releasebot: {exc}", file=sys.stderr)
        return 2
    except CatalogError as exc:
        print(f"releasebot: the release models are not valid:\n{exc}", file=sys.stderr)
        return 2


def check_models(folder: Path) -> int:
    try:
        catalog = Catalog.load(folder)
        load_blackouts(folder, catalog.keys)  # freezes.yaml, when there is one
    except CatalogError as exc:
        print(str(exc), file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {folder}", file=sys.stderr)
        return 1
    print(f"{len(catalog)} release model(s) in {folder} are valid: {', '.join(catalog.keys)}")
    return 0


async def _upgrade(settings: Settings) -> None:
    from storage import db, migrate

    engine = db.create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


def _serve(settings: Settings) -> int:
    from aiohttp import web

    from handlers.app import build

    settings.require_serving()
    catalog = Catalog.load(settings.releasebot_models)
    bot = build(settings, catalog)
    if settings.socket_mode:
        asyncio.run(_serve_socket_mode(bot))
        return 0
    web.run_app(bot.web_app(), host="0.0.0.0", port=settings.port, print=None)
    return 0


async def _serve_socket_mode(bot: object) -> None:
    """Socket Mode for Slack traffic; `/healthz` still answers on PORT."""
    from aiohttp import web
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    from handlers.app import Releasebot

    assert isinstance(bot, Releasebot)
    runner = web.AppRunner(bot.web_app())
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", bot.settings.port).start()
    handler = AsyncSocketModeHandler(bot.bolt, bot.settings.slack_app_token)
    try:
        await handler.start_async()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    sys.exit(main())
