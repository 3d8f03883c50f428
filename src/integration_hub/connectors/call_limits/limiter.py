"""Call limits shared by every worker: windows per second, minute and hour, and calls in flight.

A PMS limits each account (and each of our IPs) however many workers call it: Hostaway 15
requests per 10 s per IP and 20 per account, Guesty 15/s, 120/min and 5,000/h. A limiter in
one process (outbound.py's `CallLimiter`) cannot keep several workers under that, so these
limits live in shared storage: Redis when `HUB_REDIS_URL` is set, else the database
(`call_limit_hits`, `calls_in_flight`). An in-memory backend serves one process (tests, CLI).

`SharedLimiter.call(key, operation)` wraps one call: when the budget caps calls in flight it
takes a slot leased for `lease_seconds` (a killed worker's slot frees itself), released when
the call ends; then a hit in every window of the budget (all or none). The slot comes first
because it can be given back: a hit cannot, so a call refused for want of a slot spends none. When a
window is full or no slot is free it raises a retryable `ApplicationError` whose
`next_retry_delay` says when to try again, so Temporal retries the activity then instead of
blocking a worker thread. `pause(key, seconds)` closes the key for everyone after a 429's
`Retry-After`.

Keys name what the partner limits: `hostaway:account:<id>`, `hostaway:ip`, `guesty:<conn>`.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from integration_hub import metrics
from integration_hub.connectors.call_limits.budget import CallBudget, LimitBackend, MemoryBackend
from integration_hub.connectors.call_limits.database import DatabaseBackend
from integration_hub.connectors.call_limits.redis_backend import RedisBackend
from integration_hub.settings import Settings

# When every slot is taken: calls end sooner than their leases, so look again soon.
SLOT_RETRY_SECONDS = 1.0


def limit_backend(settings: Settings, engine: Engine | None) -> LimitBackend:
    """Redis when HUB_REDIS_URL is set, else the database, else (no engine) this process."""
    if settings.redis_url:
        return RedisBackend(settings.redis_url)
    if engine is not None:
        return DatabaseBackend(engine)
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
        cap = self._budget.max_in_flight
        slot = uuid.uuid4().hex
        if cap is not None and not self._backend.enter(
            key, slot, cap, self._budget.lease_seconds, now
        ):
            raise self._limited(operation, SLOT_RETRY_SECONDS, f"{cap} calls already in flight")
        try:
            if (wait := self._backend.hit(key, self._budget.windows, now)) is not None:
                raise self._limited(operation, wait, "client-side rate limit reached")
            yield
        finally:
            if cap is not None:
                self._backend.leave(key, slot)

    def pause(self, key: str, seconds: float) -> None:
        """No call on `key` for `seconds` (a 429's Retry-After), in every process."""
        now = self._clock()
        self._backend.pause(key, now + max(0.0, seconds), now)

    def _limited(self, operation: str, wait: float, why: str) -> ApplicationError:
        metrics.CALLS_OUT.labels(self._partner, operation, "rate_limited").inc()
        return ApplicationError(
            f"{self._partner} {operation}: {why}",
            type=f"{self._partner}.rate_limited",
            next_retry_delay=timedelta(seconds=max(0.05, wait)),
        )
