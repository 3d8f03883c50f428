"""Guesty's webhooks, sent through Svix: the shared Standard Webhooks scheme verifies them
(`svix-id`, `svix-timestamp`, `svix-signature`, within the configured tolerance), each
connection (`/webhooks/guesty/<connection>`) with its own `GUESTY_WEBHOOK_SECRET__<CONNECTION>`.

The dedup key is `svix-id` (kept across retries of one message), prefixed with the connection.
The body names its type in `event` (`{"event": "reservation.new", "reservation": {...}}`).
Mapped: the v2 reservation events (lean: the stay only, observed incomplete, so the core
fetches the rest; one without dates is only a hint to fetch), the legacy ones (the whole
reservation), listing.new/updated (the whole listing). A cancellation is an update whose
status is canceled, declined or closed. `calendar.updated.v2` is stored and ignored: it names
a date range only, blocks never make turnover jobs, and the reservation events carry the
stays. The fetch (calls.py) and the reconciliation poll (polls.py) store whole reservations as
`reservation.fetched` and `reservation.polled`, normalized here like the legacy ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from integration_hub.connectors import pms
from integration_hub.connectors.base import (
    Delivery,
    InternalEventDraft,
    Manifest,
    PartnerEvent,
    storable_key,
)
from integration_hub.connectors.guesty import NAME, WEBHOOK_SECRET, payloads, samples
from integration_hub.connectors.schemes.common import DEFAULT_TOLERANCE_SECONDS
from integration_hub.connectors.schemes.signed import SchemeSigned
from integration_hub.connectors.schemes.standard_webhooks import HEADERS, StandardWebhooks
from integration_hub.errors import MalformedPayload
from integration_hub.secrets.instances import is_instance_id

LEAN_TYPES = ("reservation.created.v2", "reservation.updated.v2")
LEGACY_TYPES = ("reservation.new", "reservation.updated")
LISTING_TYPES = ("listing.new", "listing.updated")
CALENDAR_TYPE = "calendar.updated.v2"  # no mapping: see the module's docstring
FETCHED_TYPE = "reservation.fetched"  # stored by the fetch, never delivered
POLLED_TYPE = "reservation.polled"  # stored by the reconciliation poll, never delivered
WHOLE_TYPES = (FETCHED_TYPE, POLLED_TYPE)
UNKNOWN_TYPE = "unknown"  # a verified body that names no type: stored, ignored
MAX_TYPE = 100

MAPPING: dict[str, str] = {
    **dict.fromkeys(LEAN_TYPES + LEGACY_TYPES, pms.RESERVATION_OBSERVED),
    **dict.fromkeys(LISTING_TYPES, pms.LISTING_OBSERVED),
}


def _event_type(body: Mapping[str, Any]) -> str:
    named = body.get("event", body.get("type"))
    if isinstance(named, str):
        if len(named) > MAX_TYPE or not storable_key(named):
            raise MalformedPayload(f"the event type is not a name of at most {MAX_TYPE} chars")
        return named
    if isinstance(body.get("dateRange"), Mapping) and "listingId" in body:
        return CALENDAR_TYPE  # the documented calendar v2 example names no event
    return UNKNOWN_TYPE


def stay_fields(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The v2 stay details: at the top of the body, or in its `reservation` or `data` object."""
    if "reservationId" in body:
        return body
    for name in ("reservation", "data"):
        if isinstance(inner := body.get(name), Mapping):
            return inner
    return body


class GuestyConnector(SchemeSigned):
    scheme: StandardWebhooks
    manifest = Manifest(
        name=NAME,
        webhook_secret=WEBHOOK_SECRET,
        kept_headers=frozenset({"content-type", "user-agent"}) | HEADERS,
        event_map=MAPPING,
        endpoints=None,
        secret_per_endpoint=True,
    )

    def __init__(self, *, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> None:
        # HUB_SIGNATURE_TOLERANCE_SECONDS, from `WebhookContext.tolerance_seconds`.
        self.scheme = StandardWebhooks(tolerance_seconds=tolerance_seconds)

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        if not is_instance_id(delivery.endpoint):
            raise MalformedPayload("the path names no connection")
        try:
            body = orjson.loads(delivery.body)
        except orjson.JSONDecodeError:
            raise MalformedPayload("body is not JSON") from None
        if not isinstance(body, dict):
            raise MalformedPayload("the body is not a JSON object")
        message_id = self.scheme.message_id(delivery.headers)
        event_id = pms.connection_event_id(delivery.endpoint, message_id)
        return [PartnerEvent(event_id, _event_type(body), delivery.body)]

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        kind = event.event_type
        if kind not in MAPPING and kind not in WHOLE_TYPES:
            return []
        connection = pms.connection_of(event.partner_event_id)
        body = orjson.loads(event.body)
        if not isinstance(body, dict):
            raise ValueError("the body is not a JSON object")
        if kind in LEAN_TYPES:
            stay = stay_fields(body)
            if "checkInDateLocalized" not in stay and "checkOutDateLocalized" not in stay:
                # A change without the stay (money, guest): only a reason to fetch it again.
                reservation_id = payloads.required_id(stay, "reservationId", "_id")
                return [
                    pms.reservation_hinted(
                        source=NAME,
                        connection=connection,
                        source_reservation_id=reservation_id,
                        time=payloads.instant(stay.get("publishedAt")),
                    )
                ]
            return [pms.reservation_observed(payloads.lean_reservation(connection, stay))]
        if kind in LEGACY_TYPES:
            reservation = payloads.part(body, "reservation")
            return [pms.reservation_observed(payloads.full_reservation(connection, reservation))]
        if kind in WHOLE_TYPES:
            return [pms.reservation_observed(payloads.full_reservation(connection, body))]
        listing = payloads.part(body, "listing")
        return [pms.listing_observed(payloads.listing(connection, listing))]

    def sample(self, event_type: str) -> bytes:
        if event_type in WHOLE_TYPES:
            return orjson.dumps(samples.full_reservation())
        return samples.payload(event_type)
