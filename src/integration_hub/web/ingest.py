"""POST /webhooks/{partner}: the hot path. Raw ASGI, no partner-specific branches.

Admit first (header count and size: 431; the client address's rate limit: 429 with
Retry-After), read the body once (bounded in size, 413, and in time, 408), verify on the exact
bytes, then charge the partner's rate limit (429: only verified deliveries spend it), split into
partner events, wait for the group commit, then answer. Nothing is acknowledged before it is
committed; a commit that fails answers 503. Malformed entries of a verified batch are stored
dead-lettered and listed in the answer (see `connectors.base`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import orjson
import structlog
from opentelemetry.trace import SpanKind
from starlette.types import Message, Receive, Scope, Send

from integration_hub import metrics, tracing
from integration_hub.admission import (
    IngestRateLimiter,
    RateLimited,
    oversized_headers,
)
from integration_hub.connectors.base import (
    MAX_KEY_LENGTH,
    Connector,
    Delivery,
    PartnerEvent,
    storable_key,
)
from integration_hub.errors import HubError, MalformedPayload, RejectedDelivery
from integration_hub.pipeline.writer import GroupCommitWriter
from integration_hub.secrets import SecretSource
from integration_hub.storage.repo import NewRawEvent
from integration_hub.web.forwarded import client_address, request_url

log = structlog.get_logger(__name__)

PREFIX = "/webhooks/"
CLOSE = (b"connection", b"close")


class _BodyTooLarge(RejectedDelivery):
    status = 413
    reason = "body_too_large"


class _BodyTimeout(RejectedDelivery):
    status = 408
    reason = "request_timeout"


class _HeadersTooLarge(RejectedDelivery):
    status = 431
    reason = "headers_too_large"


class _RateLimited(RejectedDelivery):
    status = 429
    reason = "rate_limited"


async def _send(
    send: Send,
    status: int,
    content_type: bytes,
    payload: bytes,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(payload)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _respond(
    send: Send, status: int, body: object, extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    await _send(send, status, b"application/json", orjson.dumps(body), extra)


async def _reject(
    send: Send,
    partner: str,
    rejection: RejectedDelivery,
    extra: tuple[tuple[bytes, bytes], ...] = (),
    **context: str,
) -> None:
    metrics.REJECTIONS.labels(partner, rejection.reason).inc()
    metrics.DELIVERIES.labels(partner, "rejected").inc()
    log.info(
        "delivery_rejected",
        partner=partner,
        reason=rejection.reason,
        detail=rejection.detail,
        **context,
    )
    body = {"error": rejection.reason, "detail": rejection.detail}
    await _respond(send, rejection.status, body, extra)


async def _rate_limited(send: Send, partner: str, limited: RateLimited, client: str) -> None:
    detail = f"over the {limited.scope} limit of {limited.limit}; retry later"
    retry_after = (b"retry-after", str(limited.retry_after).encode())
    await _reject(send, partner, _RateLimited(detail), (retry_after,), client=client)


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError("client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge(f"body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _check_storable(events: list[PartnerEvent]) -> None:
    """Refused here, an unstorable id or type would fail the whole group commit it shares, for
    every partner. (A batch connector marks such an entry malformed itself, keeping the rest.)"""
    for event in events:
        for name, value in (("id", event.partner_event_id), ("type", event.event_type)):
            if not storable_key(value):
                raise MalformedPayload(
                    f"event {name} is longer than {MAX_KEY_LENGTH} characters or holds NUL"
                )


def _summary(event: PartnerEvent, new: bool) -> dict[str, object]:
    if event.malformed is None:
        return {"id": event.partner_event_id, "new": new}
    return {"id": event.partner_event_id, "new": new, "malformed": True, "reason": event.malformed}


class IngestApp:
    def __init__(
        self,
        *,
        connectors: Mapping[str, Connector],
        secrets: SecretSource,
        writer: GroupCommitWriter,
        max_body_bytes: int,
        public_base_url: str | None,
        trusted_proxies: frozenset[str] = frozenset(),
        rate_limiter: IngestRateLimiter | None = None,
        max_header_count: int = 100,
        max_header_bytes: int = 16 * 1024,
        body_timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._connectors = connectors
        self._secrets = secrets
        self._writer = writer
        self._max_body = max_body_bytes
        self._public_base = public_base_url.rstrip("/") if public_base_url else None
        self._trusted_proxies = trusted_proxies
        limiter = rate_limiter
        self._limiter = limiter if limiter is not None and limiter.enabled else None
        self._max_header_count = max_header_count
        self._max_header_bytes = max_header_bytes
        self._body_timeout = body_timeout_seconds
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not tracing.enabled():  # tracing off costs this one check
            await self._handle(scope, receive, send)
            return
        partner = scope["path"][len(PREFIX) :].rstrip("/")
        attributes = {"http.request.method": scope["method"], "hub.partner": partner}
        with tracing.tracer().start_as_current_span(
            f"{scope['method']} {PREFIX}{{partner}}", kind=SpanKind.SERVER, attributes=attributes
        ) as span:

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self._handle(scope, receive, traced_send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        partner = scope["path"][len(PREFIX) :].rstrip("/")
        connector = self._connectors.get(partner)
        if connector is None:
            await _respond(
                send, 404, {"error": "unknown_partner", "detail": f"no partner {partner!r}"}
            )
            return
        if scope["method"] != "POST":
            await _respond(
                send,
                405,
                {"error": "method_not_allowed", "detail": "use POST"},
                ((b"allow", b"POST"),),
            )
            return
        raw_headers = scope["headers"]
        if too_large := oversized_headers(
            raw_headers, max_count=self._max_header_count, max_bytes=self._max_header_bytes
        ):
            await _reject(send, partner, _HeadersTooLarge(too_large), (CLOSE,))
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        # The client address is a rate-limit key only: without limits, it is not worked out.
        client = ""
        if self._limiter is not None:
            client = client_address(
                scope.get("client"), headers.get("x-forwarded-for"), self._trusted_proxies
            )
        # Only the client's budget before verification: the partner's is spent by verified
        # deliveries alone, below.
        if self._limiter is not None and (limited := await self._limiter.admit_client(client)):
            await _rate_limited(send, partner, limited, client)
            return
        secret_name = connector.manifest.webhook_secret
        secrets = self._secrets.versions(secret_name)
        if not secrets:
            metrics.REJECTIONS.labels(partner, "secret_not_configured").inc()
            log.error("delivery_rejected", partner=partner, reason="secret_not_configured")
            detail = f"{secret_name} is not set; the hub cannot verify {partner} deliveries"
            await _respond(send, 503, {"error": "secret_not_configured", "detail": detail})
            return
        declared_length = headers.get("content-length", "0") or "0"
        if not declared_length.isdigit():
            await _respond(send, 400, {"error": "bad_request", "detail": "invalid content-length"})
            return
        try:
            declared = int(declared_length)
            if declared > self._max_body:
                raise _BodyTooLarge(f"content-length {declared} exceeds {self._max_body} bytes")
            try:
                async with asyncio.timeout(self._body_timeout):
                    body = await _read_body(receive, self._max_body)
            except TimeoutError:
                detail = f"the body did not arrive within {self._body_timeout:g} s"
                await _reject(send, partner, _BodyTimeout(detail), (CLOSE,))
                return
            now = self._clock()
            url = ""
            if connector.manifest.signs_url:
                url = request_url(
                    scope,
                    headers,
                    public_base=self._public_base,
                    trusted_proxies=self._trusted_proxies,
                )
            delivery = Delivery(body, headers, url, now)
            connector.verify(delivery, secrets, now=now)
            if self._limiter is not None and (
                limited := await self._limiter.admit_partner(partner)
            ):
                await _rate_limited(send, partner, limited, client)
                return
            events = connector.split(delivery)
            _check_storable(events)
        except RejectedDelivery as rejection:
            await _reject(send, partner, rejection)
            return
        except ConnectionAbortedError:
            return
        received_at = datetime.fromtimestamp(now, UTC)
        kept = {k: v for k, v in headers.items() if k in connector.manifest.kept_headers}
        if tracing.enabled() and (traceparent := tracing.current_traceparent()):
            kept[tracing.TRACEPARENT_HEADER] = traceparent  # the normalize span's parent
        rows = [
            # A malformed entry of a batch is stored dead-lettered, with its reason.
            NewRawEvent(
                partner, e.partner_event_id, e.event_type, received_at, kept, e.body, e.malformed
            )
            for e in events
        ]
        try:
            new = await self._writer.submit(rows)
        except HubError as err:
            metrics.REJECTIONS.labels(partner, err.reason).inc()
            log.error("delivery_not_stored", partner=partner, reason=err.reason)
            await _respond(
                send, 503, {"error": err.reason, "detail": err.detail}, ((b"retry-after", b"5"),)
            )
            return
        accepted = sum(new)
        if accepted:
            metrics.DELIVERIES.labels(partner, "accepted").inc(accepted)
        if accepted < len(new):
            metrics.DELIVERIES.labels(partner, "duplicate").inc(len(new) - accepted)
        for event, is_new in zip(events, new, strict=True):
            if event.malformed is not None and is_new:
                metrics.DEAD_LETTERED_AT_EDGE.labels(partner).inc()
                log.warning(
                    "malformed_entry_dead_lettered",
                    partner=partner,
                    partner_event_id=event.partner_event_id,
                    reason=event.malformed,
                )
        if connector.manifest.ack is not None:
            content_type, payload = connector.manifest.ack
            await _send(send, 200, content_type.encode(), payload)
            return
        await _respond(
            send,
            200,
            {
                "status": "accepted" if accepted else "duplicate",
                "events": [_summary(e, n) for e, n in zip(events, new, strict=True)],
            },
        )
