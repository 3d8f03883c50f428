"""Call limits in Redis (`HUB_REDIS_URL`), for every hub process on it.

Each step is one Lua script, so Redis runs it atomically: `hit` reads every window's counter
and increments all of them only when none is full; `enter` drops ended leases from the key's
sorted set (scored by lease end), counts the rest and adds the slot; `pause` keeps the later of
two ends, in a key that expires (PX) when the pause does. All keys of one limiter key share a
hash tag (`{key}`), so the scripts also run on a Redis Cluster. Time is the caller's (`now`),
like the other backends: the hub's hosts keep NTP time, and tests can move a fake clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

from redis import Redis

from integration_hub.connectors.call_limits.budget import Window, wait_for

TIMEOUT_SECONDS = 2.0
# A window's counter outlives its window by this much (its key names the window, so a late
# expiry never merges two windows; it only keeps Redis tidy).
EXPIRY_MARGIN_MS = 1000

# KEYS: one counter per window; ARGV: calls allowed and expiry (ms) for each, in turn.
# Returns the (1-based) indexes of the full windows; none counted when any is full.
HIT = """
local full = {}
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[2 * i - 1]) then
    full[#full + 1] = i
  end
end
if #full == 0 then
  for i, key in ipairs(KEYS) do
    redis.call('INCR', key)
    redis.call('PEXPIRE', key, ARGV[2 * i])
  end
end
return full
"""

# KEYS[1]: the sorted set of slots; ARGV: now, cap, this slot's lease end, slot, lease (ms).
ENTER = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""

# KEYS[1]: the pause; ARGV: its end (unix seconds), how long until then (ms).
PAUSE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 0
"""


class RedisBackend:
    def __init__(self, url: str, *, prefix: str = "hub:calls:") -> None:
        self._redis: Redis = Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
        self._prefix = prefix
        self._hit = self._redis.register_script(HIT)
        self._enter = self._redis.register_script(ENTER)
        self._pause = self._redis.register_script(PAUSE)

    def _key(self, key: str, *parts: object) -> str:
        return ":".join([f"{self._prefix}{{{key}}}", *map(str, parts)])

    def hit(self, key: str, windows: Sequence[Window], now: float) -> float | None:
        keys = [self._key(key, "hits", w.seconds, w.start(now)) for w in windows]
        arguments: list[int] = []
        for window in windows:
            arguments += [window.calls, math.ceil(window.frees_in(now) * 1000) + EXPIRY_MARGIN_MS]
        full = cast(list[int], self._hit(keys=keys, args=arguments))
        return wait_for([windows[i - 1] for i in full], now)

    def enter(self, key: str, slot: str, cap: int, lease: float, now: float) -> bool:
        arguments: list[str | int] = [
            repr(now),
            cap,
            repr(now + lease),
            slot,
            math.ceil(lease * 1000),
        ]
        return bool(self._enter(keys=[self._key(key, "in_flight")], args=arguments))

    def leave(self, key: str, slot: str) -> None:
        self._redis.zrem(self._key(key, "in_flight"), slot)

    def pause(self, key: str, until: float, now: float) -> None:
        if until <= now:
            return
        arguments: list[str | int] = [repr(until), math.ceil((until - now) * 1000)]
        self._pause(keys=[self._key(key, "paused")], args=arguments)

    def paused_until(self, key: str, now: float) -> float | None:
        value = cast(bytes | None, self._redis.get(self._key(key, "paused")))
        until = None if value is None else float(value)
        return until if until is not None and until > now else None

    def close(self) -> None:
        self._redis.close()
