"""OwnerRez's connector: Basic credentials per connection, ids that carry the connection,
booking hints, and the mapping of fetched/polled bookings and properties (each validated
against its schema)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from integration_hub.connectors import pms
from integration_hub.connectors.base import Delivery, InternalEventDraft, PartnerEvent
from integration_hub.connectors.ownerrez import PARTNER, samples
from integration_hub.connectors.ownerrez.webhook import (
    BOOKING_FETCHED,
    BOOKING_POLLED,
    PROPERTY_POLLED,
    OwnerRezConnector,
)
from integration_hub.errors import MalformedPayload, NormalizationError, SignatureError
from integration_hub.events import CloudEvent, build_event, validate_event

CONNECTION = "casa-brickell"
SECRET = "orez-hooks:9Jq2vLx7PzR4tWm8"


def delivery(body: bytes, headers: dict[str, str], endpoint: str = CONNECTION) -> Delivery:
    lowered = {k.lower(): v for k, v in headers.items()}
    return Delivery(body, lowered, f"https://hub.example/webhooks/ownerrez/{endpoint}", 0.0,
                    endpoint=endpoint)  # fmt: skip


def validated(event_id: str, draft: InternalEventDraft) -> CloudEvent:
    event = build_event(partner="ownerrez", partner_event_id=event_id, index=0, draft=draft)
    validate_event(event)
    return event


def normalized(event_type: str, body: dict[str, Any], key: str = "k:1") -> dict[str, Any]:
    event_id = pms.connection_event_id(CONNECTION, key)
    [draft] = OwnerRezConnector().normalize(PartnerEvent(event_id, event_type, orjson.dumps(body)))
    return validated(event_id, draft)["data"]  # type: ignore[no-any-return]


def test_the_declaration_is_a_per_connection_pms() -> None:
    manifest = OwnerRezConnector.manifest
    assert (manifest.endpoints, manifest.secret_per_endpoint) == (None, True)
    assert manifest.webhook_secret in PARTNER.secret_names
    assert all(secret.per_instance for secret in PARTNER.secrets)
    assert PARTNER.capabilities == frozenset({"reservations"})
    assert {source.per_connection for source in PARTNER.polls} == {True}


def test_basic_credentials_verify_and_anything_else_is_refused() -> None:
    connector = OwnerRezConnector()
    body = connector.sample("booking")
    signed = connector.sign(body, SECRET, timestamp=0, url="")
    expected = "Basic " + base64.b64encode(SECRET.encode()).decode()
    assert signed["Authorization"] == expected  # RFC 7617, as OwnerRez sends its user/password

    connector.verify(delivery(body, signed), [SECRET], now=0)
    connector.verify(delivery(body, signed), ["newer:Zx81kQ0pLm2n", SECRET], now=0)  # rotation
    other_connection = "other-hooks:Tq7Vb1Nn3Ks9"
    for headers, secrets in (
        ({}, [SECRET]),  # missing
        ({"Authorization": "Bearer " + SECRET}, [SECRET]),  # not Basic
        (connector.sign(body, "orez-hooks:wrong-password", timestamp=0, url=""), [SECRET]),
        (signed, [other_connection]),  # another connection's secret does not verify this one
    ):
        with pytest.raises(SignatureError) as refused:
            connector.verify(delivery(body, headers), secrets, now=0)
        assert "9Jq2vLx7PzR4tWm8" not in str(refused.value)


def at(body: bytes, received_at: float, endpoint: str = CONNECTION) -> Delivery:
    url = f"https://hub.example/webhooks/ownerrez/{endpoint}"
    return Delivery(body, {}, url, received_at, endpoint=endpoint)


def test_split_keys_the_entity_and_its_arrival_under_the_connection() -> None:
    connector = OwnerRezConnector()
    body = orjson.dumps(samples.webhook(51873349))
    [event] = connector.split(at(body, 1_796_000_000.2))
    assert event.partner_event_id.startswith(f"{CONNECTION}:booking:51873349:at-1796000000:")
    assert pms.connection_of(event.partner_event_id) == CONNECTION
    assert event.event_type == "booking"
    # A retry in the same second is the same id; the same body for a later change is another.
    assert connector.split(at(body, 1_796_000_000.9))[0].partner_event_id == event.partner_event_id
    assert connector.split(at(body, 1_796_000_600.0))[0].partner_event_id != event.partner_event_id
    # With a delivery id in the body, that id decides whenever it arrives.
    with_id = orjson.dumps({**samples.webhook(51873349), "webhook_id": "wh_8842"})
    ids = {connector.split(at(with_id, t))[0].partner_event_id for t in (1.0, 900.0)}
    assert len(ids) == 1 and ":id-wh_8842:" in ids.pop()
    # The same booking id at another connection never collides.
    elsewhere = connector.split(at(body, 1_796_000_000.2, endpoint="casa-coral"))[0]
    assert elsewhere.partner_event_id.startswith("casa-coral:booking:51873349:")


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ({"entity_id": 7, "entity_type": "Guest"}, "guest"),
        ({"entity_id": 7, "type": "Property", "action": "EntityUpdate"}, "property"),
        ({"entity_id": "7", "category": "message"}, "message"),
    ],
)
def test_other_entities_are_stored_and_ignored(payload: dict[str, Any], kind: str) -> None:
    connector = OwnerRezConnector()
    [event] = connector.split(delivery(orjson.dumps(payload), {}))
    assert event.event_type == kind
    assert connector.normalize(event) == []


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"entity_type": "booking"}', b'{"entity_id": true}',
     b'{"entity_id": ""}', orjson.dumps({"entity_id": "9" * 200}),
     orjson.dumps({"entity_id": 7, "entity_type": "Bo\u0000oking"}),
     orjson.dumps({"entity_id": 7, "entity_type": "x" * 33})],
)  # fmt: skip
def test_split_refuses_what_is_not_an_ownerrez_delivery(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        OwnerRezConnector().split(delivery(body, {}))


def test_a_booking_delivery_is_a_hint_for_the_fetch() -> None:
    connector = OwnerRezConnector()
    [event] = connector.split(delivery(orjson.dumps(samples.webhook(51873349)), {}))
    [draft] = connector.normalize(event)
    data = validated(event.partner_event_id, draft)["data"]
    assert draft.type == pms.RESERVATION_HINTED
    assert data == {
        "source": "ownerrez",
        "connection": CONNECTION,
        "source_reservation_id": "51873349",
    }
    assert draft.subject == f"{CONNECTION}/51873349"


def test_a_fetched_booking_maps_every_field() -> None:
    booking = samples.booking(51873349, updated_utc="2026-12-01T15:04:05Z")
    booking["arrival"], booking["departure"] = "2026-12-20", "2026-12-24"
    data = normalized(BOOKING_FETCHED, booking)
    assert data == {
        "source": "ownerrez",
        "connection": CONNECTION,
        "source_reservation_id": "51873349",
        "source_listing_id": "418207",
        "status": "confirmed",
        "raw_status": "active",
        "check_in": "2026-12-20",
        "check_out": "2026-12-24",
        "channel": "other",  # OwnerRez's channel field is not confirmed
        "channel_code": None,
        "check_in_time": "16:00",
        "check_out_time": "10:00",
        "timezone": None,
        "adults": 2,
        "children": 1,
        "infants": 0,
        "guests_total": 3,
        "guest": {
            "name": "Lucía Fernández",
            "email": "lucia.fernandez@example.com",
            "phone": "+13055550148",
        },
        "total_minor": None,  # no currency: its minor unit is unknown
        "currency": None,
        "booked_at": "2026-11-20T14:02:11Z",
        "source_updated_at": "2026-12-01T15:04:05Z",
        "is_block": False,
        "complete": True,
    }


@pytest.mark.parametrize(
    ("changes", "status", "is_block"),
    [
        ({"status": "canceled"}, "cancelled", False),
        ({"status": "pending"}, "pending", False),
        ({"status": "something_new"}, "unknown", False),
        ({"is_block": True, "type": "block"}, "blocked", True),
        ({"is_block": False, "type": "block"}, "blocked", True),
        ({"is_block": True, "status": "canceled"}, "cancelled", True),
        ({"is_block": False, "type": "owner_hold"}, "blocked", True),  # any type but booking
        ({"type": "Booking"}, "confirmed", False),
    ],
)
def test_statuses_and_blocks(changes: dict[str, Any], status: str, is_block: bool) -> None:
    data = normalized(BOOKING_POLLED, {**samples.booking(), **changes})
    assert (data["status"], data["is_block"]) == (status, is_block)
    assert data["raw_status"] == changes.get("status", "active")
    if is_block:
        assert data["guest"] == {"name": None, "email": None, "phone": None}
        assert data["channel"] is None


def test_a_lean_booking_keeps_what_it_has_and_sums_the_charges() -> None:
    booking = {"id": 6101, "property_id": 418207, "arrival": "2027-01-03",
               "departure": "2027-01-05", "status": "active", "platform": "Airbnb",
               "check_in": "4:00 PM", "check_out": "11:30 am", "currency_code": "USD",
               "charges": [{"amount": 400}, {"amount": "85.25"}]}  # fmt: skip
    data = normalized(BOOKING_POLLED, booking)
    assert (data["channel"], data["total_minor"], data["currency"]) == ("airbnb", 48525, "USD")
    assert (data["check_in_time"], data["check_out_time"]) == ("16:00", "11:30")
    assert (data["adults"], data["guests_total"], data["source_updated_at"]) == (None, None, None)
    assert data["guest"] == {"name": None, "email": None, "phone": None}
    unclear = normalized(BOOKING_POLLED, {**booking, "charges": [{"amount": 400}, {"x": 1}]})
    assert unclear["total_minor"] is None
    yen = normalized(BOOKING_POLLED, {**booking, "currency_code": "JPY", "total_amount": 48000})
    dinar = normalized(BOOKING_POLLED, {**booking, "currency_code": "KWD", "total_amount": 1.5})
    assert (yen["total_minor"], dinar["total_minor"]) == (48000, 1500)


@pytest.mark.parametrize(
    "broken",
    [
        {"id": None},
        {"property_id": None},
        {"arrival": "soon"},
        {"departure": 20261224},
        {"arrival": "2026-12-24", "departure": "2026-12-24"},  # check-out is after check-in
    ],
)
def test_a_booking_without_what_the_model_needs_fails_alone(broken: dict[str, Any]) -> None:
    event_id = pms.connection_event_id(CONNECTION, "booking:1:x")
    body = orjson.dumps({**samples.booking(), **broken})
    with pytest.raises(NormalizationError):
        OwnerRezConnector().normalize(PartnerEvent(event_id, BOOKING_POLLED, body))


def test_a_polled_property_is_a_listing() -> None:
    prop = samples.property_(418207)
    prop["updated_utc"] = "2026-11-30T09:00:00Z"
    data = normalized(PROPERTY_POLLED, prop)
    assert data == {
        "source": "ownerrez",
        "connection": CONNECTION,
        "source_listing_id": "418207",
        "name": "Brickell Bay Loft 1204",
        "address": "1200 Brickell Bay Dr, Unit 1204, Miami, FL, 33131, US",
        "latitude": 25.7617,
        "longitude": -80.1918,
        "timezone": "America/New_York",
        "check_in_time": "16:00",
        "check_out_time": "10:00",
        "source_updated_at": "2026-11-30T09:00:00Z",
    }
    windows_zone = normalized(PROPERTY_POLLED, {**prop, "time_zone": "Eastern Standard Time"})
    assert windows_zone["timezone"] is None


def test_every_mapped_type_has_a_sample_that_validates() -> None:
    connector = OwnerRezConnector()
    for event_type, internal in connector.manifest.event_map.items():
        event_id = pms.connection_event_id(CONNECTION, f"sample:{event_type}")
        event = PartnerEvent(event_id, event_type, connector.sample(event_type))
        [draft] = connector.normalize(event)
        assert draft.type == internal
        validated(event_id, draft)
    assert connector.sample("booking") != connector.sample("booking")  # fresh ids


def test_a_deleted_booking_is_a_hint_to_fetch_it() -> None:
    """The fetch then answers 404 and stores `booking.gone` (test_calls.py)."""
    connector = OwnerRezConnector()
    body = orjson.dumps(
        {"entity_id": 51873349, "entity_type": "booking", "action": "entity_delete"}
    )
    [event] = connector.split(delivery(body, {}))
    [draft] = connector.normalize(event)
    assert (draft.type, draft.data["source_reservation_id"]) == (pms.RESERVATION_HINTED, "51873349")
