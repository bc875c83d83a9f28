"""SQLite through aiosqlite, one trip to its thread per statement.

aiosqlite runs every call on a thread of its own, and SQLAlchemy's adapter makes one call
for each step of a statement: make a cursor, execute, fetch the rows, close the cursor.
Each call is a trip through a queue to that thread and back through the event loop, and
when the loop is busy each return waits behind everything else it has to do. A write
transaction holds the one SQLite write lock through all of them, so under load the trips,
not SQLite, set how long every writer waits (bench/api.py). Here a statement is one call:
the thread makes the cursor, executes, fetches, closes, and hands back the rows with the
description, row count and last row id.

The rest is SQLAlchemy's adapter as it is (commit, rollback, errors, server-side cursors).
`aiosqlite.Connection._execute` is the function aiosqlite's own cursor calls to run a
function on its thread (aiosqlite 0.17 to 0.22 at least); tests/test_sqlite_driver.py fails
if that changes.
"""

from __future__ import annotations

import collections
import sqlite3
from threading import Thread
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


class Finished:
    """What one statement leaves behind on aiosqlite's thread, in the driver cursor's place:
    the adapter's own `description`, `rowcount`, `lastrowid` and `arraysize` read it there."""

    __slots__ = ("description", "rowcount", "lastrowid", "arraysize")

    def __init__(self, description: Any = None, rowcount: int = -1, lastrowid: int = 0) -> None:
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.arraysize = 1


def _statement(connection: sqlite3.Connection, operation: str, parameters: Any,
               many: bool) -> tuple[Finished, list[Any]]:
    """On aiosqlite's thread: the whole statement, start to end."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return Finished(description, cursor.rowcount, cursor.lastrowid or 0), rows
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor that holds a statement's results, made in one trip to aiosqlite's thread.

    The adapter's `execute` and `executemany` (errors included) call `_execute_async` and
    `_executemany_async`; only those two change here."""

    __slots__ = ()

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection):
        # No driver cursor: each statement makes and closes its own on the thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._cursor = Finished()  # type: ignore[assignment]  # stands in for the driver cursor

    async def _async_soft_close(self) -> None:
        """Nothing to close: the driver cursor was closed on the thread."""

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            driver: aiosqlite.Connection = self._connection  # type: ignore[assignment]
            finished, rows = await driver._execute(_statement, driver._conn, operation, parameters, many)
        finished.arraysize = self._cursor.arraysize
        self._cursor = finished
        self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]  # a subclass of the one it replaces


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module SQLAlchemy's aiosqlite dialect is given (`create_async_engine(module=)`)."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        thread = connection if isinstance(connection, Thread) else connection._thread
        thread.daemon = True  # as SQLAlchemy's adapter does: the thread never holds the process open
        return OneTripConnection(self, await_(connection))
