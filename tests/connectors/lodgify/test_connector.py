"""Lodgify's connector: normalization only (the edge takes no delivery), the mapping of polled
bookings (status, channel, guests, money) and properties, each validated against its schema."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from integration_hub.connectors import pms
from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.lodgify import PARTNER, samples
from integration_hub.connectors.lodgify.webhook import (
    BOOKING_POLLED,
    PROPERTY_POLLED,
    LodgifyConnector,
)
from integration_hub.errors import NormalizationError, SignatureError
from integration_hub.events import build_event, validate_event

CONNECTION = "grove-stays"


def normalized(event_type: str, body: dict[str, Any]) -> dict[str, Any]:
    event_id = pms.connection_event_id(CONNECTION, "booking:1:abc")
    [draft] = LodgifyConnector().normalize(PartnerEvent(event_id, event_type, orjson.dumps(body)))
    event = build_event(partner="lodgify", partner_event_id=event_id, index=0, draft=draft)
    validate_event(event)
    assert event["type"] == LodgifyConnector.manifest.event_map[event_type]
    return event["data"]  # type: ignore[no-any-return]


def test_lodgify_is_polled_per_connection_and_takes_no_delivery() -> None:
    connector = LodgifyConnector()
    assert connector.manifest.endpoints == frozenset()
    assert {s.per_connection for s in PARTNER.polls} == {True}
    assert [s.per_instance for s in PARTNER.secrets] == [True]
    with pytest.raises(SignatureError):
        connector.verify(Delivery(b"{}", {}, "", 0.0), ["anything"], now=0)
    assert (
        connector.normalize(PartnerEvent(f"{CONNECTION}:x", "guest_message_received", b"{}")) == []
    )


def test_a_polled_booking_maps_every_field() -> None:
    booking = samples.booking(8812045, updated_at="2026-12-01T12:30:00")
    booking["arrival"], booking["departure"] = "2027-01-10", "2027-01-15"
    assert normalized(BOOKING_POLLED, booking) == {
        "source": "lodgify",
        "connection": CONNECTION,
        "source_reservation_id": "8812045",
        "source_listing_id": "276841",
        "status": "confirmed",
        "raw_status": "Booked",
        "check_in": "2027-01-10",
        "check_out": "2027-01-15",
        "channel": "airbnb",
        "channel_code": None,
        "check_in_time": None,
        "check_out_time": None,
        "timezone": None,
        "adults": 2,
        "children": 2,
        "infants": 0,
        "guests_total": 4,
        "guest": {
            "name": "Mateo Rodríguez",
            "email": "mateo.rodriguez@example.com",
            "phone": "+13055550172",
        },
        "total_minor": 214075,
        "currency": "USD",
        "booked_at": "2026-11-18T09:41:00Z",
        "source_updated_at": "2026-12-01T12:30:00Z",
        "is_block": False,
        "complete": True,
    }


@pytest.mark.parametrize(
    ("status", "unified"),
    [("Booked", "confirmed"), ("Tentative", "pending"), ("Open", "inquiry"),
     ("Declined", "declined"), ("Cancelled", "cancelled"), ("cancelled", "cancelled"),
     ("Archived", "unknown")],
)  # fmt: skip
def test_statuses(status: str, unified: str) -> None:
    data = normalized(BOOKING_POLLED, samples.booking(status=status))
    assert (data["status"], data["raw_status"]) == (unified, status)


@pytest.mark.parametrize(
    ("source", "text", "channel"),
    [("AirbnbIntegration", None, "airbnb"), ("BookingCom", None, "booking"),
     ("Manual", None, "direct"), ("Direct", None, "direct"), ("HomeAway", None, "vrbo"),
     ("Vrbo", None, "vrbo"), ("SomethingElse", None, "other"), (None, "Booking.com", "booking")],
)  # fmt: skip
def test_channels(source: str | None, text: str | None, channel: str) -> None:
    data = normalized(BOOKING_POLLED, {**samples.booking(), "source": source, "source_text": text})
    assert data["channel"] == channel


def test_a_lean_booking_in_the_older_field_names() -> None:
    lean = {"id": 7, "property_id": 9, "date_arrival": "2027-02-01", "date_departure": "2027-02-03",
            "status": "Tentative", "rooms": [{"people": 3}, {"people": 2}],
            "currency_code": "JPY", "total_amount": 48000}  # fmt: skip
    data = normalized(BOOKING_POLLED, lean)
    assert (data["check_in"], data["check_out"]) == ("2027-02-01", "2027-02-03")
    assert (data["adults"], data["guests_total"]) == (None, 5)
    assert (data["total_minor"], data["currency"]) == (48000, "JPY")  # no minor unit
    assert (data["channel"], data["source_updated_at"]) == ("other", None)


@pytest.mark.parametrize(
    "broken", [{"id": None}, {"property_id": ""}, {"arrival": None}, {"departure": "later"}]
)
def test_a_booking_without_what_the_model_needs_fails_alone(broken: dict[str, Any]) -> None:
    event_id = pms.connection_event_id(CONNECTION, "booking:1:x")
    body = orjson.dumps({**samples.booking(), **broken})
    with pytest.raises(NormalizationError):
        LodgifyConnector().normalize(PartnerEvent(event_id, BOOKING_POLLED, body))


def test_a_polled_property_is_a_listing() -> None:
    prop = {**samples.property_(276841), "updated_at": "2026-11-30T09:00:00",
            "time_zone": "America/New_York", "check_in": "15:00", "check_out": "11:00"}  # fmt: skip
    assert normalized(PROPERTY_POLLED, prop) == {
        "source": "lodgify",
        "connection": CONNECTION,
        "source_listing_id": "276841",
        "name": "Coconut Grove Bungalow",
        "address": "3250 Grand Ave, Miami, FL, 33133, United States",
        "latitude": 25.7281,
        "longitude": -80.2437,
        "timezone": "America/New_York",
        "check_in_time": "15:00",
        "check_out_time": "11:00",
        "source_updated_at": "2026-11-30T09:00:00Z",
    }


def test_every_mapped_type_has_a_sample_that_validates() -> None:
    connector = LodgifyConnector()
    for event_type in connector.manifest.event_map:
        normalized(event_type, orjson.loads(connector.sample(event_type)))
    assert connector.sample(BOOKING_POLLED) != connector.sample(BOOKING_POLLED)
