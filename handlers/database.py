"""The database as the command-line commands and `serve` open it.

A database that cannot be reached or used (a wrong URL, a server that is down, a missing
driver, a folder that does not exist) is a mistake in the settings: the person gets one
sentence naming DATABASE_URL and what went wrong (`SettingsError`, exit code 2), never a
traceback. Failures `db.describe_failure` does not recognise are ours, and propagate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings, SettingsError
from storage import db


@contextmanager
def failures_named(settings: Settings) -> Iterator[None]:
    try:
        yield
    except SettingsError:
        raise
    except Exception as exc:
        problem = db.describe_failure(exc, settings.database_url)
        if problem is None:
            raise
        raise SettingsError(f"DATABASE_URL ({settings.database}): {problem}") from None


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The engine for one command, disposed when it ends, its failures named."""
    settings.require(database=True)
    engine = db.create_engine(settings.database_url)
    try:
        with failures_named(settings):
            yield engine
    finally:
        await engine.dispose()
