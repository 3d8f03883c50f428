"""Hostaway's unified webhook, one endpoint per connection: `/webhooks/hostaway/<connection>`.

Hostaway signs nothing; it sends the login and password set on the webhook as HTTP Basic
(optional at Hostaway, required by the hub: the edge refuses a connection with no
`HOSTAWAY_WEBHOOK_BASIC_AUTH__<CONNECTION>`). The shared Basic scheme compares it in constant
time with every current version of that connection's `login:password`.

A delivery is `{"object", "event", "accountId", "data": <the whole reservation>}` and carries
no id, and Hostaway fires on every modification, out of order, retrying 5xx: the dedup key is
`<connection>:<event>:<data.id>:<hash of the canonical data>`, so a retried delivery is a
duplicate and a real change is a new event. Unknown events (`message.received`, anything new)
are stored and ignored, answered 200 as Hostaway asks.

The same connector normalizes what the polls and the fetch store (`reservation.polled`,
`reservation.fetched`, `listing.polled`: the bare object, one per event); a webhook can never
store one of those types (it is renamed `webhook.<event>`, ignored).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from integration_hub.connectors import pms
from integration_hub.connectors.base import Delivery, InternalEventDraft, Manifest, PartnerEvent
from integration_hub.connectors.hostaway import NAME, WEBHOOK_BASIC_AUTH, mapping, samples
from integration_hub.connectors.schemes.basic import BasicAuth
from integration_hub.errors import MalformedPayload
from integration_hub.secrets.instances import is_instance_id

RESERVATION_CREATED = "reservation.created"
RESERVATION_UPDATED = "reservation.updated"
MESSAGE_RECEIVED = "message.received"
WEBHOOK_RESERVATION_EVENTS = frozenset({RESERVATION_CREATED, RESERVATION_UPDATED})
# What the hub itself stores (polls, fetches): a bare Hostaway object per event.
RESERVATION_POLLED = "reservation.polled"
RESERVATION_FETCHED = "reservation.fetched"
LISTING_POLLED = "listing.polled"
STORED_RESERVATION_TYPES = frozenset({RESERVATION_POLLED, RESERVATION_FETCHED})
OWN_TYPES = STORED_RESERVATION_TYPES | {LISTING_POLLED}


def canonical(value: Any) -> bytes:
    """The same JSON value, the same bytes (sorted keys): what the content hashes cover."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _parsed(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedPayload("the body is not JSON") from None


class HostawayConnector:
    manifest = Manifest(
        name=NAME,
        webhook_secret=WEBHOOK_BASIC_AUTH,
        kept_headers=frozenset({"content-type", "user-agent"}),  # never Authorization
        event_map={
            RESERVATION_CREATED: pms.RESERVATION_OBSERVED,
            RESERVATION_UPDATED: pms.RESERVATION_OBSERVED,
        },
        signs_body=False,
        signs_timestamp=False,
        endpoints=None,
        secret_per_endpoint=True,
    )
    scheme = BasicAuth()

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        self.scheme.verify(delivery.headers, secrets)

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        if not is_instance_id(delivery.endpoint):
            raise MalformedPayload("a Hostaway delivery comes to /webhooks/hostaway/<connection>")
        body = _parsed(delivery.body)
        if not isinstance(body, dict):
            raise MalformedPayload("the body is not a JSON object")
        event = body.get("event")
        if not isinstance(event, str) or not event:
            raise MalformedPayload("the body has no `event`")
        data = body.get("data")
        data_id = data.get("id") if isinstance(data, dict) else None
        key = f"{event}:{data_id if data_id is not None else ''}:"
        key += pms.content_hash(canonical(data))
        event_type = f"webhook.{event}" if event in OWN_TYPES else event
        return [
            PartnerEvent(pms.connection_event_id(delivery.endpoint, key), event_type, delivery.body)
        ]

    def respond(self, delivery: Delivery, events: Sequence[PartnerEvent]) -> None:
        return None  # Hostaway reads the status only

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        if event.event_type in WEBHOOK_RESERVATION_EVENTS:
            data = orjson.loads(event.body).get("data")
        elif event.event_type in OWN_TYPES:
            data = orjson.loads(event.body)
        else:
            return []
        if not isinstance(data, dict):
            raise ValueError("the Hostaway object is not a JSON object")
        connection = pms.connection_of(event.partner_event_id)
        if event.event_type == LISTING_POLLED:
            return [pms.listing_observed(mapping.listing(data, connection=connection))]
        observed = mapping.reservation(data, connection=connection)
        # The event's time from the data when it has one, so a replay builds the same event.
        moment = observed.source_updated_at or observed.booked_at
        return [pms.reservation_observed(observed, time=moment)]

    def sample(self, event_type: str) -> bytes:
        if event_type == RESERVATION_UPDATED:
            return samples.envelope(event_type, samples.date_change())
        if event_type == MESSAGE_RECEIVED:
            return samples.envelope(event_type, samples.message(), kind="conversationMessage")
        if event_type in STORED_RESERVATION_TYPES:
            return canonical(samples.reservation())
        if event_type == LISTING_POLLED:
            return canonical(samples.listing())
        return samples.envelope(event_type, samples.reservation())

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        return {**self.scheme.sign(secret), "Content-Type": "application/json"}
