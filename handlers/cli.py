"""The `releasebot` command: serve, sandbox, db upgrade, doctor, models check|init, report, manifest,
token create|list|revoke, export events, metrics rebuild.

Every mistake in the settings, the database, the port or the network ends in a sentence on
stderr naming the setting and what to do, and exit code 2; never a traceback. Libraries
speak at WARNING unless `--verbose`, so a start is one line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

from bot import __version__
from bot.blackouts import load_blackouts
from bot.catalog import Catalog, CatalogError
from bot.config import Settings, SettingsError, load_settings

#: Libraries that narrate their work at INFO (alembic's plugins and migrations, Bolt, the
#: access log); at WARNING unless --verbose. APScheduler logs every poll, so it stays quiet.
CHATTY = ("alembic", "slack_bolt", "slack_sdk", "releasebot.bolt", "aiohttp.access", "aiosqlite", "asyncio")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(verbose=args.verbose)
    try:
        return _run(args)
    except SettingsError as exc:
        print(f"releasebot: {exc}", file=sys.stderr)
        return 2
    except CatalogError as exc:
        print(f"releasebot: the release models are not valid:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="releasebot", description="Release management in Slack.")
    parser.add_argument("--version", action="version", version=f"releasebot {__version__}")
    parser.add_argument("--verbose", action="store_true", help="let the libraries log at INFO too")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", parents=[common],
                                help="run the bot (HTTP, or Socket Mode with SLACK_APP_TOKEN)")
    serve.add_argument("--port", type=int,
                       help="HTTP port (default: $PORT or 3000; 0: any free port, named in the start line)")
    sandbox = commands.add_parser("sandbox", parents=[common],
                                  help="try it in the browser: the real bot and a local workspace")
    sandbox.add_argument("--port", type=int, default=3000, help="HTTP port on 127.0.0.1 (default 3000; 0: any free)")
    db = commands.add_parser("db", parents=[common], help="database maintenance")
    db.add_argument("action", choices=["upgrade"])
    commands.add_parser("doctor", parents=[common],
                        help="check the token, channels, people, templates and database the settings name")
    models = commands.add_parser("models", parents=[common], help="release models: check a folder, or start one")
    models.add_argument("action", choices=["check", "init"])
    models.add_argument("folder", nargs="?", type=Path,
                        help="folder of *.yaml (check: default $RELEASEBOT_MODELS; init: required)")
    metrics = commands.add_parser("metrics", parents=[common], help="the key metrics' stored sums")
    metrics.add_argument("action", choices=["rebuild"],
                         help="rebuild: recompute every release's facts and the daily sums from the release record")
    report = commands.add_parser("report", parents=[common],
                                 help="print a report as Markdown: `report model MODEL --period 90d`")
    report.add_argument("kind", choices=["model"])
    report.add_argument("model", help="the release model's key")
    report.add_argument("--period", default="90d", help="the period, in days (default 90d)")
    manifest_cmd = commands.add_parser("manifest", parents=[common], help="print the Slack app manifest")
    manifest_cmd.add_argument("--url", type=public_url,
                              help="the bot's public https address, where Slack sends requests (HTTP mode)")
    manifest_cmd.add_argument("--socket-mode", action="store_true",
                              help="a Socket Mode app (no public address; set SLACK_APP_TOKEN to serve)")
    from handlers.pipeline_cli import add_commands

    add_commands(commands, common)
    return parser


def public_url(value: str) -> str:
    """`--url`: Slack only sends requests to https addresses with a host."""
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an https address with a host: give the bot's public address, "
            "e.g. --url https://releasebot.example.com (or use --socket-mode)")
    return value.strip()


def configure_logging(*, verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every poll at INFO


def _run(args: argparse.Namespace) -> int:
    if args.command == "manifest":
        return print_manifest(args)
    if args.command == "models" and args.action == "init":
        return init_models(args.folder)
    settings = load_settings()
    if args.command == "sandbox":
        return _sandbox(settings, args.port)
    if args.command == "models":
        # With a database configured, also say what `serve` would announce (a dry run).
        database = settings.database_url if "database_url" in settings.model_fields_set else None
        return check_models(args.folder or settings.releasebot_models, database)
    if args.command == "db":
        return asyncio.run(upgrade(settings))
    if args.command == "doctor":
        return asyncio.run(doctor(settings))
    if args.command in ("token", "export"):
        from handlers import pipeline_cli

        return asyncio.run(pipeline_cli.token(settings, args) if args.command == "token"
                           else pipeline_cli.export(settings, args))
    if args.command == "metrics":
        return asyncio.run(rebuild_metrics(settings))
    if args.command == "report":
        from handlers.report import model_report

        print(asyncio.run(model_report(settings, Catalog.load(settings.releasebot_models), args.model, args.period)))
        return 0
    if args.port is not None:
        settings.port = args.port
    return _serve(settings)


def print_manifest(args: argparse.Namespace) -> int:
    from handlers.slack.manifest import manifest  # not at the top: it would load every listener

    if not args.url and not args.socket_mode:
        raise SettingsError("say where Slack reaches the bot: `releasebot manifest --url https://YOUR-HOST`, "
                            "or `releasebot manifest --socket-mode` to connect out over Socket Mode")
    print(json.dumps(manifest(args.url or "https://unused.invalid", socket_mode=args.socket_mode), indent=2))
    return 0


def check_models(folder: Path, database_url: str | None = None) -> int:
    try:
        catalog = Catalog.load(folder)
        load_blackouts(folder, catalog.keys)  # freezes.yaml, when there is one
    except CatalogError as exc:
        print(str(exc), file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {folder}", file=sys.stderr)
        return 1
    print(f"{len(catalog)} release model(s) in {folder} are valid: {', '.join(catalog.keys)}")
    if database_url:
        for line in asyncio.run(_model_changes(catalog, database_url)):
            print(line)
    return 0


async def _model_changes(catalog: Catalog, database_url: str) -> list[str]:
    """What `serve` would announce against the versions the database keeps; stores nothing."""
    from sqlalchemy.exc import DBAPIError

    from bot.clock import utcnow
    from bot.model_versions import ModelVersions, VersionChange
    from storage import db
    from storage.uow import UnitOfWorkFactory

    engine = db.create_engine(database_url)
    try:
        found = await ModelVersions(UnitOfWorkFactory(db.sessionmaker(engine)), catalog, utcnow).pending()
    except DBAPIError as exc:
        return [f"could not compare with the stored release model versions: {exc.orig}"]
    finally:
        await engine.dispose()
    if not found:
        return ["no release model changed since the database last saw it"]
    lines: list[str] = []
    for item in found:
        if isinstance(item, VersionChange):
            lines.append(f"{item.key}: {item.old} → {item.new} (serve will announce it in {item.channel}):")
            lines += [f"  {line}" for line in item.lines] or ["  nothing that changes a rule"]
        else:
            lines.append(item)
    return lines


def init_models(folder: Path | None) -> int:
    from handlers.starter import StarterExists, write_starter

    if folder is None:
        raise SettingsError("say where: `releasebot models init DIR` writes DIR/standard.yaml")
    try:
        path = write_starter(folder)
    except StarterExists as exc:
        print(f"releasebot: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        raise SettingsError(f"{folder} cannot be written ({exc.strerror}): choose a folder you may write to") \
            from None
    print(f"wrote {path}: a release model to make your own. Replace its made-up ids (C0123…, U0123…, S0123…) "
          "with your workspace's; the comments at the top say where Slack shows them.")
    print(f"then: releasebot models check {folder} && RELEASEBOT_MODELS={folder} releasebot doctor")
    return 0


async def upgrade(settings: Settings) -> int:
    from handlers.database import opened
    from storage import migrate

    async with opened(settings) as engine:
        applied = await migrate.upgrade(engine)
    if not applied:
        print(f"database {settings.database}: up to date at {migrate.head()}, nothing to apply")
        return 0
    print(f"database {settings.database}: applied {len(applied)} migration{'s' if len(applied) != 1 else ''}")
    for migration in applied:
        print(f"  {migration}")
    print(f"now at {applied[-1].revision}, up to date")
    return 0


async def doctor(settings: Settings) -> int:
    from handlers.doctor import Doctor

    checkup = Doctor(settings, lambda finding: print(finding, flush=True))
    code = await checkup.run()
    print("everything is in order" if code == 0 else
          f"{checkup.to_fix} thing{'s' if checkup.to_fix != 1 else ''} to fix")
    return code


def _sandbox(settings: Settings, port: int) -> int:
    """No token, no secret, no workspace: the sandbox makes its own (handlers/sandbox)."""
    from handlers.sandbox.server import run

    return run(settings, Catalog.load(settings.releasebot_models), port)


def _serve(settings: Settings) -> int:
    from handlers.serving import serve

    settings.require(serving=True, database=True)
    return serve(settings, Catalog.load(settings.releasebot_models))


async def rebuild_metrics(settings: Settings) -> int:
    """`releasebot metrics rebuild`: recompute the key metrics' facts and daily sums from the
    release record, in one transaction (the bot may keep serving: writers wait for it)."""
    import time

    from handlers.database import opened
    from storage import db, migrate
    from storage.uow import UnitOfWorkFactory

    async with opened(settings) as engine:
        status = await migrate.status(engine)
        if not status.up_to_date:
            raise SettingsError(f"DATABASE_URL ({settings.database}): the database is at {status.current}, "
                                f"the code at {status.head}: run `releasebot db upgrade` first")
        started = time.monotonic()
        async with UnitOfWorkFactory(db.sessionmaker(engine))() as uow:
            releases = await uow.facts.rebuild()
            await uow.commit()
    print(f"database {settings.database}: rebuilt the key metrics of {releases} release{'s' if releases != 1 else ''} "
          f"from the release record in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

