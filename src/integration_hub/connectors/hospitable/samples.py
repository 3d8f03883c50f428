"""Realistic Hospitable payloads for `hub send` and the tests, shaped from the documented ones
(the Public API v2 webhook reference, pms.md §5): an envelope `{id (ULID), action, data,
created, version}` whose `data` is the GET shape. Each call gets a fresh ULID and ids."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from integration_hub.connectors.hospitable.payloads import ULID_ALPHABET

PROPERTY_ID = "4c1e7a52-9d0b-4f3e-8a61-2b7d5c9e0f13"


def new_ulid(at_ms: int | None = None) -> str:
    value = ((int(time.time() * 1000) if at_ms is None else at_ms) << 80) | secrets.randbits(80)
    return "".join(ULID_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def property_data(property_id: str = PROPERTY_ID) -> dict[str, Any]:
    return {
        "id": property_id,
        "name": "Brickell Bay 1204",
        "public_name": "Bright bayfront condo in Brickell",
        "picture": "https://assets.hospitable.com/property_images/brickell-1204.jpg",
        "address": {
            "number": "1204",
            "street": "1440 Brickell Bay Dr",
            "city": "Miami",
            "state": "FL",
            "country": "US",
            "postcode": "33131",
            "coordinates": {"latitude": 25.7589, "longitude": -80.1905},
            "display": "1440 Brickell Bay Dr 1204, Miami, FL 33131, US",
        },
        "timezone": "-0500",
        "listed": True,
        "amenities": ["wifi", "pool", "air_conditioning"],
        "description": "Two bedrooms over Biscayne Bay.",
        "summary": "Bayfront condo",
        "check-in": "16:00",
        "check-out": "11:00",
        "currency": "USD",
        "capacity": {"max": 4, "bedrooms": 2, "beds": 2, "bathrooms": 2},
        "room_details": [],
        "house_rules": {"pets_allowed": False, "smoking_allowed": False, "events_allowed": False},
        "listings": [{"platform": "airbnb", "platform_id": "53987411", "platform_name": None}],
    }


def reservation_data(
    *, category: str = "accepted", sub_category: str | None = None, platform: str = "airbnb"
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "conversation_id": str(uuid.uuid4()),
        "platform": platform,
        "platform_id": "HM" + secrets.token_hex(4).upper(),
        "booking_date": "2026-11-28T15:42:10Z",
        "arrival_date": "2026-12-19T00:00:00-05:00",
        "departure_date": "2026-12-23T00:00:00-05:00",
        "nights": 4,
        "check_in": "2026-12-19T16:00:00-05:00",
        "check_out": "2026-12-23T11:00:00-05:00",
        "last_message_at": "2026-11-29T09:12:00Z",
        "status": "booking",  # deprecated, and often at odds with reservation_status
        "reservation_status": {
            "current": {"category": category, "sub_category": sub_category},
            "history": [
                {
                    "category": category,
                    "sub_category": sub_category,
                    "changed_at": "2026-11-28T10:42:10-05:00",
                },
            ],
        },
        "guests": {
            "total": 3,
            "adult_count": 2,
            "child_count": 1,
            "infant_count": 0,
            "pet_count": 0,
        },
        "financials": {
            "guest": {
                "accommodation": {"amount": 96000, "formatted": "$960.00"},
                "fees": [
                    {
                        "amount": 15000,
                        "formatted": "$150.00",
                        "label": "Cleaning fee",
                        "category": "Guest fees",
                    }
                ],
                "discounts": [],
                "taxes": [
                    {
                        "amount": 14040,
                        "formatted": "$140.40",
                        "label": "Lodging taxes",
                        "category": "Taxes",
                    }
                ],
                "adjustments": [],
                "total_price": {
                    "amount": 125040,
                    "formatted": "$1,250.40",
                    "label": "Guest Total Price",
                    "category": "Guest total price",
                },
            },
            "currency": "USD",
        },
        "properties": [
            {"id": PROPERTY_ID, "name": "Brickell Bay 1204", "timezone": "-0500"},
        ],
        "guest": {
            "id": str(secrets.randbelow(10**9)),
            "first_name": "Lucía",
            "last_name": "Fernández",
            "email": "lucia.fernandez@example.com",
            "phone_numbers": ["+13055550142"],
            "location": "Madrid, Spain",
            "language": "es",
        },
    }


def envelope(action: str, data: Any, *, created: str | None = None) -> bytes:
    return orjson.dumps(
        {"id": new_ulid(), "action": action, "data": data,
         "created": created or _now(), "version": "v2"}
    )  # fmt: skip


def sample(action: str) -> bytes:
    """A delivery of `action`: a reservation, a property, or the documented lean shapes of
    `property.deleted` ({id}) and `property.merged` ({previous_id, new_id})."""
    if action == "reservation.changed":
        return envelope(action, reservation_data(category="cancelled"))
    if action.startswith("reservation."):
        return envelope(action, reservation_data())
    if action == "property.deleted":
        return envelope(action, {"id": str(uuid.uuid4())})
    if action == "property.merged":
        return envelope(action, {"previous_id": str(uuid.uuid4()), "new_id": PROPERTY_ID})
    return envelope(action, property_data(str(uuid.uuid4())))
