"""How the hub is served: the uvicorn config (`hub serve` and the tests build it here, so tests
exercise the production transport), with an HTTP protocol that bounds what a client may hold
(web/http_protocol.py, and web/connection_registry.py for what connections share).

uvicorn's httptools protocol has no deadline for receiving a request (its keep-alive timer is
reset by every byte and is not armed at all before the first request), no per-client
connection limit, and no limit on a request head: httptools keeps an unfinished header in
memory however long it grows. `HubHttpProtocol` adds, below the ASGI app and on every route:

- a receipt deadline: a request's head and body must arrive within
  `HUB_RECEIPT_TIMEOUT_SECONDS`, counted from the connection's opening for its first request
  and from the first byte of each later one; then 408 (when the request can still be answered)
  and close;
- a cap on the request head (request line and header lines) of `HUB_MAX_HEADER_BYTES`,
  checked before bytes reach the parser: 431 and close as soon as it is passed;
- `HUB_MAX_CONNECTIONS_PER_CLIENT` connections per client address (IPv6 by /64, which one
  host usually holds whole); more are answered 503 and closed at once;
- when the server holds `HUB_MAX_CONCURRENCY` connections, a new one closes the connection that
  has waited longest without handing a complete request head to the app, so sockets held open
  by an attacker from many addresses give way to a partner's delivery instead of uvicorn
  answering 503 to everyone.

Every cut counts in `hub_connections_cut_total{reason}` and is logged, at most one line per
reason every few seconds (a flood must not become a log flood).
"""

from __future__ import annotations

import math
import resource
from typing import Literal

import structlog
import uvicorn
from starlette.types import ASGIApp

from integration_hub.settings import Settings
from integration_hub.web.connection_registry import TransportLimits
from integration_hub.web.http_protocol import protocol_class

log = structlog.get_logger(__name__)

# File descriptors kept for everything that is not a client connection (database, Temporal,
# log files, the worker child's pipes).
RESERVED_FILE_DESCRIPTORS = 256


def connection_limit(configured: int | None) -> int | None:
    """HUB_MAX_CONCURRENCY, raising the open-file limit to hold it if allowed, else lowered to
    what the limit holds: accept() failing for lack of descriptors would refuse everyone."""
    if configured is None:
        return None
    needed = configured + RESERVED_FILE_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < needed:
        lowered = max(1, soft - RESERVED_FILE_DESCRIPTORS)
        log.warning(
            "max_concurrency_lowered", configured=configured, used=lowered, open_file_limit=soft
        )
        return lowered
    return configured


def build_config(
    app: ASGIApp,
    settings: Settings,
    *,
    host: str,
    port: int,
    loop: Literal["none", "auto", "asyncio", "uvloop"] = "uvloop",
    lifespan: Literal["auto", "on", "off"] = "on",
    timeout_graceful_shutdown: int | None = 30,
) -> uvicorn.Config:
    """The uvicorn config `hub serve` runs (and the tests serve with)."""
    max_connections = connection_limit(settings.max_concurrency)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=loop,
        http=protocol_class(TransportLimits.from_settings(settings, max_connections)),
        ws="none",  # the hub serves no WebSocket; an upgrade request is answered as plain HTTP
        lifespan=lifespan,
        access_log=False,
        log_level="warning",
        # Idle keep-alive connections close after HUB_KEEP_ALIVE_SECONDS (uvicorn takes whole
        # seconds; never 0, which would close every connection after its first answer).
        timeout_keep_alive=max(1, math.ceil(settings.keep_alive_seconds)),
        limit_concurrency=max_connections,
        timeout_graceful_shutdown=timeout_graceful_shutdown,
        # uvicorn would take X-Forwarded-For from 127.0.0.1 by default; HUB_TRUSTED_PROXIES decides.
        proxy_headers=False,
    )
