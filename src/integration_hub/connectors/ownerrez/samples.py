"""Realistic OwnerRez bodies (shaped from the documented ones, values our own) for `hub send`
and the tests: each call gets fresh ids, so a repeated sample is never a duplicate."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any


def _id() -> int:
    return random.randint(10_000_000, 99_999_999)  # noqa: S311 (sample ids, not secrets)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def webhook(entity_id: int | None = None, *, entity_type: str = "booking") -> dict[str, Any]:
    """A webhook delivery: OwnerRez says which entity changed; the receiver fetches it."""
    return {
        "entity_id": entity_id if entity_id is not None else _id(),
        "entity_type": entity_type,
        "action": "entity_update",
    }


def booking(
    booking_id: int | None = None,
    *,
    property_id: int = 418207,
    status: str = "active",
    updated_utc: str | None = None,
    arrival: date | None = None,
) -> dict[str, Any]:
    """A booking as `GET /v2/bookings/{id}` (or a page of `/v2/bookings?include_guest=true`)
    answers it."""
    start = arrival or date.today() + timedelta(days=21)
    return {
        "id": booking_id if booking_id is not None else _id(),
        "property_id": property_id,
        "arrival": start.isoformat(),
        "departure": (start + timedelta(days=4)).isoformat(),
        "check_in": "16:00",
        "check_out": "10:00",
        "adults": 2,
        "children": 1,
        "infants": 0,
        "pets": 0,
        "guest_id": 77120945,
        "guest": {
            "id": 77120945,
            "first_name": "Lucía",
            "last_name": "Fernández",
            "email_addresses": [{"address": "lucia.fernandez@example.com", "is_default": True}],
            "phones": [{"number": "+13055550148", "is_default": True}],
        },
        "status": status,
        "type": "booking",
        "is_block": False,
        "total_amount": 1386.5,
        "charges": [
            {"type": "rent", "description": "Rent", "amount": 1100.0},
            {"type": "fee", "description": "Cleaning fee", "amount": 185.0},
            {"type": "tax", "description": "Miami-Dade resort tax", "amount": 101.5},
        ],
        "created_utc": "2026-11-20T14:02:11Z",
        "booked_utc": "2026-11-20T14:02:11Z",
        "updated_utc": updated_utc or _now(),
    }


def block(booking_id: int | None = None, *, property_id: int = 418207) -> dict[str, Any]:
    start = date.today() + timedelta(days=40)
    return {
        "id": booking_id if booking_id is not None else _id(),
        "property_id": property_id,
        "arrival": start.isoformat(),
        "departure": (start + timedelta(days=3)).isoformat(),
        "status": "active",
        "type": "block",
        "is_block": True,
        "updated_utc": _now(),
    }


def property_(property_id: int | None = None) -> dict[str, Any]:
    """A property as `GET /v2/properties` lists it."""
    return {
        "id": property_id if property_id is not None else _id(),
        "name": "Brickell Bay Loft 1204",
        "active": True,
        "address": {
            "street1": "1200 Brickell Bay Dr",
            "street2": "Unit 1204",
            "city": "Miami",
            "state": "FL",
            "postal_code": "33131",
            "country": "US",
        },
        "latitude": 25.7617,
        "longitude": -80.1918,
        "check_in": "16:00",
        "check_out": "10:00",
        "time_zone": "America/New_York",
        "updated_utc": _now(),
    }
