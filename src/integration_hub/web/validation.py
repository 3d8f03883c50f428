"""The admin API's boundary: declared parameter types, and refusals in the hub's error shape.

Every query and path parameter is declared with its constraints (pattern, length, range, enum),
so the OpenAPI document states them and FastAPI refuses what does not fit before a handler runs.
Whatever is refused, by validation or by a handler, is answered
`{"error": "<reason>", "detail": "..."}`, logged once and counted in
`hub_admin_rejections_total{reason}`: a parameter that fails its declaration gets 400
`bad_<parameter>` (`bad_cursor`, `bad_limit`, `bad_status`, ...), a body 422 `bad_body`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from integration_hub import metrics
from integration_hub.connectors.base import MAX_KEY_LENGTH

# Re-exported: defined below the web layer so the routes partners contribute can use it too.
from integration_hub.connectors.text import StorableText as StorableText
from integration_hub.errors import NotReplayable

log = structlog.get_logger(__name__)


# Cursors are row ids we issued: ASCII digits (`\d` and str.isdigit() also take "²" or "٣"),
# within a signed 64-bit id column.
CURSOR_PATTERN = r"^[0-9]{1,19}$"
MAX_CURSOR = 2**63 - 1
PARTNER_PATTERN = r"^[a-z0-9_-]{1,64}$"
# What a text column can hold on every database: PostgreSQL refuses NUL in text.
NO_NUL_PATTERN = r"^[^\x00]*$"

PartnerFilter = Annotated[
    str | None,
    Query(pattern=PARTNER_PATTERN, description="A partner's name, as `hub connectors` lists it."),
]
PartnerSegment = Annotated[
    str,
    Path(pattern=PARTNER_PATTERN, description="A partner's name, as `hub connectors` lists it."),
]
EventIdSegment = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=NO_NUL_PATTERN,
        description="The partner's own event id, percent-encoded as one path segment "
        '(`quote(id, safe="")`; `.` and `..` as `%2E` and `%2E%2E`).',
    ),
]
TextFilter = Annotated[str | None, Query(max_length=MAX_KEY_LENGTH, pattern=NO_NUL_PATTERN)]
Cursor = Annotated[
    str | None,
    Query(
        pattern=CURSOR_PATTERN,
        description=f"`next_cursor` of the previous page (decimal, at most {MAX_CURSOR}).",
    ),
]
Limit = Annotated[int, Query(ge=1, le=500)]


def parse_cursor(cursor: str | None) -> int | None:
    """The row id a declared cursor stands for; 400 `bad_cursor` past the id column's range."""
    if cursor is None:
        return None
    before = int(cursor)  # ASCII digits only: the declared pattern holds
    if before > MAX_CURSOR:
        raise HTTPException(
            400, detail={"error": "bad_cursor", "detail": "cursor is not one we issued"}
        )
    return before


def utc_bound(moment: datetime | None) -> datetime | None:
    """A receipt-time bound in UTC (stored times are UTC; SQLite compares them as text). A time
    without a zone is UTC; one whose UTC value falls outside year 1..9999 is clamped to it."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00: before any time we can have stored
        edge = datetime.min if moment.year == datetime.min.year else datetime.max
        return edge.replace(tzinfo=UTC)


def _reason_for(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    loc = tuple(errors[0].get("loc", ())) if errors else ()
    if len(loc) >= 2 and loc[0] in {"query", "path", "header", "cookie"}:
        return 400, f"bad_{loc[1]}"
    return 422, "bad_body"


def _describe(exc: RequestValidationError) -> str:
    """Where and why, never the value (it may be huge, or somebody's data)."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)[:500]


def refuse(request: Request, status: int, body: dict[str, Any]) -> None:
    """Log and count one refusal (auth refusals are logged where they are decided)."""
    reason = str(body.get("error", "http_error"))
    metrics.ADMIN_REJECTIONS.labels(reason=reason).inc()
    if status != 401:
        route = request.scope.get("route")
        log.info(
            "admin_request_refused",
            reason=reason,
            status=status,
            route=getattr(route, "path", None),
            method=request.method,
            detail=str(body.get("detail", ""))[:500],
        )


def install_error_handlers(app: FastAPI) -> None:
    """Every refusal of `app` (and of routers included later) in the hub's error shape."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = (
            exc.detail
            if isinstance(exc.detail, dict)
            else {
                "error": _GENERIC_REASONS.get(exc.status_code, "http_error"),
                "detail": exc.detail,
            }
        )
        refuse(request, exc.status_code, body)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, reason = _reason_for(exc)
        body = {"error": reason, "detail": _describe(exc)}
        refuse(request, status, body)
        return JSONResponse(body, status_code=status)

    @app.exception_handler(NotReplayable)
    async def not_replayable(request: Request, exc: NotReplayable) -> JSONResponse:
        # Raised by the storage layer, which knows what a row is; 409: the row exists but its
        # state (a malformed batch entry) forbids the change.
        body = {"error": exc.reason, "detail": exc.detail}
        refuse(request, 409, body)
        return JSONResponse(body, status_code=409)


_GENERIC_REASONS = {404: "not_found", 405: "method_not_allowed"}
