"""What every call out to a partner shares, whichever SDK makes it.

Calls out run inside Temporal activities, so Temporal owns retries: SDK-level retries are
turned off, and a failed call becomes an `ApplicationError` that says whether a retry can help
(429 and 5xx yes, other 4xx no) and, when the partner sent `Retry-After`, how long to wait.
A client-side limiter keeps each API under its rate limit; when it is full the activity is
retried after the window frees up rather than blocking a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Protocol, TypeVar

import structlog
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from integration_hub import metrics
from integration_hub.errors import CallRefused

log = structlog.get_logger(__name__)

# Activities that call partners: Temporal retries with backoff; a Retry-After overrides the
# next interval. Bounded so a partner that stays down ends in a recorded failure (dead letter).
CALL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=10,
    non_retryable_error_types=[CallRefused.__name__],
)
CALL_TIMEOUT = timedelta(seconds=30)
MAX_RETRY_AFTER = timedelta(hours=1)
In = TypeVar("In")
R = TypeVar("R")


async def call_activity(method: Callable[[Any, In], R], input: In) -> R:
    """From a workflow: run one call-out activity under the shared timeout and retry policy."""
    result: R = await workflow.execute_activity_method(
        method,
        input,
        start_to_close_timeout=CALL_TIMEOUT,
        retry_policy=CALL_RETRY,
    )
    return result


class PartnerCalls(Protocol):
    """A partner's activities, built once per worker with settings, secrets and the engine.
    What it needs (secret names, their shapes, its priority) is its `Partner` declaration's."""

    def activities(self) -> Sequence[Callable[..., Any]]: ...

    def preflight(self) -> None:
        """Raise `UnsafeConfiguration` when the configured secrets must not be used here."""
        ...


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> timedelta | None:
    """Retry-After is delta-seconds or an HTTP date (RFC 9110 §10.2.3); capped, never negative."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        delay = when - (now or datetime.now(UTC))
    return max(timedelta(0), min(delay, MAX_RETRY_AFTER))


def is_retryable_status(status: int | None) -> bool:
    """No status (connection failed, timed out), 408, 429 and 5xx can succeed later."""
    return status is None or status in (408, 429) or status >= 500


def call_failed(
    partner: str,
    operation: str,
    *,
    status: int | None,
    message: str,
    code: str | int | None = None,
    retry_after: str | None = None,
    retryable: bool | None = None,
) -> ApplicationError:
    """The error an activity raises for a failed call; never includes request secrets."""
    can_retry = is_retryable_status(status) if retryable is None else retryable
    kind = f"{partner}.{code if code is not None else status or 'unreachable'}"
    metrics.CALLS_OUT.labels(partner, operation, "retryable" if can_retry else "failed").inc()
    log.warning(
        "call_out_failed",
        partner=partner,
        operation=operation,
        status=status,
        code=code,
        retryable=can_retry,
        retry_after=retry_after,
    )
    return ApplicationError(
        f"{partner} {operation} failed ({status or 'no answer'}): {message}",
        type=kind,
        non_retryable=not can_retry,
        next_retry_delay=parse_retry_after(retry_after) if can_retry else None,
    )


def refuse(partner: str, operation: str, message: str) -> ApplicationError:
    """A call the hub will not make; the activity fails at once and the partner never sees it."""
    metrics.CALLS_OUT.labels(partner, operation, "refused").inc()
    log.warning("call_out_refused", partner=partner, operation=operation, detail=message)
    return ApplicationError(message, type=CallRefused.__name__, non_retryable=True)


@contextlib.contextmanager
def timed_call(partner: str, operation: str) -> Iterator[None]:
    """Count and time one call; failures are counted by `call_failed` where they are raised."""
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics.CALL_SECONDS.labels(partner, operation).observe(time.perf_counter() - started)
    metrics.CALLS_OUT.labels(partner, operation, "ok").inc()


class CallLimiter:
    """A per-API moving-window limit shared by all activities of one worker process."""

    def __init__(self, partner: str, limits_per_minute: Mapping[str, int]) -> None:
        self._partner = partner
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items = {api: RateLimitItemPerMinute(n) for api, n in limits_per_minute.items()}

    def acquire(self, api: str, cost: int = 1) -> None:
        """Take `cost` slots at once (all or none), or raise a retryable error that says when
        slots free up. Distance Matrix, say, is limited in elements, not requests."""
        item = self._items.get(api)
        if item is None or self._limiter.hit(item, self._partner, api, cost=cost):
            return
        reset_at = self._limiter.get_window_stats(item, self._partner, api).reset_time
        wait = max(0.05, reset_at - time.time())
        metrics.CALLS_OUT.labels(self._partner, api, "rate_limited").inc()
        raise ApplicationError(
            f"{self._partner} {api}: client-side rate limit reached",
            type=f"{self._partner}.rate_limited",
            next_retry_delay=timedelta(seconds=wait),
        )


def idempotency_key(*parts: str) -> str:
    """A key derived from our own ids: the same logical call always gets the same key, so a
    retried activity (or a replayed workflow) never charges, pays or sends twice."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"hub-{digest}"


class RateGate:
    """What a partner's last answers said about its limits (its rate-limit headers): no call
    goes out before `open_at`. The partner's calls `check` before each call and `close_until`
    with the time its headers name (bounded by `max_wait` seconds from now)."""

    def __init__(self, partner: str, shown_name: str, clock: Callable[[], float]) -> None:
        self._partner, self._shown_name, self._clock = partner, shown_name, clock
        self._lock = threading.Lock()
        self._open_at = 0.0

    def now(self) -> float:
        return self._clock()

    def check(self, operation: str) -> None:
        wait = self._open_at - self._clock()
        if wait > 0:
            metrics.CALLS_OUT.labels(self._partner, operation, "rate_limited").inc()
            raise ApplicationError(
                f"{self._partner} {operation}: {self._shown_name}'s rate limit has no calls left",
                type=f"{self._partner}.rate_limited",
                next_retry_delay=timedelta(seconds=math.ceil(wait)),
            )

    def close_until(self, until: float, *, max_wait: float) -> None:
        with self._lock:
            self._open_at = max(self._open_at, min(until, self._clock() + max_wait))


def failure_detail(error: ActivityError) -> str:
    """What a workflow keeps of a call that failed for good: the error's type and message
    (activities' errors carry no secret: `call_failed`), else its cause."""
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type or 'error'}: {cause.message}"
    return str(cause or error)


class Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


class ClientsPerContext(Generic[C]):
    """One API client per calls context (a worker's), built on first use.

    A poll source gets a new `PollContext` per page but the worker's one `CallsContext`, so
    keying on it gives every page and activity of a process the same HTTP client and limiter
    (a 429's pause then holds between pages even on the in-process limit backend). At most
    `keep` contexts are kept (a worker has one; tests and CLI commands make a few more): the
    oldest one's client is closed."""

    def __init__(self, build: Callable[[Any], C], *, keep: int = 8) -> None:
        self._build, self._keep = build, keep
        self._lock = threading.Lock()
        self._kept: list[tuple[object, C]] = []

    def get(self, context: object) -> C:
        with self._lock:
            for known, client in self._kept:
                if known is context:
                    return client
            client = self._build(context)
            self._kept.append((context, client))
            if len(self._kept) > self._keep:
                self._kept.pop(0)[1].close()
            return client

    def close_all(self) -> None:
        """Close every kept client (tests, a worker's shutdown)."""
        with self._lock:
            while self._kept:
                self._kept.pop()[1].close()
