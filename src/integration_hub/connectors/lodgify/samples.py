"""Realistic Lodgify bodies (shaped from the documented v2 ones, values our own) for the tests:
each call gets fresh ids, so a repeated sample is never a duplicate."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any


def _id() -> int:
    return random.randint(1_000_000, 9_999_999)  # noqa: S311 (sample ids, not secrets)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None).isoformat()


def booking(
    booking_id: int | None = None,
    *,
    property_id: int = 276841,
    status: str = "Booked",
    source: str = "AirbnbIntegration",
    updated_at: str | None = None,
) -> dict[str, Any]:
    """A booking as `GET /v2/reservations/bookings` lists it."""
    start = date.today() + timedelta(days=30)
    return {
        "id": booking_id if booking_id is not None else _id(),
        "property_id": property_id,
        "arrival": start.isoformat(),
        "departure": (start + timedelta(days=5)).isoformat(),
        "status": status,
        "source": source,
        "source_text": "Airbnb",
        "language": "es",
        "guest": {
            "name": "Mateo Rodríguez",
            "email": "mateo.rodriguez@example.com",
            "phone": "+13055550172",
        },
        "rooms": [
            {
                "room_type_id": 339012,
                "people": 4,
                "guest_breakdown": {"adults": 2, "children": 2, "infants": 0, "pets": 0},
            }
        ],
        "currency_code": "USD",
        "total_amount": 2140.75,
        "created_at": "2026-11-18T09:41:00",
        "updated_at": updated_at or _now(),
    }


def property_(property_id: int | None = None) -> dict[str, Any]:
    """A property as `GET /v2/properties` lists it."""
    return {
        "id": property_id if property_id is not None else _id(),
        "name": "Coconut Grove Bungalow",
        "address": "3250 Grand Ave",
        "city": "Miami",
        "state": "FL",
        "zip": "33133",
        "country": "United States",
        "latitude": 25.7281,
        "longitude": -80.2437,
        "currency_code": "USD",
        "updated_at": _now(),
    }
