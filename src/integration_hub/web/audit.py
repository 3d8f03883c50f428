"""The audit trail of the admin API: one append-only row per admin action.

Audited: every signed-in request to `/api` that could change something (any method but GET and
HEAD) and every route that marks itself with `mark_audited` (raw body reads), whatever the
outcome, refusals by role (403) included. Requests with no valid identity (401) have no "who"
and are not written here; they are logged and counted instead. The row is committed before the
response starts, so a caller that has its answer can read its own audit entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from integration_hub.web import forwarded
from integration_hub.web.auth import Principal

log = structlog.get_logger(__name__)

PRINCIPAL = "hub_principal"  # keys in the request state (scope["state"])
AUDITED = "hub_audited"
AUDIT_DETAIL = "hub_audit_detail"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Recorder = Callable[[dict[str, Any]], Awaitable[None]]


def mark_audited(request: Request) -> None:
    """A dependency for reads that must leave a trace (raw bodies)."""
    setattr(request.state, AUDITED, True)


def add_audit_detail(request: Request, detail: str) -> None:
    """What the action was about beyond its path (a replay filter, a message id)."""
    setattr(request.state, AUDIT_DETAIL, detail)


def client_address(scope: Scope, trusted_proxies: Collection[str]) -> str | None:
    """Who made the request, by the edge's one rule (web/forwarded.py); None without a peer."""
    peer = scope.get("client")
    if not peer:
        return None
    # Repeated X-Forwarded-For headers are one list, in order (RFC 9110 field combination).
    values = [v.decode("latin-1") for n, v in scope.get("headers", []) if n == b"x-forwarded-for"]
    return forwarded.client_address(peer, ", ".join(values) or None, trusted_proxies)


class AuditMiddleware:
    def __init__(
        self, app: ASGIApp, *, record: Recorder, trusted_proxies: Collection[str] = ()
    ) -> None:
        self.app = app
        self.record = record
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        written = False

        async def write(status: int) -> None:
            nonlocal written
            written = True
            principal = state.get(PRINCIPAL)
            if not isinstance(principal, Principal):
                return
            if scope["method"] in READ_METHODS and not state.get(AUDITED):
                return
            entry = self._entry(scope, state, principal, status)
            try:
                await self.record(entry)
            except Exception as exc:  # the action already happened; say so loudly
                log.error("audit_write_failed", error=f"{type(exc).__name__}: {exc}", **entry)

        async def send_after_audit(message: Message) -> None:
            if message["type"] == "http.response.start" and not written:
                await write(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_after_audit)
        except Exception:
            if not written:
                await write(500)
            raise

    def _entry(
        self, scope: Scope, state: dict[str, Any], principal: Principal, status: int
    ) -> dict[str, Any]:
        route = scope.get("route")
        target = scope["path"]
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        if detail := state.get(AUDIT_DETAIL):
            target += " " + detail
        return {
            "actor": principal.subject[:255],
            "role": principal.role.label if principal.role else "none",
            "method": scope["method"][:8],
            # The route as written, without converters ({id:event_id} -> {id}).
            "route": str(
                getattr(route, "path_format", None) or getattr(route, "path", scope["path"])
            )[:255],
            "target": target,
            "client": client_address(scope, self.trusted_proxies),
            "status": status,
        }
