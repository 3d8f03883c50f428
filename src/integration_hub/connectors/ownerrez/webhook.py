"""OwnerRez's webhooks (OAuth apps) and the normalization of every OwnerRez event.

A delivery reaches `/webhooks/ownerrez/<connection>` with HTTP Basic credentials (the user and
password set in the app's Webhooks settings; OwnerRez signs nothing), checked in constant time
against every version of that connection's `OWNERREZ_WEBHOOK_BASIC_AUTH__<CONNECTION>`. The
body names the changed entity (`entity_id`); its type (`entity_type`, `type` or `category`:
not confirmed, pms.md §4) defaults to a booking. A booking becomes `pms.reservation_hinted`
(the core fetches it: `ownerrez.fetch_reservation`); guests, properties and messages are
stored and ignored. The dedup key is the entity, the delivery's id when the body has one (else
the second it arrived) and a hash of the body: the same body comes for every change of a
booking, so a later change must not be a duplicate of the first.

Polled and fetched bookings (`booking.polled`, `booking.fetched`) and polled properties
(`property.polled`) are the API's JSON for one object each (polls.py, calls.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from integration_hub.connectors import pms
from integration_hub.connectors.base import Delivery, InternalEventDraft, Manifest, PartnerEvent
from integration_hub.connectors.ownerrez import NAME, WEBHOOK_BASIC_AUTH, mapping, samples
from integration_hub.connectors.schemes.basic import BasicAuth
from integration_hub.errors import MalformedPayload, NormalizationError, UnknownEndpoint
from integration_hub.secrets.instances import is_instance_id

BOOKING = "booking"
BOOKING_POLLED = "booking.polled"
BOOKING_FETCHED = "booking.fetched"
PROPERTY_POLLED = "property.polled"
# Stored by the fetch when OwnerRez answers 404 (gone.py); ".fetched": the hub stores it,
# it never arrives as a delivery (testing.NOT_DELIVERED_SUFFIXES).
BOOKING_GONE = "booking.gone.fetched"
MAPPING: dict[str, str] = {
    BOOKING_GONE: pms.RESERVATION_OBSERVED,
    BOOKING: pms.RESERVATION_HINTED,
    BOOKING_POLLED: pms.RESERVATION_OBSERVED,
    BOOKING_FETCHED: pms.RESERVATION_OBSERVED,
    PROPERTY_POLLED: pms.LISTING_OBSERVED,
}
TYPE_FIELDS = ("entity_type", "type", "category")
# Never `id`: it could be the entity's, the same for every change.
DELIVERY_ID_FIELDS = ("webhook_id", "delivery_id", "event_id")
MAX_DELIVERY_ID = 64
MAX_TYPE = 32
ENTITY_TYPE = re.compile(rf"[a-z0-9_]{{1,{MAX_TYPE}}}")


def entity_type(payload: Mapping[str, Any]) -> str:
    """The entity a delivery is about, lower case ("booking", "guest", "property", ...)."""
    for field in TYPE_FIELDS:
        value = payload.get(field)
        if isinstance(value, str) and value.strip():
            kind = value.strip().lower()
            if not ENTITY_TYPE.fullmatch(kind):
                # Refused rather than trimmed to fit: an altered type would be another event.
                raise MalformedPayload(f"the entity type is not a name of at most {MAX_TYPE}")
            return kind
    return BOOKING


def entity_id(payload: Mapping[str, Any]) -> str:
    value = payload.get("entity_id")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise MalformedPayload("an OwnerRez delivery carries an entity_id")
    text = str(value).strip()
    if not text or len(text) > pms.MAX_ID or not text.isprintable():
        raise MalformedPayload(f"entity_id is empty, not printable or over {pms.MAX_ID} chars")
    return text


def _delivery_id(payload: Mapping[str, Any]) -> str | None:
    """A delivery's own id, if OwnerRez sends one (not confirmed: pms.md §4)."""
    for field in DELIVERY_ID_FIELDS:
        value = payload.get(field)
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            text = str(value).strip()
            if text and len(text) <= MAX_DELIVERY_ID and text.isprintable():
                return text
    return None


def _object(body: bytes, what: str) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise NormalizationError(f"an OwnerRez {what} is a JSON object")
    return parsed


class OwnerRezConnector:
    manifest = Manifest(
        name=NAME,
        webhook_secret=WEBHOOK_BASIC_AUTH,
        kept_headers=frozenset({"content-type", "user-agent"}),  # never Authorization
        event_map=MAPPING,
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
            raise UnknownEndpoint(f"{NAME} has no such endpoint")
        try:
            payload = orjson.loads(delivery.body)
        except orjson.JSONDecodeError:
            raise MalformedPayload("an OwnerRez delivery is JSON") from None
        if not isinstance(payload, dict):
            raise MalformedPayload("an OwnerRez delivery is a JSON object")
        kind, entity = entity_type(payload), entity_id(payload)
        # OwnerRez sends the same body for every change of an entity (`entity_id`, maybe its
        # type and action): keyed on the body alone, a later change would be dropped as a
        # duplicate. A delivery id, when the body has one, makes retries duplicates; else the
        # second it arrived does (a retry is then stored again: a hint is idempotent).
        delivery_id = _delivery_id(payload)
        when = f"id-{delivery_id}" if delivery_id else f"at-{int(delivery.received_at)}"
        key = f"{kind}:{entity}:{when}:{pms.content_hash(delivery.body)}"
        return [PartnerEvent(pms.connection_event_id(delivery.endpoint, key), kind, delivery.body)]

    def respond(self, delivery: Delivery, events: Sequence[PartnerEvent]) -> None:
        return None  # OwnerRez reads the status only

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        if event.event_type not in MAPPING:
            return []
        connection = pms.connection_of(event.partner_event_id)
        if event.event_type == BOOKING:
            try:
                booking_id = entity_id(_object(event.body, "delivery"))
            except MalformedPayload as error:
                raise NormalizationError(error.detail) from None
            return [
                pms.reservation_hinted(
                    source=NAME, connection=connection, source_reservation_id=booking_id
                )
            ]
        if event.event_type == BOOKING_GONE:
            return [pms.reservation_observed(mapping.gone(_object(event.body, "gone booking"),
                                                          connection))]  # fmt: skip
        if event.event_type == PROPERTY_POLLED:
            found = mapping.listing(_object(event.body, "property"), connection)
            return [pms.listing_observed(found)]
        booking = mapping.reservation(_object(event.body, "booking"), connection)
        return [pms.reservation_observed(booking)]

    def sample(self, event_type: str) -> bytes:
        if event_type == BOOKING_GONE:
            return orjson.dumps(samples.gone())
        if event_type in (BOOKING_POLLED, BOOKING_FETCHED):
            return orjson.dumps(samples.booking())
        if event_type == PROPERTY_POLLED:
            return orjson.dumps(samples.property_())
        return orjson.dumps(samples.webhook(entity_type=event_type))

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        return {**self.scheme.sign(secret), "Content-Type": "application/json"}
