"""Hospitable's webhooks: the `Signature` header (hex HMAC-SHA256 of the raw body, computed
here with the standard library, independently of the scheme) per connection, ids carrying the
connection, and every mapped action's fields in the unified model, validated against the
schemas; bad payloads fail alone."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.hospitable import payloads, samples
from integration_hub.connectors.hospitable.webhook import HospitableConnector, updated_at
from integration_hub.connectors.partners import PARTNERS
from integration_hub.errors import MalformedPayload, NormalizationError, SignatureError
from integration_hub.events import CloudEvent, build_event, validate_event
from integration_hub.pipeline.normalizer import normalize_row

SECRET = "bWFyaWEuZ29uemFsZXpAZXhhbXBsZS5jb20="  # a host's: base64 of an e-mail address
OTHER_CONNECTION_SECRET = "whsec-vendor-portal-secret-9c2f41"
CONNECTION = "miami-beach-rentals"
hospitable = HospitableConnector()


def signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery(body: bytes, headers: dict[str, str], endpoint: str = CONNECTION) -> Delivery:
    url = f"https://hub.example.com/webhooks/hospitable/{endpoint}"
    return Delivery(body, {k.lower(): v for k, v in headers.items()}, url, time.time(), endpoint)


def events_of(event_type: str, body: bytes, key: str = "01JEXAMPLE") -> list[CloudEvent]:
    event_id = f"{CONNECTION}:{key}"
    drafts = hospitable.normalize(PartnerEvent(event_id, event_type, body))
    built = [
        build_event(partner="hospitable", partner_event_id=event_id, index=i, draft=draft)
        for i, draft in enumerate(drafts)
    ]
    for event in built:
        validate_event(event)
    return built


def envelope(action: str, data: Any, **extra: Any) -> bytes:
    return orjson.dumps({"id": samples.new_ulid(), "action": action, "data": data,
                         "created": "2026-12-01T14:03:34Z", "version": "v2", **extra})  # fmt: skip


def test_the_partner_declares_per_connection_secrets_and_the_fetch_workflow() -> None:
    [partner] = [p for p in PARTNERS if p.name == "hospitable"]
    assert all(secret.per_instance for secret in partner.secrets)
    assert hospitable.manifest.secret_per_endpoint and hospitable.manifest.endpoints is None
    assert [source.per_connection for source in partner.polls] == [True]
    assert partner.workflows is not None
    names = [getattr(w, "__temporal_workflow_definition").name for w in partner.workflows()]
    assert names == ["hospitable.fetch_reservation"]


def test_a_hospitable_signature_verifies_and_tampering_is_refused() -> None:
    body = hospitable.sample("reservation.created")
    good = delivery(body, {"Signature": signature(body, SECRET)})

    hospitable.verify(good, [SECRET], now=time.time())
    hospitable.verify(good, [OTHER_CONNECTION_SECRET, SECRET], now=time.time())  # rotation
    assert hospitable.sign(body, SECRET, timestamp=0, url="")["signature"] == signature(
        body, SECRET
    )
    refused = [
        (delivery(body + b" ", {"Signature": signature(body, SECRET)}), [SECRET]),
        (delivery(body, {}), [SECRET]),
        (delivery(body, {"Signature": signature(body, SECRET).upper()[:-1]}), [SECRET]),
        # Another connection's secret never verifies this connection's delivery.
        (good, [OTHER_CONNECTION_SECRET]),
    ]
    for bad, secrets in refused:
        with pytest.raises(SignatureError):
            hospitable.verify(bad, secrets, now=time.time())


def test_split_keys_each_delivery_by_connection_and_envelope_id() -> None:
    body = hospitable.sample("property.changed")
    delivery_id = orjson.loads(body)["id"]

    [event] = hospitable.split(delivery(body, {}))
    [other] = hospitable.split(delivery(body, {}, endpoint="little-havana-stays"))

    assert (event.partner_event_id, event.event_type) == (
        f"{CONNECTION}:{delivery_id}",
        "property.changed",
    )
    assert other.partner_event_id == f"little-havana-stays:{delivery_id}"
    assert event.body == body


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        orjson.dumps({"action": "reservation.created", "data": {}}),  # no id
        orjson.dumps({"id": "01J", "data": {}}),  # no action
        orjson.dumps({"id": "01J", "action": "reservation.created", "data": "x"}),
        orjson.dumps({"id": "x" * 200, "action": "reservation.created", "data": {}}),
    ],
)
def test_split_refuses_what_is_not_an_envelope(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        hospitable.split(delivery(body, {}))


def test_a_reservation_maps_every_field_of_the_get_shape() -> None:
    data = samples.reservation_data(platform="homeaway")
    [event] = events_of("reservation.created", envelope("reservation.created", data))

    assert event["type"] == "pms.reservation_observed"
    assert event["subject"] == f"{CONNECTION}/{data['id']}"
    fields = event["data"]
    assert fields == {
        "source": "hospitable",
        "connection": CONNECTION,
        "source_reservation_id": data["id"],
        "source_listing_id": samples.PROPERTY_ID,
        "status": "confirmed",
        "raw_status": "accepted",
        "check_in": "2026-12-19",
        "check_out": "2026-12-23",
        "channel": "vrbo",
        "channel_code": data["platform_id"],
        "check_in_time": "16:00",
        "check_out_time": "11:00",
        "timezone": None,  # Hospitable gives an offset ("-0500"), not an IANA zone
        "adults": 2,
        "children": 1,
        "infants": 0,
        "guests_total": 3,
        "guest": {
            "name": "Lucía Fernández",
            "email": "lucia.fernandez@example.com",
            "phone": "+13055550142",
        },
        "total_minor": 125040,
        "currency": "USD",
        "booked_at": "2026-11-28T15:42:10Z",
        "source_updated_at": fields["source_updated_at"],
        "is_block": False,
        "complete": True,
    }
    assert fields["source_updated_at"].startswith("2026-12-01T14:03:34")


@pytest.mark.parametrize(
    ("category", "sub_category", "status"),
    [
        ("request", "request to book", "pending"),
        ("request", "pending verification", "pending"),
        ("accepted", None, "confirmed"),
        ("cancelled", None, "cancelled"),
        ("not accepted", "declined", "declined"),
        ("not accepted", "expired", "expired"),
        ("not accepted", "withdrawn", "cancelled"),
        ("unknown", None, "unknown"),
        ("checkpoint", None, "unknown"),
    ],
)
def test_status_comes_from_reservation_status_never_the_flat_status(
    category: str, sub_category: str | None, status: str
) -> None:
    data = samples.reservation_data(category=category, sub_category=sub_category)
    data["status"] = "accepted"  # the deprecated field, which disagrees
    [event] = events_of("reservation.changed", envelope("reservation.changed", data))

    expected_raw = f"{category}/{sub_category}" if sub_category else category
    assert (event["data"]["status"], event["data"]["raw_status"]) == (status, expected_raw)


@pytest.mark.parametrize(
    ("platform", "channel"),
    [("airbnb", "airbnb"), ("homeaway", "vrbo"), ("booking", "booking"),
     ("direct", "direct"), ("manual", "direct"), ("google", "other")],
)  # fmt: skip
def test_platform_maps_to_the_unified_channel(platform: str, channel: str) -> None:
    data = samples.reservation_data(platform=platform)
    [event] = events_of("reservation.created", envelope("reservation.created", data))
    assert event["data"]["channel"] == channel


def test_older_payload_shapes_name_the_property_and_phone_another_way() -> None:
    data = samples.reservation_data()
    del data["properties"], data["financials"]
    data["property_id"] = "9a7b3c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d"
    data["guest"] = {"first_name": "John", "last_name": None, "phone": "+13055550199"}
    [event] = events_of("reservation.created", envelope("reservation.created", data))

    fields = event["data"]
    assert fields["source_listing_id"] == "9a7b3c1d-2e4f-4a6b-8c0d-1e2f3a4b5c6d"
    assert fields["guest"] == {"name": "John", "email": None, "phone": "+13055550199"}
    assert (fields["total_minor"], fields["currency"]) == (None, None)


def test_a_property_maps_to_a_listing() -> None:
    data = samples.property_data()
    data["timezone"] = "America/New_York"  # an IANA name is kept
    [event] = events_of("property.created", envelope("property.created", data))

    assert event["type"] == "pms.listing_observed"
    assert event["data"] == {
        "source": "hospitable",
        "connection": CONNECTION,
        "source_listing_id": samples.PROPERTY_ID,
        "name": "Brickell Bay 1204",
        "address": "1440 Brickell Bay Dr 1204, Miami, FL 33131, US",
        "latitude": 25.7589,
        "longitude": -80.1905,
        "timezone": "America/New_York",
        "check_in_time": "16:00",
        "check_out_time": "11:00",
        "source_updated_at": event["data"]["source_updated_at"],
    }


def test_deleted_and_merged_properties_are_removed_listings() -> None:
    [deleted] = events_of("property.deleted", envelope("property.deleted", {"id": "p-old"}))
    merged_body = envelope("property.merged", {"previous_id": "p-old", "new_id": "p-new"})
    [merged] = events_of("property.merged", merged_body)

    assert deleted["type"] == merged["type"] == "pms.listing_removed"
    assert deleted["data"]["source_listing_id"] == "p-old"
    assert deleted["data"]["merged_into"] is None
    assert (merged["data"]["source_listing_id"], merged["data"]["merged_into"]) == (
        "p-old",
        "p-new",
    )


def test_polled_properties_and_fetched_reservations_are_bare_objects() -> None:
    [listing] = events_of("property.polled", orjson.dumps(samples.property_data()))
    reservation = samples.reservation_data(category="request", sub_category="request to book")
    [fetched] = events_of("reservation.fetched", orjson.dumps(reservation))

    assert listing["data"]["source_listing_id"] == samples.PROPERTY_ID
    assert listing["data"]["source_updated_at"] is None
    assert (fetched["data"]["status"], fetched["data"]["complete"]) == ("pending", True)
    assert fetched["data"]["source_updated_at"] is None  # a fetch carries no change time


def test_a_data_array_gives_one_event_per_object() -> None:
    body = envelope("property.deleted", [{"id": "p-1"}, {"id": "p-2"}])
    removed = events_of("property.deleted", body)
    assert [e["data"]["source_listing_id"] for e in removed] == ["p-1", "p-2"]
    with pytest.raises(NormalizationError):
        events_of("property.deleted", envelope("property.deleted", [{"id": "p-1"}, "p-2"]))


def test_unmapped_actions_are_stored_but_not_normalized() -> None:
    body = envelope("message.created", {"body": "Hola, ¿a qué hora es el check-in?"})
    assert events_of("message.created", body) == []


def test_order_comes_from_created_refined_by_the_ulid() -> None:
    at = datetime(2026, 12, 1, 14, 3, 34, 250_000, tzinfo=UTC)
    ulid = samples.new_ulid(int(at.timestamp() * 1000))

    assert payloads.ulid_ms(ulid) == int(at.timestamp() * 1000)
    assert updated_at({"id": ulid, "created": "2026-12-01T14:03:34Z"}) == at
    # Disagreeing to the second, or no ULID: `created` as given.
    assert updated_at({"id": ulid, "created": "2026-12-01T15:00:00Z"}) == datetime(
        2026, 12, 1, 15, tzinfo=UTC
    )
    uuid_id = "550e8400-e29b-41d4-a716-446655440000"
    assert updated_at({"id": uuid_id, "created": "2026-12-01T14:03:34Z"}) == at.replace(
        microsecond=0
    )
    earlier = samples.new_ulid(int(at.timestamp() * 1000) - 100)
    assert updated_at({"id": earlier, "created": "2026-12-01T14:03:34Z"}) < at


@pytest.mark.parametrize(
    "change",
    [
        {"arrival_date": "soon"},
        {"properties": [], "property_id": None},
        {"id": None},
        {"departure_date": "2026-12-01T00:00:00-05:00"},  # before the arrival
    ],
)
def test_a_bad_reservation_is_dead_lettered_alone(change: dict[str, Any]) -> None:
    data = {**samples.reservation_data(), **change}
    with pytest.raises(NormalizationError) as raised:
        hospitable.normalize(
            PartnerEvent(f"{CONNECTION}:01J", "reservation.changed", envelope("x", data))
        )
    assert "Lucía" not in str(raised.value) and "lucia" not in str(raised.value)


def test_the_normalizer_keeps_a_bad_row_failed_and_its_neighbour_processed() -> None:
    class Row:
        def __init__(self, raw_id: int, body: bytes) -> None:
            self.id, self.partner, self.event_type = raw_id, "hospitable", "reservation.created"
            self.partner_event_id, self.body = f"{CONNECTION}:{raw_id}", body

    good = Row(1, hospitable.sample("reservation.created"))
    bad = Row(2, envelope("reservation.created", {"id": "r1"}))
    connectors = {"hospitable": hospitable}

    ok = normalize_row(good, connectors, lambda _: [])  # type: ignore[arg-type]
    failed = normalize_row(bad, connectors, lambda _: [])  # type: ignore[arg-type]

    assert ok.error is None and [e["type"] for e in ok.events] == ["pms.reservation_observed"]
    assert failed.error is not None and failed.events == []
