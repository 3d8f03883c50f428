"""Admission at the edge: rate limits per partner and per client address, header limits.

Rate limits come from the `limits` library: an in-process counter by default, Redis when
`HUB_REDIS_URL` is set, so every hub process draws on one budget. The default strategy, a
sliding window counter, keeps two counters per key (no entry per hit) and smooths the burst a
fixed window allows at its boundary. When Redis cannot answer, deliveries are admitted: losing
the limiter must not turn into refusing partners' events.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from redis.asyncio import Redis

from integration_hub.settings import Settings

log = structlog.get_logger(__name__)

STRATEGIES: dict[str, type[RateLimiter]] = {
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
    "moving-window": MovingWindowRateLimiter,
}
REDIS_TIMEOUT_SECONDS = 0.5
STORAGE_WARNING_INTERVAL = 10.0


@dataclass(frozen=True, slots=True)
class RateLimited:
    """Which budget ran out (`partner` or `client`) and when to try again, in whole seconds."""

    scope: str
    limit: str
    retry_after: int


class IngestRateLimiter:
    """Two budgets, charged at two moments. A delivery's client address is charged before
    anything is verified (a flood from one address stays that address's problem); its partner
    is charged only once the signature verified, so unsigned junk, from however many
    addresses, never spends the budget of the partner it claims to come from."""

    def __init__(
        self,
        *,
        per_partner: str | None,
        per_client: str | None,
        redis_url: str | None = None,
        strategy: str = "sliding-window-counter",
        key_prefix: str = "hub-ingest",
    ) -> None:
        self._per_partner: RateLimitItem | None = parse(per_partner) if per_partner else None
        self._per_client: RateLimitItem | None = parse(per_client) if per_client else None
        self._redis: Redis | None = None
        storage: Storage
        if redis_url:
            self._redis = Redis.from_url(
                redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=key_prefix,
                # limits types **options as scalars, but hands connection_pool to redis-py.
                connection_pool=self._redis.connection_pool,  # type: ignore[arg-type]
            )
        else:
            storage = MemoryStorage()
        self._storage = storage
        self._limiter = STRATEGIES[strategy](storage)
        self._warned_at = 0.0
        self.enabled = self._per_partner is not None or self._per_client is not None

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestRateLimiter:
        return cls(
            per_partner=settings.rate_limit_per_partner,
            per_client=settings.rate_limit_per_client,
            redis_url=settings.redis_url,
            strategy=settings.rate_limit_strategy,
        )

    async def admit_client(self, client: str) -> RateLimited | None:
        """Before verification: None when `client` is within its budget (and now charged)."""
        if self._per_client is not None and not await self._hit(self._per_client, "c", client):
            return await self._refusal("client", self._per_client, "c", client)
        return None

    async def admit_partner(self, partner: str) -> RateLimited | None:
        """After verification, before the commit: None when `partner` is within its budget
        (and now charged)."""
        if self._per_partner is not None and not await self._hit(self._per_partner, "p", partner):
            return await self._refusal("partner", self._per_partner, "p", partner)
        return None

    async def _hit(self, item: RateLimitItem, *key: str) -> bool:
        try:
            return await self._limiter.hit(item, *key)
        except Exception as exc:  # Redis away: admit rather than refuse partners' events
            now = time.monotonic()
            if now - self._warned_at > STORAGE_WARNING_INTERVAL:
                self._warned_at = now
                log.warning("rate_limiter_unavailable", error=f"{type(exc).__name__}: {exc}")
            return True

    async def _refusal(self, scope: str, item: RateLimitItem, *key: str) -> RateLimited:
        try:
            reset_at = (await self._limiter.get_window_stats(item, *key)).reset_time
            wait = reset_at - time.time()
        except Exception:  # the limiter said no a moment ago; fall back on the window length
            wait = item.get_expiry()
        return RateLimited(scope, str(item), max(1, math.ceil(wait)))

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.connection_pool.aclose()
        elif isinstance(self._storage, MemoryStorage) and self._storage.timer is not None:
            self._storage.timer.cancel()


def oversized_headers(
    headers: Sequence[tuple[bytes, bytes]], *, max_count: int, max_bytes: int
) -> str | None:
    """Why the request's headers are refused (431), or None."""
    if len(headers) > max_count:
        return f"{len(headers)} headers; at most {max_count}"
    size = sum(len(name) + len(value) for name, value in headers)
    if size > max_bytes:
        return f"headers take {size} bytes; at most {max_bytes}"
    return None
