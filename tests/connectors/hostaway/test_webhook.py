"""Hostaway's unified webhook: HTTP Basic per connection, the dedup key (connection, event,
reservation id, hash of the data), and the mapping of each documented shape into the unified
model (statuses, channels, hours, money, blocks), schema-checked."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from integration_hub.connectors import pms
from integration_hub.connectors.base import Delivery, InternalEventDraft, PartnerEvent
from integration_hub.connectors.hostaway import samples
from integration_hub.connectors.hostaway.webhook import HostawayConnector
from integration_hub.connectors.partners import build_connectors
from integration_hub.errors import MalformedPayload, SignatureError
from integration_hub.events import build_event, validate_event

CONNECTION = "miami-homes"
SECRET = "hub-miami:s3cret-Passw0rd"
OTHER_CONNECTION_SECRET = "hub-brickell:an0ther-Passw0rd"
hostaway = HostawayConnector()


def delivery(body: bytes, headers: dict[str, str], connection: str = CONNECTION) -> Delivery:
    lowered = {k.lower(): v for k, v in headers.items()}
    return Delivery(body, lowered, f"https://hub.example.com/webhooks/hostaway/{connection}",
                    1_750_000_000.0, connection)  # fmt: skip


def basic(user_password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(user_password.encode()).decode()}


def normalized(event: PartnerEvent) -> list[dict[str, Any]]:
    """The drafts as CloudEvents, each validated against its schema."""
    built = []
    for index, draft in enumerate(hostaway.normalize(event)):
        cloud = build_event(partner="hostaway", partner_event_id=event.partner_event_id,
                            index=index, draft=draft)  # fmt: skip
        validate_event(cloud)
        built.append(cloud)
    return built


def observed(data: dict[str, Any], event: str = "reservation.updated") -> dict[str, Any]:
    [event_] = hostaway.split(delivery(samples.envelope(event, data), basic(SECRET)))
    [cloud] = normalized(event_)
    assert cloud["type"] == "pms.reservation_observed"
    result: dict[str, Any] = cloud["data"]
    return result


def test_the_registry_builds_it_as_a_per_connection_basic_auth_partner() -> None:
    manifest = build_connectors()["hostaway"].manifest
    assert (manifest.endpoints, manifest.secret_per_endpoint) == (None, True)
    assert manifest.webhook_secret == "HOSTAWAY_WEBHOOK_BASIC_AUTH"
    assert "authorization" not in manifest.kept_headers


def test_basic_credentials_of_the_connection_verify_in_any_current_version() -> None:
    body = hostaway.sample("reservation.created")
    # What Hostaway sends: `Authorization: Basic base64(login:password)`.
    hostaway.verify(delivery(body, basic(SECRET)), [SECRET], now=0)
    hostaway.verify(delivery(body, basic(SECRET)), ["hub-miami:new-Passw0rd-2", SECRET], now=0)
    assert hostaway.sign(body, SECRET, timestamp=0, url="") == {
        **basic(SECRET), "Content-Type": "application/json"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_signature"),
        (basic(OTHER_CONNECTION_SECRET), "signature_mismatch"),  # another connection's login
        (basic("hub-miami:wrong-password"), "signature_mismatch"),
        ({"Authorization": "Bearer " + SECRET}, "malformed_signature"),
    ],
)
def test_missing_wrong_or_another_connections_credentials_are_refused(
    headers: dict[str, str], reason: str
) -> None:
    body = hostaway.sample("reservation.created")
    with pytest.raises(SignatureError) as refused:
        hostaway.verify(delivery(body, headers), [SECRET], now=0)
    assert refused.value.reason == reason
    assert SECRET not in str(refused.value)


def test_the_id_holds_the_connection_event_reservation_and_a_hash_of_the_data() -> None:
    data = samples.reservation(reservation_id=30512345)
    body = samples.envelope("reservation.created", data)
    [first] = hostaway.split(delivery(body, basic(SECRET)))
    # The same data again (re-serialized in another key order): the same id, a duplicate.
    reordered = orjson.dumps({"data": dict(reversed(data.items())), "event": "reservation.created",
                              "object": "reservation", "accountId": samples.ACCOUNT_ID})  # fmt: skip
    [again] = hostaway.split(delivery(reordered, basic(SECRET)))
    changed = samples.envelope("reservation.created", {**data, "status": "cancelled"})
    [cancelled] = hostaway.split(delivery(changed, basic(SECRET)))
    [elsewhere] = hostaway.split(delivery(body, basic(SECRET), connection="brickell-stays"))

    assert first.partner_event_id.startswith("miami-homes:reservation.created:30512345:")
    assert pms.connection_of(first.partner_event_id) == CONNECTION
    assert (first.event_type, first.body) == ("reservation.created", body)
    assert again.partner_event_id == first.partner_event_id
    assert cancelled.partner_event_id != first.partner_event_id
    assert elsewhere.partner_event_id.startswith("brickell-stays:reservation.created:30512345:")


def test_unknown_events_are_stored_and_ignored_and_own_types_cannot_be_forged() -> None:
    message = hostaway.sample("message.received")
    [event] = hostaway.split(delivery(message, basic(SECRET)))
    assert event.event_type == "message.received"
    assert hostaway.normalize(event) == []

    forged = samples.envelope("listing.polled", samples.listing())
    [renamed] = hostaway.split(delivery(forged, basic(SECRET)))
    assert renamed.event_type == "webhook.listing.polled"
    assert hostaway.normalize(renamed) == []


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"data": {"id": 1}}', b'{"event": ""}'], ids=repr
)
def test_a_body_that_is_not_a_hostaway_delivery_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        hostaway.split(delivery(body, basic(SECRET)))


def test_a_created_reservation_maps_every_field() -> None:
    data = samples.reservation(reservation_id=30512345, arrival=None)
    data.update(arrivalDate="2027-01-08", departureDate="2027-01-11", totalPrice=1234.56,
                reservationDate="2026-11-30 18:05:09", updatedOn="2026-12-01 09:30:00",
                channelReservationId="HMX4K2PQ9Z")  # fmt: skip
    result = observed(data, "reservation.created")
    assert result == {
        "source": "hostaway",
        "connection": CONNECTION,
        "source_reservation_id": "30512345",
        "source_listing_id": str(samples.LISTING_ID),
        "status": "confirmed",
        "raw_status": "new",
        "check_in": "2027-01-08",
        "check_out": "2027-01-11",
        "channel": "airbnb",
        "channel_code": "HMX4K2PQ9Z",
        "check_in_time": "16:00",
        "check_out_time": "11:00",
        "timezone": None,
        "adults": 2,
        "children": 1,
        "infants": None,
        "guests_total": 3,
        "guest": {
            "name": "Lucía Fernández",
            "email": "lucia.fernandez@example.com",
            "phone": "+13055550142",
        },
        "total_minor": 123456,
        "currency": "USD",
        "booked_at": "2026-11-30T18:05:09Z",
        "source_updated_at": "2026-12-01T09:30:00Z",
        "is_block": False,
        "complete": True,
    }


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("new", "confirmed"), ("modified", "confirmed"), ("cancelled", "cancelled"),
        ("ownerStay", "blocked"), ("pending", "pending"), ("awaitingPayment", "pending"),
        ("awaitingGuestVerification", "pending"), ("unconfirmed", "pending"),
        ("inquiry", "inquiry"), ("inquiryPreapproved", "inquiry"), ("declined", "declined"),
        ("inquiryDenied", "declined"), ("inquiryNotPossible", "declined"),
        ("expired", "expired"), ("inquiryTimedout", "expired"), ("unknown", "unknown"),
        ("somethingNew", "unknown"),
    ],
)  # fmt: skip
def test_statuses_map_per_the_table_keeping_the_raw_one(raw: str, status: str) -> None:
    result = observed(samples.reservation(status=raw))
    assert (result["status"], result["raw_status"]) == (status, raw)
    assert result["is_block"] is (raw == "ownerStay")


@pytest.mark.parametrize(
    ("channel_id", "channel"),
    [(2018, "airbnb"), (2002, "vrbo"), (2010, "vrbo"), (2005, "booking"), (2007, "expedia"),
     (2000, "direct"), (2013, "direct"), (2009, "ical"), (2015, "ical"), (2016, "ical"),
     (2019, "other"), (2022, "other"), ("2005", "booking")],
)  # fmt: skip
def test_channels_map_by_channel_id(channel_id: Any, channel: str) -> None:
    assert observed({**samples.reservation(), "channelId": channel_id})["channel"] == channel


def test_a_date_change_sample_and_a_cancellation_keep_the_new_dates() -> None:
    moved = samples.date_change()
    result = observed(moved)
    assert (result["check_in"], result["raw_status"]) == (moved["arrivalDate"], "modified")
    cancelled = observed({**samples.reservation(), "status": "cancelled"})
    assert cancelled["status"] == "cancelled"


def test_hours_money_and_counts_out_of_shape_become_none() -> None:
    odd = {**samples.reservation(), "checkInTime": 24, "checkOutTime": None, "adults": -1,
           "numberOfGuests": True, "currency": "usd!", "totalPrice": 99.99, "updatedOn": "soon",
           "guestName": "  ", "phone": "+1" + "5" * 60}  # fmt: skip
    result = observed(odd)
    assert (result["check_in_time"], result["check_out_time"]) == (None, None)
    assert (result["adults"], result["guests_total"]) == (None, None)
    assert (result["total_minor"], result["currency"]) == (None, None)
    assert result["source_updated_at"] is None
    assert result["guest"]["name"] is None and len(result["guest"]["phone"]) == 32
    assert (
        observed({**samples.reservation(), "currency": "JPY", "totalPrice": 45000})["total_minor"]
        == 45000
    )
    assert (
        observed({**samples.reservation(), "currency": "KWD", "totalPrice": 12.3456})["total_minor"]
        == 12346
    )


@pytest.mark.parametrize(
    "change",
    [{"arrivalDate": "next week"}, {"departureDate": None}, {"id": None}, {"listingMapId": ""}],
    ids=repr,
)
def test_a_reservation_that_cannot_be_read_fails_alone(change: dict[str, Any]) -> None:
    """The normalizer dead-letters the one event whose normalize raises."""
    body = samples.envelope("reservation.updated", {**samples.reservation(), **change})
    [event] = hostaway.split(delivery(body, basic(SECRET)))
    with pytest.raises(ValueError):
        hostaway.normalize(event)


def test_polled_and_fetched_objects_normalize_into_reservations_and_listings() -> None:
    for event_type in ("reservation.polled", "reservation.fetched"):
        body = hostaway.sample(event_type)
        event = PartnerEvent(pms.connection_event_id(CONNECTION, "x:1"), event_type, body)
        [cloud] = normalized(event)
        assert cloud["data"]["source_reservation_id"] == str(orjson.loads(body)["id"])
    listing = PartnerEvent(pms.connection_event_id(CONNECTION, "listing:40160:ab"),
                           "listing.polled", hostaway.sample("listing.polled"))  # fmt: skip
    [cloud] = normalized(listing)
    assert cloud["type"] == "pms.listing_observed"
    assert cloud["subject"] == f"{CONNECTION}/40160"
    assert cloud["data"] == {
        "source": "hostaway",
        "connection": CONNECTION,
        "source_listing_id": "40160",
        "name": "Brickell Bay 2BR with ocean view",
        "address": "1200 Brickell Bay Dr, Miami, FL 33131, United States",
        "latitude": 25.7617,
        "longitude": -80.1918,
        "timezone": "America/New_York",
        "check_in_time": "16:00",
        "check_out_time": "11:00",
        "source_updated_at": None,
    }


def test_each_sample_is_a_fresh_delivery() -> None:
    first, second = (hostaway.sample("reservation.created") for _ in range(2))
    [a] = hostaway.split(delivery(first, basic(SECRET)))
    [b] = hostaway.split(delivery(second, basic(SECRET)))
    assert a.partner_event_id != b.partner_event_id
    assert isinstance(hostaway.normalize(a)[0], InternalEventDraft)


def test_the_event_time_comes_from_the_data_so_a_replay_builds_the_same_event() -> None:
    data = {**samples.reservation(), "updatedOn": "2026-12-01 09:30:00"}
    [event] = hostaway.split(delivery(samples.envelope("reservation.updated", data), basic(SECRET)))
    assert [c["time"] for c in normalized(event)] == ["2026-12-01T09:30:00Z"]
    assert normalized(event) == normalized(event)
    no_update = {**data, "updatedOn": None, "reservationDate": "2026-11-30 18:05:09"}
    [older] = hostaway.split(delivery(samples.envelope("reservation.updated", no_update),
                                      basic(SECRET)))  # fmt: skip
    assert [c["time"] for c in normalized(older)] == ["2026-11-30T18:05:09Z"]
