"""make_engine(settings): a SQLite file (WAL) by default, PostgreSQL when configured."""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

BUSY_TIMEOUT_SECONDS = 30.0

# SQLite allows one writer; when two connections of this process collide, SQLite's busy
# handler sleeps in steps of up to 100 ms. Writers of one process queue on this lock instead.
_SQLITE_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextlib.contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """A write transaction; on SQLite, writers of this process take turns instead of colliding."""
    lock = _SQLITE_WRITE_LOCKS.get(engine)
    with lock if lock is not None else contextlib.nullcontext(), engine.begin() as connection:
        yield connection


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    _SQLITE_WRITE_LOCKS[engine] = threading.Lock()

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see "begin").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit that returned is on disk, so a 2xx survives power loss, not only kill -9.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Writers take the lock up front so read-then-write transactions cannot deadlock on
        # upgrade; readers (execution option read_only=True) stay out of the writer's way.
        if connection.get_execution_options().get("read_only", False):
            connection.exec_driver_sql("BEGIN")
        else:
            _begin_immediate(connection)

    return engine


def _begin_immediate(connection: Connection) -> None:
    """BEGIN IMMEDIATE, retried every 0.2-1 ms while another process holds the write lock.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20 ... 100 ms between tries, so a writer
    that loses a race against another process's short transaction waits far longer than the
    transaction lasts. The edge and the pipeline process write the same file all the time.
    """
    connection.exec_driver_sql("PRAGMA busy_timeout=0")
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    pause = 0.0002
    try:
        while True:
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 1.5, 0.001)
    finally:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
