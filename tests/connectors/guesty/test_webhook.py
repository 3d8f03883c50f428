"""Guesty's Svix signatures, cross-checked with the official svix SDK, per connection; the ids
`split` makes; and the mapping of each documented payload into the unified model."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from svix.webhooks import Webhook

from integration_hub.connectors import pms
from integration_hub.connectors.base import Delivery, InternalEventDraft, PartnerEvent
from integration_hub.connectors.guesty import samples
from integration_hub.connectors.guesty.payloads import channel_of, minor_units, status_of
from integration_hub.connectors.guesty.webhook import GuestyConnector
from integration_hub.connectors.partners import build_connectors
from integration_hub.errors import MalformedPayload, SignatureError
from integration_hub.events import build_event, validate_event
from integration_hub.pipeline.normalizer import normalize_row

SECRET = "whsec_" + base64.b64encode(b"guesty-mia-beach-secret-0123456789").decode()
OTHER = "whsec_" + base64.b64encode(b"guesty-other-connection-secret-012").decode()
CONNECTION = "mia-beach"
guesty = GuestyConnector()


def svix_headers(body: bytes, secret: str, *, at: float, message_id: str) -> dict[str, str]:
    signature = Webhook(secret).sign(message_id, datetime.fromtimestamp(at, UTC), body.decode())
    return {"svix-id": message_id, "svix-timestamp": str(int(at)), "svix-signature": signature}


def delivery(
    body: bytes,
    *,
    secret: str = SECRET,
    connection: str = CONNECTION,
    message_id: str = "msg_2pVxK7tq9Wc1",
    at: float | None = None,
) -> Delivery:
    now = time.time() if at is None else at
    headers = svix_headers(body, secret, at=now, message_id=message_id)
    url = f"https://hub.example.com/webhooks/guesty/{connection}"
    return Delivery(body, headers, url, now, connection)


def drafts_of(body: bytes, event_type: str, event_id: str = "mia-beach:msg_1") -> list[Any]:
    """The validated CloudEvents a stored event of `event_type` becomes."""
    drafts = guesty.normalize(PartnerEvent(event_id, event_type, body))
    events = []
    for index, draft in enumerate(drafts):
        event = build_event(partner="guesty", partner_event_id=event_id, index=index, draft=draft)
        validate_event(event)
        events.append(event)
    return events


def only(events: list[Any]) -> dict[str, Any]:
    assert len(events) == 1
    event: dict[str, Any] = events[0]
    return event


def test_the_registry_builds_a_per_connection_connector() -> None:
    manifest = build_connectors()["guesty"].manifest
    assert manifest.endpoints is None and manifest.secret_per_endpoint
    assert {"svix-id", "svix-timestamp"} <= manifest.kept_headers
    assert "svix-signature" not in manifest.kept_headers


def test_a_delivery_the_svix_sdk_signed_verifies_and_ours_verifies_with_the_sdk() -> None:
    body = guesty.sample("reservation.created.v2")
    guesty.verify(delivery(body), [SECRET], now=time.time())

    now = int(time.time())
    ours = guesty.sign(body, SECRET, timestamp=now, url="")
    Webhook(SECRET).verify(body, {k: v for k, v in ours.items() if k.startswith("svix-")})


@pytest.mark.parametrize(
    "change",
    ["tampered body", "another connection's secret", "no signature", "stale", "unsigned id"],
)
def test_a_forged_or_foreign_delivery_is_refused(change: str) -> None:
    body = guesty.sample("reservation.updated.v2")
    now = time.time()
    signed = delivery(body, secret=OTHER if change == "another connection's secret" else SECRET,
                      at=now - 600 if change == "stale" else now)  # fmt: skip
    headers = dict(signed.headers)
    if change == "no signature":
        del headers["svix-signature"]
    if change == "unsigned id":
        headers["svix-id"] = "msg_replayed_under_another_id"
    sent = body.replace(b"confirmed", b"canceled") if change == "tampered body" else body
    with pytest.raises(SignatureError):
        guesty.verify(Delivery(sent, headers, signed.url, now, CONNECTION), [SECRET], now=now)


def test_split_keys_each_message_by_its_connection_and_svix_id() -> None:
    body = guesty.sample("reservation.created.v2")

    [event] = guesty.split(delivery(body, message_id="msg_2pVxK7tq9Wc1"))
    [again] = guesty.split(delivery(body, message_id="msg_2pVxK7tq9Wc1", at=time.time() + 5))
    [other] = guesty.split(delivery(body, connection="brickell-rentals", secret=OTHER))

    assert event.partner_event_id == "mia-beach:msg_2pVxK7tq9Wc1" == again.partner_event_id
    assert pms.connection_of(other.partner_event_id) == "brickell-rentals"
    assert event.event_type == "reservation.created.v2" and event.body == body


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"dateRange": {"start": "2026-12-01", "end": "2026-12-31"}, "listingId": "l1"}',
         "calendar.updated.v2"),
        (b'{"type": "task.created", "task": {}}', "task.created"),
        (b'{"something": "else"}', "unknown"),
    ],
)  # fmt: skip
def test_the_type_comes_from_the_body_and_an_unnamed_one_is_still_stored(
    body: bytes, expected: str
) -> None:
    [event] = guesty.split(delivery(body))
    assert event.event_type == expected
    assert guesty.normalize(PartnerEvent(event.partner_event_id, expected, body)) == []


@pytest.mark.parametrize(
    ("body", "connection"),
    [
        (b"not json", CONNECTION),
        (b"[1, 2]", CONNECTION),
        (orjson.dumps({"event": "x" * 300}), CONNECTION),
        (orjson.dumps({"event": "reservation.new\x00"}), CONNECTION),
        (b'{"event": "listing.new"}', ""),
    ],
)
def test_split_refuses_what_is_not_a_guesty_payload_of_a_connection(
    body: bytes, connection: str
) -> None:
    signed = delivery(body)
    with pytest.raises(MalformedPayload):
        guesty.split(Delivery(body, signed.headers, signed.url, signed.received_at, connection))


def test_a_lean_v2_reservation_is_observed_incomplete_with_its_stay() -> None:
    lean = samples.lean_reservation("canceled", checkInDateLocalized="2026-12-18",
                                    checkOutDateLocalized="2026-12-22",
                                    publishedAt="2026-12-02T04:10:11.250Z")  # fmt: skip
    body = orjson.dumps({"event": "reservation.updated.v2", **lean})

    event = only(drafts_of(body, "reservation.updated.v2"))

    assert event["type"] == pms.RESERVATION_OBSERVED
    assert event["subject"] == f"mia-beach/{lean['reservationId']}"
    data = event["data"]
    assert (data["status"], data["raw_status"]) == ("cancelled", "canceled")
    assert (data["check_in"], data["check_out"]) == ("2026-12-18", "2026-12-22")
    assert data["source_listing_id"] == samples.LISTING_ID
    assert (data["channel_code"], data["guests_total"]) == ("HMQ4ZT8KXA", 3)
    assert data["source_updated_at"] == "2026-12-02T04:10:11.250000Z"
    assert data["complete"] is False and data["guest"] == {
        "name": None,
        "email": None,
        "phone": None,
    }
    assert data["total_minor"] is None and data["connection"] == "mia-beach"


def test_a_lean_v2_change_without_the_stay_is_a_hint_to_fetch() -> None:
    body = orjson.dumps({"event": "reservation.updated.v2", "reservationId": "6650b1f2e4a0c10013d2c7aa",
                         "publishedAt": "2026-12-02T04:10:11Z"})  # fmt: skip

    event = only(drafts_of(body, "reservation.updated.v2"))

    assert event["type"] == pms.RESERVATION_HINTED
    assert event["data"]["source_reservation_id"] == "6650b1f2e4a0c10013d2c7aa"


@pytest.mark.parametrize("event_type", ["reservation.new", "reservation.updated"])
def test_a_legacy_reservation_carries_everything(event_type: str) -> None:
    whole = samples.full_reservation("checked_in", source="Booking.com")
    body = orjson.dumps({"event": event_type, "reservation": whole})

    data = only(drafts_of(body, event_type))["data"]

    assert data["source_reservation_id"] == whole["_id"]
    assert (data["status"], data["channel"]) == ("checked_in", "booking")
    assert (data["check_in_time"], data["check_out_time"]) == ("16:00", "11:00")
    assert (data["adults"], data["children"], data["infants"]) == (2, 1, 0)
    assert data["guest"] == {"name": "Lucía Fernández", "email": "lucia.fernandez@example.org",
                             "phone": "+13055550142"}  # fmt: skip
    assert (data["total_minor"], data["currency"]) == (101250, "USD")
    assert data["timezone"] == "America/New_York" and data["complete"] is True
    assert data["booked_at"] == "2026-11-20T14:03:11.402000Z"


def test_a_listing_is_observed_with_its_address_and_times() -> None:
    body = guesty.sample("listing.updated")
    listing = orjson.loads(body)["listing"]

    event = only(drafts_of(body, "listing.updated"))

    assert event["type"] == pms.LISTING_OBSERVED
    data = event["data"]
    assert data["source_listing_id"] == listing["_id"]
    assert data["name"] == "Casa Coral - Little Havana 2BR"
    assert data["address"] == "1520 SW 8th St, Miami, FL 33135, USA"
    assert (data["latitude"], data["longitude"]) == (25.7656, -80.2196)
    assert (data["check_in_time"], data["check_out_time"], data["timezone"]) == (
        "16:00", "11:00", "America/New_York")  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "status"),
    [("inquiry", "inquiry"), ("reserved", "pending"), ("confirmed", "confirmed"),
     ("canceled", "cancelled"), ("declined", "declined"), ("expired", "expired"),
     ("closed", "expired"), ("checked_in", "checked_in"), ("checked_out", "checked_out"),
     ("awaiting_payment", "unknown"), (None, "unknown")],
)  # fmt: skip
def test_statuses_map_as_pms_md_says(raw: str | None, status: str) -> None:
    assert status_of(raw) == status


@pytest.mark.parametrize(
    ("source", "channel"),
    [("airbnb2", "airbnb"), ("Airbnb", "airbnb"), ("homeaway", "vrbo"), ("VRBO", "vrbo"),
     ("bookingCom", "booking"), ("Booking.com", "booking"), ("expedia", "expedia"),
     ("Manual", "direct"), ("website", "direct"), ("direct", "direct"), ("tripAdvisor", "other"),
     ("", None), (None, None)],
)  # fmt: skip
def test_channels_map_from_the_source(source: str | None, channel: str | None) -> None:
    assert channel_of(source) == channel


def test_money_is_in_minor_units_of_its_currency() -> None:
    assert minor_units(1012.5, "USD") == 101250
    assert minor_units("0.125", "USD") == 12  # half to even
    assert minor_units(12000, "JPY") == 12000
    assert minor_units(1.5, "KWD") == 1500
    assert minor_units(float("nan"), "USD") is None and minor_units(10, None) is None


def test_a_bad_reservation_is_dead_lettered_alone_and_its_error_names_no_guest() -> None:
    whole = samples.full_reservation()
    del whole["checkInDateLocalized"]
    bad = orjson.dumps({"event": "reservation.new", "reservation": whole})
    good = guesty.sample("reservation.new")

    class Row:
        def __init__(self, row_id: int, body: bytes) -> None:
            self.id, self.partner, self.event_type, self.body = (
                row_id,
                "guesty",
                "reservation.new",
                body,
            )
            self.partner_event_id = f"mia-beach:msg_{row_id}"

    names = lambda _: ()  # noqa: E731 (no handler)
    failed = normalize_row(Row(1, bad), {"guesty": guesty}, names)  # type: ignore[arg-type]
    fine = normalize_row(Row(2, good), {"guesty": guesty}, names)  # type: ignore[arg-type]

    assert failed.error is not None and "checkInDateLocalized" in failed.error
    assert "Lucía" not in failed.error and "lucia" not in failed.error and not failed.events
    assert fine.error is None and len(fine.events) == 1


def test_fetched_reservations_normalize_but_are_not_a_webhook_type() -> None:
    assert "reservation.fetched" not in guesty.manifest.event_map
    data = only(drafts_of(guesty.sample("reservation.fetched"), "reservation.fetched"))["data"]
    assert data["complete"] is True and data["channel"] == "airbnb"


def test_every_sample_normalizes_to_its_mapped_type() -> None:
    for event_type, internal in guesty.manifest.event_map.items():
        [event] = guesty.split(delivery(guesty.sample(event_type)))
        drafts: list[InternalEventDraft] = guesty.normalize(event)
        assert [d.type for d in drafts] == [internal]
