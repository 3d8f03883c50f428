"""Lodgify's connector: normalization only. Lodgify documents no signature the hub could verify,
so the hub takes no delivery (`endpoints=frozenset()`: the edge answers 404 to every path);
it normalizes what the polls store (polls.py): `booking.polled` -> `pms.reservation_observed`,
`property.polled` -> `pms.listing_observed`, each body Lodgify's JSON for one object."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from integration_hub.connectors import pms
from integration_hub.connectors.base import Delivery, InternalEventDraft, Manifest, PartnerEvent
from integration_hub.connectors.lodgify import NAME, NO_WEBHOOK_SECRET, mapping, samples
from integration_hub.errors import NormalizationError, SignatureError

BOOKING_POLLED = "booking.polled"
PROPERTY_POLLED = "property.polled"
MAPPING: dict[str, str] = {
    BOOKING_POLLED: pms.RESERVATION_OBSERVED,
    PROPERTY_POLLED: pms.LISTING_OBSERVED,
}


def _object(body: bytes, what: str) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise NormalizationError(f"a Lodgify {what} is a JSON object")
    return parsed


class LodgifyConnector:
    manifest = Manifest(
        name=NAME,
        webhook_secret=NO_WEBHOOK_SECRET,
        event_map=MAPPING,
        signs_body=False,
        signs_timestamp=False,
        endpoints=frozenset(),
    )

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        raise SignatureError("Lodgify is polled; the hub takes no delivery from it")

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        return []

    def respond(self, delivery: Delivery, events: Sequence[PartnerEvent]) -> None:
        return None

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        if event.event_type not in MAPPING:
            return []
        connection = pms.connection_of(event.partner_event_id)
        if event.event_type == PROPERTY_POLLED:
            found = mapping.listing(_object(event.body, "property"), connection)
            return [pms.listing_observed(found)]
        booking = mapping.reservation(_object(event.body, "booking"), connection)
        return [pms.reservation_observed(booking)]

    def sample(self, event_type: str) -> bytes:
        """A polled object (for the tests; `hub send` does not apply to a polled partner)."""
        if event_type == PROPERTY_POLLED:
            return orjson.dumps(samples.property_())
        return orjson.dumps(samples.booking())

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        return {}  # nothing is signed: no delivery is taken
