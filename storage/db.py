"""The async engine and sessions, with the per-database settings that make writes safe.

SQLite takes its write lock lazily, so two transactions that read and then write deadlock
into "database is locked". Every transaction here begins IMMEDIATE instead, which
serialises writers the way PostgreSQL's row locks do; only transactions marked read-only
begin deferred.

`async_url` lets operators write the URLs they know (`postgresql://…`, `sqlite:///…`): the
engine is always async, so those are mapped to the drivers the bot ships with (asyncpg,
aiosqlite). `describe_failure` turns what the drivers raise when a database cannot be used
into one sentence naming what to fix.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.sqlite_driver import OneTripDbapi

#: Execution option of a connection whose transaction only reads (see `UnitOfWork`).
READ_ONLY = "releasebot_read_only"
#: Seconds to wait for PostgreSQL to accept a connection (asyncpg waits a minute by default).
CONNECT_TIMEOUT = 10
#: Seconds a SQLite connection waits for another's write lock before "database is locked".
SQLITE_BUSY_SECONDS = 30

#: The async driver of each database the bot supports.
DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}
EXAMPLES = "postgresql://USER:PASSWORD@HOST:5432/DATABASE or sqlite:///PATH/releasebot.db"


def async_url(url: str) -> str:
    """The URL with the async driver the bot uses; ValueError (a sentence) when it is unusable.

    `postgres://` (Heroku's spelling) and `postgresql://` become `postgresql+asyncpg://`,
    `sqlite://` becomes `sqlite+aiosqlite://`; libpq's `sslmode=` becomes asyncpg's `ssl=`.
    """
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise ValueError(f"{url!r} is not a database URL; write it as {EXAMPLES}") from None
    backend = "postgresql" if parsed.drivername.split("+")[0] in ("postgres", "postgresql") \
        else parsed.get_backend_name()
    if backend not in DRIVERS:
        raise ValueError(f"{backend} is not supported; use PostgreSQL or SQLite: {EXAMPLES}")
    driver = parsed.drivername.partition("+")[2]
    if driver and driver != DRIVERS[backend]:
        raise ValueError(f"the driver {driver!r} is not the one the bot uses; write {backend}:// "
                         f"(it uses {DRIVERS[backend]})")
    parsed = parsed.set(drivername=f"{backend}+{DRIVERS[backend]}")
    if backend == "postgresql" and "sslmode" in parsed.query:
        query = dict(parsed.query)
        query["ssl"] = query.pop("sslmode")
        parsed = parsed.set(query=query)
    if backend == "postgresql" and not parsed.database:
        raise ValueError(f"name the database at its end: {EXAMPLES}")
    return parsed.render_as_string(hide_password=False)


def shown(url: str) -> str:
    """The URL to print or log: the password masked (`***`)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL)"


def sqlite_folder_missing(url: str) -> Path | None:
    """The folder a SQLite file would go in, when it does not exist (SQLite will not make it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    folder = Path(parsed.database).expanduser().absolute().parent
    return None if folder.is_dir() else folder


def sqlite_file_missing(url: str) -> bool:
    """A SQLite database not created yet (connecting would create it, empty)."""
    parsed = make_url(async_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return False
    return not Path(parsed.database).expanduser().exists()


def describe_failure(exc: BaseException, url: str) -> str | None:
    """What to do about a database that cannot be used, or None when `exc` is not that kind.

    Connection refused, unknown host, timeout, no such database or role, wrong password,
    SQLite files that cannot be opened: what the drivers raise, named for a person.
    """
    parsed = make_url(url)
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    if isinstance(exc, ConnectionRefusedError) or (isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED):
        return f"PostgreSQL at {where} refuses connections: start it, or correct the host and port"
    if isinstance(exc, socket.gaierror):
        return f"the database host {parsed.host!r} is not known: correct the host"
    if isinstance(exc, TimeoutError):
        return (f"PostgreSQL at {where} did not answer within {CONNECT_TIMEOUT} s: "
                "check the host, the port and any firewall in between")
    sqlstate = _sqlstate(exc)
    if sqlstate == "3D000":
        createdb = (f"createdb -h {parsed.host or 'localhost'} -p {parsed.port or 5432} "
                    f"-U {parsed.username or 'postgres'} {parsed.database}")
        return f"PostgreSQL at {where} has no database {parsed.database!r}: create it ({createdb}) or correct the name"
    if sqlstate in ("28000", "28P01"):
        return (f"PostgreSQL at {where} refused the user {parsed.username!r} ({_first_line(exc)}): "
                "correct the user name and password")
    if isinstance(exc, DBAPIError) and parsed.get_backend_name() == "sqlite":
        return (f"the SQLite file {parsed.database} cannot be used ({_first_line(exc)}): "
                "check that its folder exists and is writable")
    if isinstance(exc, DBAPIError):
        return f"the database at {shown(url)} failed: {_first_line(exc)}"
    if isinstance(exc, OSError):
        return f"the database at {where} cannot be reached: {exc.strerror or exc}"
    return None


def _sqlstate(exc: BaseException) -> str | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "sqlstate", None)
        if isinstance(code, str):
            return code
        current = getattr(current, "orig", None) or current.__cause__
    return None


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__


#: SQLite's page cache per connection, in KiB.
SQLITE_CACHE_KIB = 256
#: Statements each PostgreSQL connection keeps prepared (asyncpg's cache; its default is 100).
PREPARED_STATEMENTS = 1000
#: Connections a process keeps open, on either database, and the most it has at once: a unit
#: of work beyond them waits for one. All of them stay open: a connection opened for a busy
#: moment and closed after it (SQLAlchemy's overflow) was opened again a moment later, 333
#: times in the pipeline bench's minute on SQLite (a thread and four PRAGMAs each) and, on
#: PostgreSQL, each one a new session whose prepared statements were prepared again.
POOL_SIZE = 15


def create_engine(url: str) -> AsyncEngine:
    url = async_url(url)
    parsed: URL = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if parsed.get_driver_name() == "asyncpg" and "prepared_statement_cache_size" not in parsed.query:
            # Each connection prepares a statement once and keeps it: the default 100 are fewer
            # than the statements the bot runs (IN lists of each length are statements of their
            # own), and a statement evicted is prepared again, one more round trip.
            parsed = parsed.update_query_dict({"prepared_statement_cache_size": str(PREPARED_STATEMENTS)})
        return create_async_engine(parsed, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=0,
                                   connect_args={"timeout": CONNECT_TIMEOUT})
    # Opening a SQLite connection starts aiosqlite's thread and runs the PRAGMAs below, which
    # cost more than a short read; units of work borrow one from the pool instead.
    # One trip to aiosqlite's thread per statement (storage/sqlite_driver.py).
    engine = create_async_engine(
        url, pool_size=POOL_SIZE, max_overflow=0, connect_args={"timeout": SQLITE_BUSY_SECONDS},
        module=OneTripDbapi(),
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, say when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        _use_wal(cursor)
        # 256 KiB of page cache per connection (SQLite's default is 2 MiB) costs no query time
        # (the file's pages stay in the OS cache) and keeps the serving process small with
        # every pooled connection in use (bench/metrics_scale.py, bench/acks.py).
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A read-only unit of work (the metrics, the App Home) takes no write lock: in WAL
        # mode it reads a consistent snapshot and never makes a writer wait for a long read.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL once; connections that find it switched do nothing.

    Switching needs the file to itself, and SQLite answers "database is locked" at once,
    without its busy handler, when another connection opened it in the same instant (several
    replicas starting on a new file). So the switch is retried here for as long as the busy
    timeout would have waited; it only ever happens on a file not yet in WAL mode.
    """
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # the driver's OperationalError, through the async adapter
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


#: The write lock of each SQLite engine, for the event loop it serves.
_WRITERS: weakref.WeakKeyDictionary[Engine, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary())


def writers(engine: AsyncEngine) -> asyncio.Lock | None:
    """The lock this process's SQLite writers take in turn (None on PostgreSQL).

    SQLite lets one transaction write at a time. Without this lock, the writers that wait
    wait in its busy handler, which sleeps and tries again (up to 100 ms at a time): the lock
    is often free while every writer sleeps, and under load requests queue for seconds
    with the process idle. Taken here, in order, a waiting writer begins the moment the
    one before it ends, and holds no pooled connection while it waits. Writers in other
    processes (the CLI) still meet the busy handler.
    """
    if engine.dialect.name != "sqlite":
        return None
    loop = asyncio.get_running_loop()
    found = _WRITERS.get(engine.sync_engine)
    if found is None or found[0] is not loop:
        found = (loop, asyncio.Lock())
        _WRITERS[engine.sync_engine] = found
    return found[1]


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


async def ping(engine: AsyncEngine) -> bool:
    """True when the database answers; what `/healthz` reports."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        return False
