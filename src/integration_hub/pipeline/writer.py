"""Group commit: deliveries wait for the next commit, which takes everything waiting at once.

No timer: the writer commits as soon as it is free, so a lone delivery is committed at once
and a burst shares one fsync. A 2xx is only answered after `submit` returns. A row that carries
`last_error` (a malformed entry of a verified batch) is committed `failed` with it, in the same
commit and with the same dedup, so the normalizer never claims it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import structlog
from sqlalchemy import Engine

from integration_hub import metrics
from integration_hub.errors import HubError, StorageUnavailable
from integration_hub.storage.engine import begin_write
from integration_hub.storage.raw_events import NewRawEvent, record_deliveries

log = structlog.get_logger(__name__)


class Overloaded(HubError):
    reason = "overloaded"
    retryable = True


Waiter = tuple[Sequence[NewRawEvent], "asyncio.Future[list[bool]]"]


class GroupCommitWriter:
    def __init__(
        self, engine: Engine, *, max_pending: int, on_commit: Callable[[], None] = lambda: None
    ) -> None:
        self._engine = engine
        self._max_pending = max_pending
        self._on_commit = on_commit
        self._waiting: list[Waiter] = []
        self._waiting_count = 0
        self._wake = asyncio.Event()
        self._closed = False
        self._failing_since: float | None = None

    async def submit(self, events: Sequence[NewRawEvent]) -> list[bool]:
        """Commit `events`; for each, True if new, False if it was a duplicate."""
        if self._closed:
            raise StorageUnavailable("the hub is shutting down")
        if self._waiting_count >= self._max_pending:
            raise Overloaded(f"{self._waiting_count} deliveries already wait for a commit")
        future: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._waiting.append((events, future))
        self._waiting_count += len(events)
        self._wake.set()
        return await future

    async def run(self) -> None:
        while not (self._closed and not self._waiting):
            await self._wake.wait()
            self._wake.clear()
            batch, self._waiting, self._waiting_count = self._waiting, [], 0
            if batch:
                await self._commit(batch)

    async def close(self) -> None:
        """Stop taking deliveries; `run` returns once those already waiting are committed."""
        self._closed = True
        self._wake.set()

    async def _commit(self, batch: list[Waiter]) -> None:
        events = [event for waiting, _ in batch for event in waiting]
        metrics.COMMIT_BATCH.observe(len(events))
        try:
            inserted = await asyncio.to_thread(self._insert, events)
        except Exception as exc:  # any database failure means: not stored, partner must retry
            # Every later commit tries again on a fresh connection (the pool pings), so the
            # writer recovers by itself once the database is back.
            log.error("commit_failed", error=type(exc).__name__, deliveries=len(events))
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            for _, future in batch:
                if not future.done():
                    future.set_exception(StorageUnavailable("the database could not commit"))
            return
        if self._failing_since is not None:
            down = time.monotonic() - self._failing_since
            log.warning("commit_recovered", seconds_failing=round(down, 1))
            self._failing_since = None
        # The first occurrence of a key in this batch is the new one; the rest are duplicates.
        for waiting, future in batch:
            flags = []
            for event in waiting:
                key = (event.partner, event.partner_event_id)
                flags.append(key in inserted)
                inserted.discard(key)
            if not future.done():
                future.set_result(flags)
        self._on_commit()

    def _insert(self, events: list[NewRawEvent]) -> set[tuple[str, str]]:
        with begin_write(self._engine) as connection:
            return record_deliveries(connection, events=events)
