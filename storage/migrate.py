"""Apply Alembic migrations from code: at `serve` start and by `releasebot db upgrade`.

`upgrade` returns the migrations it applied, so that the command can name them; `status`
says where a database stands against the code (for `releasebot doctor`).

Several replicas may start at once on one empty PostgreSQL database: each upgrade first takes
a transaction-scoped advisory lock, so the others wait for the first and then find nothing to
do, instead of failing on tables it just created. (SQLite transactions begin IMMEDIATE, which
serialises them the same way.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
#: The advisory lock key migrations hold on PostgreSQL (any constant; "rbmigrat" in ASCII).
MIGRATION_LOCK = 0x72626D6967726174


@dataclass(frozen=True)
class Migration:
    revision: str
    title: str

    def __str__(self) -> str:
        return f"{self.revision} {self.title}"


@dataclass(frozen=True)
class Status:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def alembic_config(connection: Connection | None = None, applied: list[Migration] | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    if applied is not None:
        def record(*, step: Any, **_: Any) -> None:
            revision = step.up_revision
            applied.append(Migration(step.up_revision_id, (revision.doc or "").strip() if revision else ""))

        config.attributes["on_version_apply"] = record
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> list[Migration]:
    """Bring the database to `revision`; the migrations applied, oldest first (none: it was)."""
    applied: list[Migration] = []
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await conn.run_sync(lambda sync_conn: command.upgrade(alembic_config(sync_conn, applied), revision))
    return applied


def head() -> str:
    script = ScriptDirectory.from_config(alembic_config())
    return str(script.get_current_head())


async def status(engine: AsyncEngine) -> Status:
    async with engine.connect() as conn:
        current = await conn.run_sync(lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision())
    return Status(current, head())
