"""Realistic Guesty payloads, shaped from the documented ones (pms.md §2, the webhooks and
reservation references), with our own values: Miami listings, es and en guests. Each call
gives fresh ids, so a repeated sample is never a duplicate."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

LISTING_ID = "6620d1a4c2e5b80012f3a9b1"


def object_id() -> str:
    """A Mongo ObjectId, as Guesty's ids are (24 hex)."""
    return secrets.token_hex(12)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stay(days_ahead: int = 12, nights: int = 4) -> tuple[date, date]:
    check_in = datetime.now(UTC).date() + timedelta(days=days_ahead)
    return check_in, check_in + timedelta(days=nights)


def lean_reservation(status: str = "confirmed", **changes: Any) -> dict[str, Any]:
    """The v2 webhooks' stay details (no money, no guest)."""
    check_in, check_out = _stay()
    return {
        "reservationId": object_id(),
        "unitId": LISTING_ID,
        "status": status,
        "checkInDateLocalized": check_in.isoformat(),
        "checkOutDateLocalized": check_out.isoformat(),
        "confirmationCode": "HMQ4ZT8KXA",
        "guestsCount": 3,
        "publishedAt": _now(),
        **changes,
    }


def full_reservation(status: str = "confirmed", **changes: Any) -> dict[str, Any]:
    """`GET /v1/reservations/{id}` (and the legacy webhooks' `reservation`)."""
    check_in, check_out = _stay()
    return {
        "_id": object_id(),
        "accountId": "5f9a3c7be1d2a40031c0ffee",
        "listingId": LISTING_ID,
        "listing": {
            "_id": LISTING_ID,
            "title": "Brickell Bay 1204",
            "timezone": "America/New_York",
        },
        "status": status,
        "source": "airbnb2",
        "confirmationCode": "HMQ4ZT8KXA",
        "checkIn": f"{check_in.isoformat()}T20:00:00.000Z",
        "checkOut": f"{check_out.isoformat()}T15:00:00.000Z",
        "checkInDateLocalized": check_in.isoformat(),
        "checkOutDateLocalized": check_out.isoformat(),
        "plannedArrival": "16:00",
        "plannedDeparture": "11:00",
        "nightsCount": (check_out - check_in).days,
        "guestsCount": 3,
        "numberOfGuests": {"numberOfAdults": 2, "numberOfChildren": 1, "numberOfInfants": 0},
        "guestId": object_id(),
        "guest": {
            "_id": object_id(),
            "fullName": "Lucía Fernández",
            "email": "lucia.fernandez@example.org",
            "phone": "+13055550142",
        },
        "money": {
            "currency": "USD",
            "fareAccommodation": 980,
            "fareCleaning": 145,
            "hostPayout": 1012.5,
            "totalPaid": 1125,
            "balanceDue": 0,
        },
        "createdAt": "2026-11-20T14:03:11.402Z",
        "lastUpdatedAt": _now(),
        **changes,
    }


def listing(**changes: Any) -> dict[str, Any]:
    return {
        "_id": object_id(),
        "accountId": "5f9a3c7be1d2a40031c0ffee",
        "title": "Casa Coral - Little Havana 2BR",
        "nickname": "Coral 2BR",
        "address": {
            "full": "1520 SW 8th St, Miami, FL 33135, USA",
            "street": "1520 SW 8th St",
            "city": "Miami",
            "state": "FL",
            "zipcode": "33135",
            "country": "United States",
            "lat": 25.7656,
            "lng": -80.2196,
        },
        "timezone": "America/New_York",
        "defaultCheckInTime": "16:00",
        "defaultCheckOutTime": "11:00",
        "active": True,
        "lastUpdatedAt": _now(),
        **changes,
    }


def payload(event_type: str) -> bytes:
    """A webhook body of `event_type` (the type in `event`, as Guesty sends it)."""
    if event_type in ("reservation.created.v2", "reservation.updated.v2"):
        return orjson.dumps({"event": event_type, **lean_reservation()})
    if event_type in ("reservation.new", "reservation.updated"):
        return orjson.dumps({"event": event_type, "reservation": full_reservation()})
    if event_type in ("listing.new", "listing.updated"):
        return orjson.dumps({"event": event_type, "listing": listing()})
    if event_type == "calendar.updated.v2":
        start = datetime.now(UTC).date()
        return orjson.dumps(
            {
                "event": event_type,
                "listingId": LISTING_ID,
                "accountId": "5f9a3c7be1d2a40031c0ffee",
                "currency": "USD",
                "dateRange": {
                    "start": start.isoformat(),
                    "end": (start + timedelta(30)).isoformat(),
                },
            }
        )
    return orjson.dumps({"event": event_type, "id": object_id()})
