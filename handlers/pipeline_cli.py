"""`releasebot token create|list|revoke` and `releasebot export events` (DESIGN.md §7).

A new token is printed once, alone on the last line of stdout (so `TOKEN=$(releasebot token
create ci | tail -1)` works); only its hash is stored. The export prints the audit trail as
JSON lines, oldest first, every event with its actor, time and data.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from bot.catalog import Catalog
from bot.clock import utcnow
from bot.config import Settings, SettingsError
from bot.pipeline import AuditTrail
from bot.records import parse_ref
from bot.tokens import TokenService
from handlers.database import opened
from storage import db, migrate
from storage.uow import UnitOfWorkFactory


def add_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    token = commands.add_parser("token", parents=[common], help="pipeline API tokens: create, list, revoke")
    actions = token.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a token (printed once, on the last line)")
    create.add_argument("name", help="what the token is for, e.g. payments-deploy (the actor token:NAME)")
    create.add_argument("--models", help="comma-separated release model keys it may reach (default: all)")
    create.add_argument("--freezes", action="store_true", help="it may also create freezes (POST /api/v1/freezes)")
    actions.add_parser("list", help="the tokens, their models, and whether revoked")
    revoke = actions.add_parser("revoke", help="revoke a token: its requests get 401 from now on")
    revoke.add_argument("name")
    export = commands.add_parser("export", parents=[common], help="the audit trail out, as JSON lines")
    export.add_argument("what", choices=["events"])
    export.add_argument("--since", help="events at or after this date or time (ISO 8601, UTC if no offset)")
    export.add_argument("--release", help="only the events of this release (REL-n)")


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[UnitOfWorkFactory]:
    async with opened(settings) as engine:
        await migrate.upgrade(engine)
        yield UnitOfWorkFactory(db.sessionmaker(engine))


async def token(settings: Settings, args: argparse.Namespace) -> int:
    catalog = Catalog.load(settings.releasebot_models)
    async with _database(settings) as uow:
        tokens = TokenService(uow, catalog, utcnow)
        if args.action == "create":
            models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models is not None else None
            outcome = await tokens.create(args.name, models, may_freeze=args.freezes)
            if not outcome.ok:
                for problem in [*outcome.errors.values(), *([outcome.refusal.message] if outcome.refusal else [])]:
                    print(f"releasebot: {problem}", file=sys.stderr)
                return 2
            made = outcome.unwrap()
            scope = ", ".join(sorted(made.token.models)) if made.token.models is not None else "every release model"
            print(f"token {made.token.name} (actor token:{made.token.name}) for {scope}"
                  + (", may create freezes" if made.token.may_freeze else "") + ". It is shown only now:")
            print(made.secret)
            return 0
        if args.action == "list":
            found = await tokens.all()
            if not found:
                print("no tokens yet: `releasebot token create NAME [--models KEY,KEY]` makes one")
            for t in found:
                scope = ",".join(sorted(t.models)) if t.models is not None else "*"
                state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}Z" if t.revoked_at else "active"
                created = f"{t.created_at:%Y-%m-%d %H:%M}Z" if t.created_at else ""
                print(f"{t.name}\tmodels={scope}\t{'freezes' if t.may_freeze else '-'}\tcreated {created}\t{state}")
            return 0
        outcome_revoked = await tokens.revoke(args.name)
        if not outcome_revoked.ok:
            print(f"releasebot: {outcome_revoked.refusal}", file=sys.stderr)
            return 1
        print(f"token {args.name} revoked: its requests get 401 from now on")
        return 0


async def export(settings: Settings, args: argparse.Namespace) -> int:
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise SettingsError(f"--since {args.since!r} is not a date or time: write e.g. 2026-12-01 or "
                                "2026-12-01T09:00Z") from None
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
    release_id = None
    if args.release:
        release_id = parse_ref(args.release)
        if release_id is None:
            raise SettingsError(f"--release {args.release!r} is not a release: write e.g. REL-7")
    async with _database(settings) as uow:
        trail = AuditTrail(uow)
        cursor: int | None = None
        while True:
            page = await trail.page(None, since=since, release_id=release_id, limit=1000, cursor=cursor)
            for entry in page.events:
                print(json.dumps({"id": entry.id, "release": f"REL-{entry.release_id}", "model": entry.model_key,
                                  "kind": str(entry.event.kind), "actor": entry.event.actor,
                                  "at": entry.event.at.isoformat(), "data": entry.event.data},
                                 ensure_ascii=False, default=str))
            if page.next is None:
                return 0
            cursor = page.next
