"""The edge's answers: the refusals it raises itself, and how any refusal is sent, counted and
logged (one way for every reason code: `reject`)."""

from __future__ import annotations

import orjson
import structlog
from starlette.types import Send

from integration_hub import metrics
from integration_hub.admission import RateLimited
from integration_hub.connectors.base import PartnerEvent
from integration_hub.errors import HubError, RejectedDelivery

log = structlog.get_logger(__name__)

Headers = tuple[tuple[bytes, bytes], ...]
CLOSE = (b"connection", b"close")
# The partner label of a request that names none of ours: what a sender puts in the path must
# not create label values (each is a time series kept for the life of the process).
NO_PARTNER = "-"


class BadPath(RejectedDelivery):
    status = 400
    reason = "bad_path"


class MethodNotAllowed(RejectedDelivery):
    status = 405
    reason = "method_not_allowed"


class BadContentLength(RejectedDelivery):
    status = 400
    reason = "bad_request"


class BodyTooLarge(RejectedDelivery):
    status = 413
    reason = "body_too_large"


class BodyTimeout(RejectedDelivery):
    status = 408
    reason = "request_timeout"


class HeadersTooLarge(RejectedDelivery):
    status = 431
    reason = "headers_too_large"


class OverRateLimit(RejectedDelivery):
    status = 429
    reason = "rate_limited"


async def send_bytes(
    send: Send, status: int, content_type: bytes, payload: bytes, extra: Headers = ()
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(payload)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def send_json(send: Send, status: int, body: object, extra: Headers = ()) -> None:
    await send_bytes(send, status, b"application/json", orjson.dumps(body), extra)


async def reject(
    send: Send, partner: str, rejection: RejectedDelivery, extra: Headers = (), **context: str
) -> None:
    metrics.REJECTIONS.labels(partner, rejection.reason).inc()
    metrics.DELIVERIES.labels(partner, "rejected").inc()
    # A 5xx refusal is the hub's to fix (a secret not set), a 4xx the sender's.
    emit = log.error if rejection.status >= 500 else log.info
    emit(
        "delivery_rejected",
        partner=partner,
        reason=rejection.reason,
        detail=rejection.detail,
        **context,
    )
    if rejection.status == 503:  # the hub's to fix (a secret not set): the partner comes back
        extra = (*extra, (b"retry-after", b"60"))
    body = {"error": rejection.reason, "detail": rejection.detail}
    await send_json(send, rejection.status, body, extra)


async def rate_limited(send: Send, partner: str, limited: RateLimited, client: str) -> None:
    detail = f"over the {limited.scope} limit of {limited.limit}; retry later"
    retry_after = (b"retry-after", str(limited.retry_after).encode())
    await reject(send, partner, OverRateLimit(detail), (retry_after,), client=client)


async def not_stored(send: Send, partner: str, error: HubError) -> None:
    """The commit failed: nothing was stored, the partner retries (503 with Retry-After)."""
    metrics.REJECTIONS.labels(partner, error.reason).inc()
    log.error("delivery_not_stored", partner=partner, reason=error.reason)
    body = {"error": error.reason, "detail": error.detail}
    await send_json(send, 503, body, ((b"retry-after", b"5"),))


def summary(events: list[PartnerEvent], new: list[bool]) -> dict[str, object]:
    """The JSON answer when the connector's `respond` leaves it to the edge."""
    return {
        "status": "accepted" if any(new) else "duplicate",
        "events": [_entry(event, is_new) for event, is_new in zip(events, new, strict=True)],
    }


def _entry(event: PartnerEvent, new: bool) -> dict[str, object]:
    if event.malformed is None:
        return {"id": event.partner_event_id, "new": new}
    return {"id": event.partner_event_id, "new": new, "malformed": True, "reason": event.malformed}
