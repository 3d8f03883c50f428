"""make_engine(settings): a SQLite file (WAL, mode 0600) by default, PostgreSQL when configured."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from integration_hub.home import (
    PRIVATE_FILE_MODE,
    UnsafeFileMode,
    ensure_private_directory,
    exposure,
)

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


# SQLite creates these next to the database, each with the database file's own mode.
SQLITE_COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")


def prepare_sqlite_file(database: Path) -> None:
    """A SQLite database (and its WAL, which holds raw bodies) is private to its owner, in or
    out of HUB_HOME: created 0600 before SQLite opens it (SQLite gives the WAL and shared
    memory files the database's mode), in a 0700 directory if it creates one; an existing one
    open to group or others, or a directory others may write (they could swap or pre-create
    the files), raises UnsafeFileMode naming the `chmod` that fixes it. A directory others may
    only list is accepted outside HUB_HOME (its files stay private); HUB_HOME itself is held
    to the stricter rule by home.prepare_home."""
    ensure_private_directory(database.parent)
    problems = [exposure(database.parent, bits=stat.S_IWGRP | stat.S_IWOTH)]
    problems += [
        exposure(database.with_name(database.name + suffix))
        for suffix in ("", *SQLITE_COMPANION_SUFFIXES)
    ]
    named = "; ".join(p for p in problems if p is not None)
    if named:
        raise UnsafeFileMode(f"the SQLite database must be private to its owner: {named}")
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))


def _sqlite_engine(url: str, database: str | None) -> Engine:
    # ":memory:" and "" are in-memory databases; "file:" URIs are left to whoever wrote them.
    if database and database != ":memory:" and not database.startswith("file:"):
        prepare_sqlite_file(Path(database).expanduser().absolute())
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
