"""Hospitable's webhooks, one connection per endpoint (`/webhooks/hospitable/<connection>`):
`Signature` is the hex HMAC-SHA256 of the raw body keyed with the connection's webhook secret
(the shared HMAC scheme; no timestamp is signed, so the dedup key stops replays).

The envelope is `{id (ULID), action, data, created, version}`; `id`, stable across Hospitable's
retries, is the dedup key (`<connection>:<id>`). Reservations and properties arrive whole, in
the GET shape (`payloads.py`), so a reservation is `complete`.

Order: the core keeps the newest `source_updated_at`. We put `created` there, refined to the
millisecond by the ULID's own time when both agree to the second (`created` has whole
seconds; the ULID orders two events of the same second). An id that is no ULID (the
OpenAPI copy calls it a uuid) leaves `created` alone.

Trust: a host-mode signing secret is derived from the manager's e-mail (guessable) and nothing
signed is timestamped, so a pushed reservation is taken as a hint of its state: it is observed
with `complete=False`, and the core fetches the truth with the connection's access token when
it has one (`hospitable.fetch_reservation`). Pushed properties are kept as observed (a forged
one only renames or moves a listing until the next properties poll).

Besides webhook actions, `normalize` reads what the hub stored itself: `property.polled` (one
property of `GET /v2/properties`, `polls.py`) and `reservation.fetched` (the `data` of
`GET /v2/reservations/{id}`, `calls.py`), both `{"fetched_at", "data"}` wrappers whose fetch
time is the object's `source_updated_at` (`payloads.fetched_body`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
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
from integration_hub.connectors.hospitable import NAME, WEBHOOK_SECRET, payloads, samples
from integration_hub.connectors.schemes.hmac import HmacScheme
from integration_hub.connectors.schemes.signed import SchemeSigned
from integration_hub.errors import MalformedPayload, NormalizationError

RESERVATION_ACTIONS = (
    "reservation.created",
    "reservation.changed",
)  # ordered: the checklist names the first
PROPERTY_ACTIONS = ("property.created", "property.changed")
POLLED_PROPERTY = "property.polled"
FETCHED_RESERVATION = "reservation.fetched"
MAPPING: dict[str, str] = {
    **dict.fromkeys(RESERVATION_ACTIONS, pms.RESERVATION_OBSERVED),
    **dict.fromkeys(PROPERTY_ACTIONS, pms.LISTING_OBSERVED),
    "property.deleted": pms.LISTING_REMOVED,
    "property.merged": pms.LISTING_REMOVED,
}
MAX_DELIVERY_ID = 128
MAX_ITEMS = 100  # objects of one delivery's `data` array normalized; more are a payload bug


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise NormalizationError("the body is not JSON") from None


def updated_at(envelope: Mapping[str, Any]) -> datetime | None:
    """`created`, to the millisecond of the envelope's ULID when both name the same second."""
    created = payloads.utc_time(envelope.get("created"))
    delivery_id = envelope.get("id")
    ms = payloads.ulid_ms(delivery_id) if isinstance(delivery_id, str) else None
    if ms is None:
        return created
    from_id = datetime.fromtimestamp(ms / 1000, UTC)
    if created is None or from_id.replace(microsecond=0) == created.replace(microsecond=0):
        return from_id
    return created


class HospitableConnector(SchemeSigned):
    scheme = HmacScheme(header="signature")
    manifest = Manifest(
        name=NAME,
        webhook_secret=WEBHOOK_SECRET,
        event_map=MAPPING,
        signs_timestamp=False,
        endpoints=None,
        secret_per_endpoint=True,
    )

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        try:
            envelope = orjson.loads(delivery.body)
        except orjson.JSONDecodeError:
            raise MalformedPayload("body is not JSON") from None
        if not isinstance(envelope, dict):
            raise MalformedPayload("the body is not a Hospitable envelope")
        delivery_id, action = envelope.get("id"), envelope.get("action")
        if not isinstance(delivery_id, str) or not 0 < len(delivery_id) <= MAX_DELIVERY_ID:
            raise MalformedPayload(f"the envelope needs an `id` of 1-{MAX_DELIVERY_ID} chars")
        if not isinstance(action, str) or not action or not storable_key(action):
            raise MalformedPayload("the envelope needs a storable string `action`")
        if not isinstance(envelope.get("data"), (dict, list)):
            raise MalformedPayload("the envelope needs a `data` object")
        try:
            event_id = pms.connection_event_id(delivery.endpoint, delivery_id)
        except ValueError:
            raise MalformedPayload("the endpoint is not a connection id") from None
        return [PartnerEvent(event_id, action, delivery.body)]

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        connection = pms.connection_of(event.partner_event_id)
        body = _loads(event.body)
        if not isinstance(body, dict):
            raise NormalizationError("the body is not a JSON object")
        if event.event_type == FETCHED_RESERVATION:
            fetched, fetched_at = payloads.read_fetched(body, "fetched reservation")
            return [self._reservation(fetched, connection, fetched_at, complete=True)]
        if event.event_type == POLLED_PROPERTY:
            polled, fetched_at = payloads.read_fetched(body, "polled property")
            listing = payloads.observed_listing(
                polled, connection=connection, updated_at=fetched_at
            )
            return [pms.listing_observed(listing)]
        if event.event_type not in MAPPING:
            return []  # message.created, review.created, ...: stored, not ours to map
        data, when = body.get("data"), updated_at(body)
        # `data` is an object, or (the envelope allows it) an array of them: one event each.
        if isinstance(data, list) and len(data) > MAX_ITEMS:
            raise NormalizationError(f"{event.event_type} carries over {MAX_ITEMS} objects")
        listed = data if isinstance(data, list) else [data]
        items = [item for item in listed if isinstance(item, dict)]
        if not items or len(items) != len(listed):
            raise NormalizationError(f"{event.event_type} needs a `data` object")
        return [self._draft(event.event_type, item, connection, when) for item in items]

    def _draft(
        self, action: str, data: Mapping[str, Any], connection: str, when: datetime | None
    ) -> InternalEventDraft:
        if action in RESERVATION_ACTIONS:  # pushed: a hint the core confirms by a fetch
            return self._reservation(data, connection, when, complete=False)
        if action in PROPERTY_ACTIONS:
            listing = payloads.observed_listing(data, connection=connection, updated_at=when)
            return pms.listing_observed(listing)
        merged = action == "property.merged"
        listing_id = pms.bounded(data.get("previous_id" if merged else "id"), pms.MAX_ID)
        if listing_id is None:
            raise NormalizationError(f"{action} names no property")
        return pms.listing_removed(
            source=NAME,
            connection=connection,
            source_listing_id=listing_id,
            merged_into=pms.bounded(data.get("new_id"), pms.MAX_ID) if merged else None,
            time=when,
        )

    @staticmethod
    def _reservation(
        data: Mapping[str, Any], connection: str, when: datetime | None, *, complete: bool
    ) -> InternalEventDraft:
        reservation = payloads.observed_reservation(
            data, connection=connection, updated_at=when, complete=complete
        )
        if reservation.check_out < reservation.check_in:
            raise NormalizationError("the reservation departs before it arrives")
        return pms.reservation_observed(reservation)

    def sample(self, event_type: str) -> bytes:
        return samples.sample(event_type)
