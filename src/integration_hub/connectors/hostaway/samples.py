"""Realistic Hostaway bodies, shaped from the documented reservation and listing objects and the
unified webhook's envelope (pms.md §1), with values of our own (Miami listings, es/en names).
Each call makes a fresh reservation id, so two samples are never one delivery."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

ACCOUNT_ID = 59808
LISTING_ID = 40160


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def reservation(
    *,
    reservation_id: int | None = None,
    status: str = "new",
    channel_id: int = 2018,
    arrival: date | None = None,
    nights: int = 3,
) -> dict[str, Any]:
    """One reservation object as Hostaway documents it (the fields the hub reads and a few)."""
    now = datetime.now(UTC).replace(microsecond=0)
    number = reservation_id if reservation_id is not None else 30_000_000 + secrets.randbelow(10**6)
    start = arrival or (now.date() + timedelta(days=21))
    return {
        "id": number,
        "listingMapId": LISTING_ID,
        "channelId": channel_id,
        "channelName": {2018: "airbnbOfficial", 2005: "bookingcom", 2000: "direct"}.get(
            channel_id, "partner"
        ),
        "reservationId": f"{ACCOUNT_ID}-{LISTING_ID}-{number}",
        "hostawayReservationId": number,
        "channelReservationId": f"HM{secrets.token_hex(4).upper()}",
        "source": "airbnbOfficial",
        "reservationDate": _stamp(now - timedelta(days=2)),
        "updatedOn": _stamp(now),
        "guestName": "Lucía Fernández",
        "guestFirstName": "Lucía",
        "guestLastName": "Fernández",
        "guestEmail": "lucia.fernandez@example.com",
        "phone": "+13055550142",
        "guestCountry": "US",
        "numberOfGuests": 3,
        "adults": 2,
        "children": 1,
        "infants": None,
        "pets": None,
        "arrivalDate": start.isoformat(),
        "departureDate": (start + timedelta(days=nights)).isoformat(),
        "isDatesUnspecified": 0,
        "previousArrivalDate": None,
        "previousDepartureDate": None,
        "checkInTime": 16,
        "checkOutTime": 11,
        "nights": nights,
        "totalPrice": 1234.56,
        "currency": "USD",
        "status": status,
        "cancellationDate": None,
        "cancelledBy": None,
        "confirmationCode": f"HM{secrets.token_hex(4).upper()}",
        "isArchived": 0,
    }


def listing(*, listing_id: int = LISTING_ID) -> dict[str, Any]:
    return {
        "id": listing_id,
        "name": "Brickell Bay 2BR with ocean view",
        "externalListingName": "Brickell Bay 2BR",
        "address": "1200 Brickell Bay Dr, Miami, FL 33131, United States",
        "street": "1200 Brickell Bay Dr",
        "city": "Miami",
        "state": "FL",
        "zipcode": "33131",
        "countryCode": "US",
        "lat": 25.7617,
        "lng": -80.1918,
        "timeZoneName": "America/New_York",
        "checkInTimeStart": 16,
        "checkInTimeEnd": 22,
        "checkOutTime": 11,
        "personCapacity": 6,
        "currencyCode": "USD",
    }


def envelope(event: str, data: dict[str, Any], *, kind: str = "reservation") -> bytes:
    """A unified webhook delivery: `{"object", "event", "accountId", "data"}`."""
    body = {"object": kind, "event": event, "accountId": ACCOUNT_ID, "data": data}
    return orjson.dumps(body)


def date_change() -> dict[str, Any]:
    """A reservation whose guest moved the stay two days later (status `modified`)."""
    moved = reservation(status="modified")
    arrival = date.fromisoformat(moved["arrivalDate"])
    moved["previousArrivalDate"] = (arrival - timedelta(days=2)).isoformat()
    moved["previousDepartureDate"] = (arrival - timedelta(days=2 - moved["nights"])).isoformat()
    return moved


def message() -> dict[str, Any]:
    return {
        "id": 90_000_000 + secrets.randbelow(10**6),
        "conversationId": 7_000_000 + secrets.randbelow(10**5),
        "reservationId": 30_000_000 + secrets.randbelow(10**6),
        "body": "Hola, ¿a qué hora podemos hacer el check-in?",
        "isIncoming": 1,
        "insertedOn": _stamp(datetime.now(UTC)),
    }
