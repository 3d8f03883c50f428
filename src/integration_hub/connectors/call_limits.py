"""Call limits shared by every worker: windows per second, minute and hour, and calls in flight.

A PMS limits each account (and each of our IPs) however many workers call it: Hostaway 15
requests per 10 s per IP and 20 per account, Guesty 15/s, 120/min and 5,000/h. A limiter in
one process (outbound.py's `CallLimiter`) cannot keep several workers under that, so these
limits live in shared storage: Redis when `HUB_REDIS_URL` is set, else the database
(`call_limit_hits`, `calls_in_flight`). An in-memory backend serves one process (tests, CLI).

`SharedLimiter.call(key, operation)` wraps one call: it takes a hit in every window of the
budget (all or none) and, when the budget caps calls in flight, a slot leased for
`lease_seconds` (a killed worker's slot frees itself) released when the call ends. When a
window is full or no slot is free it raises a retryable `ApplicationError` whose
`next_retry_delay` says when to try again, so Temporal retries the activity then instead of
blocking a worker thread. `pause(key, seconds)` closes the key for everyone after a 429's
`Retry-After`.

Keys name what the partner limits: `hostaway:account:<id>`, `hostaway:ip`, `guesty:<conn>`.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from integration_hub import metrics
from integration_hub.settings import Settings


@dataclass(frozen=True, slots=True)
class Window:
    calls: int
    seconds: int


@dataclass(frozen=True, slots=True)
class CallBudget:
    windows: tuple[Window, ...]
    max_in_flight: int | None = None
    lease_seconds: int = 60


class LimitBackend(Protocol):
    def hit(self, key: str, windows: Sequence[Window], now: float) -> float | None:
        """Count one call in every window (all or none): None when taken, else the seconds
        until the fullest window has room."""
        ...

    def enter(self, key: str, slot: str, cap: int, lease: float, now: float) -> bool:
        """Take a slot among `cap` (expired leases do not count)."""
        ...

    def leave(self, key: str, slot: str) -> None: ...

    def pause(self, key: str, until: float) -> None:
        """No call on `key` before `until` (unix seconds); the later of two pauses holds."""
        ...

    def paused_until(self, key: str, now: float) -> float | None: ...


class MemoryBackend:
    """One process's limits (tests, the CLI): fixed windows, as the shared backends keep."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, int, int], int] = {}
        self._slots: dict[str, dict[str, float]] = {}
        self._paused: dict[str, float] = {}

    def hit(self, key: str, windows: Sequence[Window], now: float) -> float | None:
        with self._lock:
            wait = 0.0
            for window in windows:
                start = int(now // window.seconds)
                if self._hits.get((key, window.seconds, start), 0) >= window.calls:
                    wait = max(wait, (start + 1) * window.seconds - now)
            if wait > 0:
                return wait
            for window in windows:
                slot = (key, window.seconds, int(now // window.seconds))
                self._hits[slot] = self._hits.get(slot, 0) + 1
            return None

    def enter(self, key: str, slot: str, cap: int, lease: float, now: float) -> bool:
        with self._lock:
            slots = {s: t for s, t in self._slots.get(key, {}).items() if t > now}
            if len(slots) >= cap:
                self._slots[key] = slots
                return False
            slots[slot] = now + lease
            self._slots[key] = slots
            return True

    def leave(self, key: str, slot: str) -> None:
        with self._lock:
            self._slots.get(key, {}).pop(slot, None)

    def pause(self, key: str, until: float) -> None:
        with self._lock:
            self._paused[key] = max(self._paused.get(key, 0.0), until)

    def paused_until(self, key: str, now: float) -> float | None:
        with self._lock:
            until = self._paused.get(key)
            return until if until is not None and until > now else None


def limit_backend(settings: Settings, engine: Engine | None) -> LimitBackend:
    """Redis when HUB_REDIS_URL is set, else the database, else (no engine) this process."""
    return MemoryBackend()


class SharedLimiter:
    def __init__(
        self,
        partner: str,
        budget: CallBudget,
        backend: LimitBackend,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._partner, self._budget, self._backend, self._clock = partner, budget, backend, clock

    @contextlib.contextmanager
    def call(self, key: str, operation: str) -> Iterator[None]:
        now = self._clock()
        if (until := self._backend.paused_until(key, now)) is not None:
            raise self._limited(operation, until - now, "paused after the partner's 429")
        if (wait := self._backend.hit(key, self._budget.windows, now)) is not None:
            raise self._limited(operation, wait, "client-side rate limit reached")
        cap = self._budget.max_in_flight
        if cap is None:
            yield
            return
        slot = uuid.uuid4().hex
        if not self._backend.enter(key, slot, cap, self._budget.lease_seconds, now):
            raise self._limited(operation, 1.0, f"{cap} calls already in flight")
        try:
            yield
        finally:
            self._backend.leave(key, slot)

    def pause(self, key: str, seconds: float) -> None:
        self._backend.pause(key, self._clock() + max(0.0, seconds))

    def _limited(self, operation: str, wait: float, why: str) -> ApplicationError:
        metrics.CALLS_OUT.labels(self._partner, operation, "rate_limited").inc()
        return ApplicationError(
            f"{self._partner} {operation}: {why}",
            type=f"{self._partner}.rate_limited",
            next_retry_delay=timedelta(seconds=max(0.05, wait)),
        )
