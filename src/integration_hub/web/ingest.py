"""POST /webhooks/{partner}[/{endpoint}]: the hot path. Raw ASGI, no partner-specific branches.

Route first (a path of another shape: 400 `bad_path`; a partner we do not have or an endpoint
its manifest does not declare: 404), then admit (header count and size: 431; the client
address's rate limit: 429 with Retry-After), read the body once (bounded in size, 413, and in
time, 408), verify on the exact bytes, then charge the partner's rate limit (429: only verified
deliveries spend it), await the connector's optional `prepare` (`Prepares`: I/O its split needs,
bounded by PREPARE_SECONDS), split into partner events, wait for the group commit, then answer with
what the connector's `respond` builds (or a JSON summary). Nothing is acknowledged before it is
committed; a commit that fails answers 503. Malformed entries of a verified batch are stored
dead-lettered and listed in the answer (see `connectors.base`). Every refusal is counted in
`hub_rejections_total` and logged with its reason code (`ingest_answers.reject`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import structlog
from opentelemetry.trace import SpanKind
from starlette.types import Message, Receive, Scope, Send

from integration_hub import metrics, tracing
from integration_hub.admission import IngestRateLimiter, oversized_headers
from integration_hub.connectors.base import (
    MAX_KEY_LENGTH,
    Connector,
    Delivery,
    PartnerEvent,
    storable_key,
)
from integration_hub.errors import (
    HubError,
    MalformedPayload,
    RejectedDelivery,
    SecretNotConfigured,
    UnknownEndpoint,
    UnknownPartner,
)
from integration_hub.pipeline.writer import GroupCommitWriter
from integration_hub.secrets import SecretSource
from integration_hub.secrets.instances import instance_secret_name, is_instance_id
from integration_hub.storage.raw_events import NewRawEvent
from integration_hub.web.forwarded import client_address, request_url
from integration_hub.web.ingest_answers import (
    CLOSE,
    NO_PARTNER,
    BadContentLength,
    BadPath,
    BodyTimeout,
    BodyTooLarge,
    HeadersTooLarge,
    MethodNotAllowed,
    not_stored,
    rate_limited,
    reject,
    send_bytes,
    send_json,
    summary,
)

log = structlog.get_logger(__name__)

PREFIX = "/webhooks/"
SHOWN_CHARS = 64  # of a path segment quoted back in an answer or a log line
Route = tuple[str, str]  # (partner, endpoint)
# How long the edge waits for a connector's `prepare`: past it, `split` gets None.
PREPARE_SECONDS = 0.5


@runtime_checkable
class Prepares(Protocol):
    """A connector whose `split` needs something read first (the Twilio IVR: a known caller's
    language). `prepare` reads it without blocking the event loop (its blocking I/O runs in
    threads of its own); the edge awaits it for verified deliveries only, at most
    PREPARE_SECONDS, and hands what it returned to `split` (None after a timeout or an error:
    `split` must answer without it)."""

    async def prepare(self, delivery: Delivery) -> object: ...

    def split(self, delivery: Delivery, prepared: object = None) -> list[PartnerEvent]: ...


def route(path: str) -> Route | None:
    """(partner, endpoint) of /webhooks/{partner} (endpoint "") or /webhooks/{partner}/{endpoint},
    trailing slashes ignored; None for any other shape (no partner, an empty or a third segment).
    """
    partner, _, endpoint = path[len(PREFIX) :].rstrip("/").partition("/")
    if not partner or "/" in endpoint:
        return None
    return partner, endpoint


def route_template(found: Route | None) -> str:
    """The route as OpenAPI and the span name show it (never the endpoint: it may be a token)."""
    return f"{PREFIX}{{partner}}/{{endpoint}}" if found and found[1] else f"{PREFIX}{{partner}}"


def _shown(segment: str) -> str:
    return repr(segment[:SHOWN_CHARS])


def _path_shape(path: str) -> str:
    """A refused path for the log line: its first segment and how many follow, never the rest
    (for a partner on a path token, a later segment is its secret)."""
    segments = path.removeprefix(PREFIX).split("/") if path.startswith(PREFIX) else [path]
    return f"{PREFIX}{segments[0][:SHOWN_CHARS]} (+{len(segments) - 1} segments)"


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
            raise BodyTooLarge(f"body exceeds {limit} bytes")
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


def _count_stored(partner: str, events: list[PartnerEvent], new: list[bool]) -> None:
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


async def _prepare(partner: str, connector: Prepares, delivery: Delivery) -> object:
    """What the connector's `prepare` returns within PREPARE_SECONDS, else None (logged with the
    error's type only: a database error's text may carry a phone number)."""
    try:
        return await asyncio.wait_for(connector.prepare(delivery), PREPARE_SECONDS)
    except Exception as error:  # TimeoutError too: the delivery is answered without it
        metrics.PREPARE_FAILURES.labels(partner, type(error).__name__).inc()
        log.warning("prepare_failed", partner=partner, error=type(error).__name__)
        return None


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
        max_header_count: int = 128,
        max_header_bytes: int = 16 * 1024,
        body_timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._connectors = connectors
        # Told once: a runtime protocol check is too slow for every request.
        self._preparing = {n: c for n, c in connectors.items() if isinstance(c, Prepares)}
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
        found = route(scope["path"])  # once per request, traced or not
        if not tracing.enabled():  # tracing off costs this one check
            await self._handle(scope, receive, send, found)
            return
        template = route_template(found)
        attributes = {
            "http.request.method": scope["method"],
            "http.route": template,
            "hub.partner": found[0] if found else "",
        }
        with tracing.tracer().start_as_current_span(
            f"{scope['method']} {template}", kind=SpanKind.SERVER, attributes=attributes
        ) as span:

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self._handle(scope, receive, traced_send, found)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, found: Route | None
    ) -> None:
        if found is None:
            detail = f"expected {PREFIX}{{partner}} or {PREFIX}{{partner}}/{{endpoint}}"
            await reject(send, NO_PARTNER, BadPath(detail), path=_path_shape(scope["path"]))
            return
        partner, endpoint = found
        connector = self._connectors.get(partner)
        if connector is None:
            await reject(send, NO_PARTNER, UnknownPartner(f"no partner {_shown(partner)}"))
            return
        manifest = connector.manifest
        if manifest.endpoints is not None and endpoint not in manifest.endpoints:
            detail = f"{partner} has no endpoint {_shown(endpoint)}"
            await reject(send, partner, UnknownEndpoint(detail))
            return
        if scope["method"] != "POST":
            await reject(send, partner, MethodNotAllowed("use POST"), ((b"allow", b"POST"),))
            return
        raw_headers = scope["headers"]
        if too_large := oversized_headers(
            raw_headers, max_count=self._max_header_count, max_bytes=self._max_header_bytes
        ):
            await reject(send, partner, HeadersTooLarge(too_large), (CLOSE,))
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
            await rate_limited(send, partner, limited, client)
            return
        variable = manifest.webhook_secret
        if manifest.secret_per_endpoint:
            # One connection per endpoint (a PMS account): its own secret family instance.
            if not is_instance_id(endpoint):
                await reject(send, partner, UnknownEndpoint(f"{partner} has no such endpoint"))
                return
            variable = instance_secret_name(variable, endpoint)
        secrets = self._secrets.versions(variable)
        if not secrets and manifest.secret_per_endpoint:
            # No such connection (or its secret is gone): 404, as for any unknown endpoint.
            await reject(send, partner, UnknownEndpoint(f"{partner} has no such endpoint"))
            return
        if not secrets:
            detail = f"{variable} is not set; the hub cannot verify {partner} deliveries"
            await reject(send, partner, SecretNotConfigured(detail))
            return
        declared_length = headers.get("content-length", "0") or "0"
        if not declared_length.isdigit():
            await reject(send, partner, BadContentLength("invalid content-length"))
            return
        try:
            declared = int(declared_length)
            if declared > self._max_body:
                raise BodyTooLarge(f"content-length {declared} exceeds {self._max_body} bytes")
            try:
                async with asyncio.timeout(self._body_timeout):
                    body = await _read_body(receive, self._max_body)
            except TimeoutError:
                detail = f"the body did not arrive within {self._body_timeout:g} s"
                await reject(send, partner, BodyTimeout(detail), (CLOSE,))
                return
            now = self._clock()
            url = ""
            if manifest.signs_url:
                url = request_url(
                    scope,
                    headers,
                    public_base=self._public_base,
                    trusted_proxies=self._trusted_proxies,
                )
            delivery = Delivery(body, headers, url, now, endpoint)
            connector.verify(delivery, secrets, now=now)
            if self._limiter is not None and (
                limited := await self._limiter.admit_partner(partner)
            ):
                await rate_limited(send, partner, limited, client)
                return
            if (preparing := self._preparing.get(partner)) is not None:
                prepared = await _prepare(partner, preparing, delivery)
                events = preparing.split(delivery, prepared)
            else:
                events = connector.split(delivery)
            _check_storable(events)
        except RejectedDelivery as rejection:
            await reject(send, partner, rejection)
            return
        except ConnectionAbortedError:
            return
        received_at = datetime.fromtimestamp(now, UTC)
        kept = {k: v for k, v in headers.items() if k in manifest.kept_headers}
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
        except HubError as error:
            await not_stored(send, partner, error)
            return
        _count_stored(partner, events, new)
        try:  # read-only, after the commit: a bug here must not turn a stored delivery into a
            # 500 the partner retries forever (each retry a duplicate that fails the same way)
            answer = connector.respond(delivery, events)
        except Exception:
            log.exception("respond_failed", partner=partner)
            answer = None
        if answer is None:
            await send_json(send, 200, summary(events, new))
        else:
            content_type, payload = answer
            await send_bytes(send, 200, content_type.encode("latin-1"), payload)
