"""SQLite through aiosqlite: a read is one trip to its thread, a write transaction none.

aiosqlite runs every call on a thread of its own, and SQLAlchemy's adapter makes one call
for each step of a statement: make a cursor, execute, fetch the rows, close the cursor.
Each call is a trip through a queue to that thread and back through the event loop, and
when the loop is busy each return waits behind everything else it has to do. A write
transaction holds the one SQLite write lock through all of them, so under load the trips,
not SQLite, set how long every writer waits (bench/api.py).

So a statement outside a write transaction (the reads of a read-only unit of work, which
may be long: the metrics) is one call on the thread: it makes the cursor, executes,
fetches, closes, and hands back the rows with the description, row count and last row id.
A write transaction runs on the event loop's thread itself, begin to commit: it holds the
write lock only as long as its own work takes, not for the loop's turns between its
statements. Its statements are short (a row or a few; SQLite answers in microseconds), and
one that runs longer than `SLICE_SECONDS` lets the loop serve others before the next one.
The commit writes the WAL and syncs it there too (about 0.1 ms on the machine of the
README's figures; every thousand pages, a checkpoint: up to 4 ms). A deferred `BEGIN` and
every rollback never wait, and run there as well. Only a `BEGIN IMMEDIATE` that finds the
write lock taken by another process (the CLI; SQLite serves one process) waits, in SQLite's
busy handler, on aiosqlite's thread; writers of this process take turns before that
(storage/db.py `writers`).

The rest is SQLAlchemy's adapter as it is (errors, server-side cursors).
`aiosqlite.Connection._execute` is the function aiosqlite's own cursor calls to run a
function on its thread (aiosqlite 0.17 to 0.22 at least); tests/test_sqlite_driver.py fails
if that changes.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from collections.abc import Callable
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

#: A write transaction run on the event loop's thread lets the loop serve others at least this
#: often: the acks and reads waiting then wait no longer than this for it.
SLICE_SECONDS = 0.002

#: How storage/db.py begins a transaction that writes (it takes SQLite's write lock at once),
#: and one that only reads (it takes no lock: in WAL mode it never waits).
WRITE_BEGIN = "BEGIN IMMEDIATE"
READ_BEGIN = "BEGIN"


def _begin_at_once(connection: sqlite3.Connection) -> bool:
    """Begin a write transaction here if SQLite's write lock is free; False, with nothing
    begun, when another process holds it (then the busy handler waits, on aiosqlite's thread,
    not on the event loop's)."""
    (patience,) = connection.execute("PRAGMA busy_timeout").fetchone()
    connection.execute("PRAGMA busy_timeout=0")
    try:
        connection.execute(WRITE_BEGIN)
        return True
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return False
        raise
    finally:
        connection.execute(f"PRAGMA busy_timeout={int(patience)}")


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
        adapt: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        async with adapt._execute_mutex:
            driver: aiosqlite.Connection = self._connection  # type: ignore[assignment]
            conn = driver._conn
            finished: Any  # a Finished, in the driver cursor's place
            if adapt.writing and conn.in_transaction:
                if time.perf_counter() - adapt.resumed > SLICE_SECONDS:
                    await asyncio.sleep(0)  # a long transaction lets the loop serve in between
                    adapt.resumed = time.perf_counter()
                finished, rows = _statement(conn, operation, parameters, many)
            elif operation == READ_BEGIN or (operation == WRITE_BEGIN and _begin_at_once(conn)):
                if operation == READ_BEGIN:
                    conn.execute(READ_BEGIN)
                adapt.writing = operation == WRITE_BEGIN
                adapt.resumed = time.perf_counter()
                finished, rows = Finished(), []
            else:
                finished, rows = await driver._execute(_statement, conn, operation, parameters, many)
                if operation == WRITE_BEGIN:
                    adapt.writing = True
                    adapt.resumed = time.perf_counter()
        finished.arraysize = self._cursor.arraysize
        self._cursor = finished
        self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """`writing` is whether the transaction under way began with `WRITE_BEGIN`: its statements
    then run on the event loop's thread."""

    __slots__ = ("writing", "resumed")
    _cursor_cls = OneTripCursor  # type: ignore[assignment]  # a subclass of the one it replaces

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.writing = False
        #: When the transaction under way last let the event loop run (time.perf_counter()).
        self.resumed = 0.0

    def commit(self) -> None:
        """Here, with no trip: the write lock is ours, so a commit waits for no other writer."""
        self._end(sqlite3.Connection.commit)

    def rollback(self) -> None:
        """Here, with no trip: a rollback never waits for a lock (nor, in WAL mode, for the disk)."""
        self._end(sqlite3.Connection.rollback)

    def _end(self, how: Callable[[sqlite3.Connection], None]) -> None:
        """End the transaction under way (none when the connection is closed already)."""
        if not self._connection._connection:
            return
        self.writing = False
        try:
            how(self._connection._conn)
        except Exception as error:
            self._handle_exception(error)


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module SQLAlchemy's aiosqlite dialect is given (`create_async_engine(module=)`)."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        # The event loop's thread runs a write transaction's statements (OneTripCursor._run),
        # never while aiosqlite's thread runs one: the adapter's mutex takes them in turn.
        kw["check_same_thread"] = False
        connection = self.aiosqlite.connect(*arg, **kw)
        thread = connection if isinstance(connection, Thread) else connection._thread
        thread.daemon = True  # as SQLAlchemy's adapter does: the thread never holds the process open
        return OneTripConnection(self, await_(connection))
