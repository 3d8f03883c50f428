"""Call limits shared by every worker (see limiter.py): windows and calls in flight kept in
Redis, the database or (one process) memory."""

from integration_hub.connectors.call_limits.budget import (
    CallBudget,
    LimitBackend,
    MemoryBackend,
    Window,
)
from integration_hub.connectors.call_limits.database import DatabaseBackend
from integration_hub.connectors.call_limits.limiter import SharedLimiter, limit_backend
from integration_hub.connectors.call_limits.redis_backend import RedisBackend

__all__ = [
    "CallBudget",
    "DatabaseBackend",
    "LimitBackend",
    "MemoryBackend",
    "RedisBackend",
    "SharedLimiter",
    "Window",
    "limit_backend",
]
