"""What one server's connections share (web/http_protocol.py): the limits, open connections per
client address, the connections waiting for a request (evicted oldest first at the server's
connection limit), and how cuts are counted and logged."""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import structlog

from integration_hub import metrics
from integration_hub.settings import Settings
from integration_hub.web.forwarded import is_trusted_proxy, parse_address

if TYPE_CHECKING:
    from integration_hub.web.http_protocol import HubHttpProtocol

log = structlog.get_logger(__name__)

LOG_INTERVAL_SECONDS = 10.0
# Many partners on one private or loopback address are usually one proxy the hub does not
# know: the per-client cap then caps them all together.
UNTRUSTED_PROXY_HINT = (
    "many connections from one private or loopback address: if it is a reverse proxy or load "
    "balancer, list it in HUB_TRUSTED_PROXIES, or every client behind it shares this cap"
)

CutReason = Literal[
    "idle_timeout",  # no byte of a request within the deadline
    "head_timeout",  # part of a head, not all of it, within the deadline
    "body_timeout",  # the head, not the whole body, within the deadline
    "headers_too_large",
    "too_many_connections",  # past the per-client cap
    "idle_evicted",  # closed to make room at the server's connection limit
]


@dataclass(frozen=True, slots=True)
class TransportLimits:
    receipt_timeout_seconds: float
    max_head_bytes: int
    max_connections_per_client: int
    max_connections: int | None
    uncapped_clients: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings, max_connections: int | None) -> TransportLimits:
        return cls(
            receipt_timeout_seconds=settings.receipt_timeout_seconds,
            max_head_bytes=settings.max_header_bytes,
            max_connections_per_client=settings.max_connections_per_client,
            max_connections=max_connections,
            # A trusted proxy carries many clients on its connections; it is not one client.
            uncapped_clients=settings.trusted_proxies,
        )


def client_key(client: tuple[str, int] | None) -> str | None:
    """The address the per-client cap counts by: IPv4 (mapped or not) as is, IPv6 by its /64
    (one host usually holds a whole /64), None for a peer without an address (a Unix socket)."""
    if client is None or not client[0]:
        return None
    address = parse_address(client[0])
    if address is None:
        return client[0]
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class ThrottledLog:
    """One warning per reason per interval, carrying how many were not logged since."""

    def __init__(self, interval: float = LOG_INTERVAL_SECONDS) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    def warning(self, reason: CutReason, **context: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(reason, -math.inf) < self._interval:
            self._unlogged[reason] = self._unlogged.get(reason, 0) + 1
            return
        self._last[reason] = now
        unlogged = self._unlogged.pop(reason, 0)
        log.warning("connection_cut", reason=reason, not_logged_since_last=unlogged, **context)


class ConnectionRegistry:
    """What one server's connections share: open connections per client, and the connections
    not yet serving a request, oldest first (a dict keeps insertion order)."""

    def __init__(self, limits: TransportLimits) -> None:
        self.limits = limits
        self.per_client: dict[str, int] = {}
        self.waiting: dict[HubHttpProtocol, None] = {}
        self.log = ThrottledLog()

    def key_for(self, client: tuple[str, int] | None) -> str | None:
        """The per-client cap's key for a socket peer; None when uncapped: no address, or a
        trusted proxy, matched by its raw address (the key of an IPv6 one is its /64)."""
        if client is not None and is_trusted_proxy(client[0], self.limits.uncapped_clients):
            return None
        return client_key(client)

    def admit(self, key: str | None) -> bool:
        cap = self.limits.max_connections_per_client
        if key is None:
            return True
        if self.per_client.get(key, 0) >= cap:
            return False
        self.per_client[key] = self.per_client.get(key, 0) + 1
        return True

    def release(self, key: str | None) -> None:
        if key is None or key not in self.per_client:
            return
        if self.per_client[key] <= 1:
            del self.per_client[key]
        else:
            self.per_client[key] -= 1

    def make_room(self, connections: set[Any], newcomer: HubHttpProtocol) -> None:
        """Keep the open connections below the server's limit (uvicorn answers 503 at it) by
        closing the ones that have waited longest without a complete request head."""
        limit = self.limits.max_connections
        if limit is None:
            return
        while len(connections) >= limit and self.waiting:
            victim = next(iter(self.waiting))
            if victim is newcomer:
                return
            victim.evict()

    def cut(self, reason: CutReason, client: tuple[str, int] | None, detail: str) -> None:
        metrics.CONNECTIONS_CUT.labels(reason).inc()
        context: dict[str, Any] = {"client": client[0] if client else None, "detail": detail}
        if reason == "too_many_connections" and client and _looks_like_a_proxy(client[0]):
            context["hint"] = UNTRUSTED_PROXY_HINT
        self.log.warning(reason, **context)


def _looks_like_a_proxy(peer: str) -> bool:
    address = parse_address(peer)
    return address is not None and (address.is_private or address.is_loopback)
