"""Call limits in the hub's database, for every worker on it when no Redis is configured.

`call_limit_hits` counts one row per (key, window length, window number). A call is counted
with one insert-or-update per window, `hits + 1` only while `hits < calls`, all in one write
transaction: when any window is full the transaction rolls back, so a refused call counts in no
window. On PostgreSQL each upsert locks its row until commit and concurrent callers wait on it
(windows are always taken shortest first, so two callers cannot deadlock); on SQLite the
transaction holds the database's write lock (BEGIN IMMEDIATE). A pause after a 429 is a row of
the same table with `window_seconds` 0 and `window_start` the pause's end in unix milliseconds.

`calls_in_flight` holds one row per call in flight, with a lease: a killed worker's row stops
counting when its lease ends. Counting and taking a slot run under a transaction-scoped lock
on the key (PostgreSQL advisory lock; SQLite's write lock), so the cap holds across processes.

Each process prunes ended windows, pauses and leases at most once a minute.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, func, insert, select

from integration_hub.connectors.call_limits.budget import Window, wait_for
from integration_hub.storage import dialect
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import call_limit_hits, calls_in_flight

PRUNE_EVERY_SECONDS = 60.0
PAUSE = 0  # window_seconds of a pause row

hits = call_limit_hits.c


class _WindowFull(Exception):
    """Rolls the counting transaction back: a refused call counts in no window."""


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class DatabaseBackend:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._prune_lock = threading.Lock()
        self._pruned_at = float("-inf")  # time.monotonic() of this process's last prune

    def hit(self, key: str, windows: Sequence[Window], now: float) -> float | None:
        self._prune_now_and_then(now)
        full: list[Window] = []
        try:
            with begin_write(self.engine) as connection:
                for window in sorted(windows, key=lambda w: (w.seconds, w.calls)):
                    if not self._count(connection, key, window, now):
                        full.append(window)
                if full:
                    raise _WindowFull
        except _WindowFull:
            return wait_for(full, now)
        return None

    @staticmethod
    def _count(connection: Connection, key: str, window: Window, now: float) -> bool:
        """One more hit in `window` unless it is full (then the row is left as it was)."""
        statement = dialect.upsert(
            connection,
            call_limit_hits,
            key=["key", "window_seconds", "window_start"],
            values={
                "key": key,
                "window_seconds": window.seconds,
                "window_start": window.start(now),
                "hits": 1,
            },
            changes=lambda _: {"hits": hits.hits + 1},
            only_if=lambda _: hits.hits < window.calls,
        ).returning(hits.hits)
        return connection.execute(statement).first() is not None

    def enter(self, key: str, slot: str, cap: int, lease: float, now: float) -> bool:
        with begin_write(self.engine) as connection:
            dialect.serialize_on(connection, key=f"calls_in_flight:{key}")
            connection.execute(
                delete(calls_in_flight).where(
                    calls_in_flight.c.key == key, calls_in_flight.c.expires_at <= _at(now)
                )
            )
            taken = connection.execute(
                select(func.count()).where(calls_in_flight.c.key == key)
            ).scalar_one()
            if taken >= cap:
                return False
            connection.execute(
                insert(calls_in_flight).values(key=key, slot=slot, expires_at=_at(now + lease))
            )
            return True

    def leave(self, key: str, slot: str) -> None:
        with begin_write(self.engine) as connection:
            connection.execute(
                delete(calls_in_flight).where(
                    calls_in_flight.c.key == key, calls_in_flight.c.slot == slot
                )
            )

    def pause(self, key: str, until: float, now: float | None = None) -> None:
        # One row per pause; the latest end holds (`paused_until` takes the maximum).
        with begin_write(self.engine) as connection:
            connection.execute(
                dialect.insert_or_ignore(
                    connection,
                    call_limit_hits,
                    key=["key", "window_seconds", "window_start"],
                    values={
                        "key": key,
                        "window_seconds": PAUSE,
                        "window_start": int(until * 1000),
                        "hits": 0,
                    },
                )
            )

    def paused_until(self, key: str, now: float) -> float | None:
        with self.engine.connect().execution_options(read_only=True) as connection:
            until = connection.execute(
                select(func.max(hits.window_start)).where(
                    hits.key == key,
                    hits.window_seconds == PAUSE,
                    hits.window_start > int(now * 1000),
                )
            ).scalar_one_or_none()
        return None if until is None else until / 1000

    def prune(self, now: float) -> None:
        """Forget windows, pauses and leases that ended before `now` (on every key)."""
        with begin_write(self.engine) as connection:
            connection.execute(
                delete(call_limit_hits).where(
                    hits.window_seconds > PAUSE,
                    (hits.window_start + 1) * hits.window_seconds < int(now),
                )
            )
            connection.execute(
                delete(call_limit_hits).where(
                    hits.window_seconds == PAUSE, hits.window_start < int(now * 1000)
                )
            )
            connection.execute(
                delete(calls_in_flight).where(calls_in_flight.c.expires_at <= _at(now))
            )

    def _prune_now_and_then(self, now: float) -> None:
        with self._prune_lock:
            if time.monotonic() - self._pruned_at < PRUNE_EVERY_SECONDS:
                return
            self._pruned_at = time.monotonic()
        self.prune(now)
