"""Lodgify's booking and property JSON (API v2) into the unified model (pms.md §3, §10).

The v2 field names are unverified (pms.md §3: third-party code only), so every field is read
tolerantly: `arrival`/`date_arrival`, `departure`/`date_departure`, `property_id`, `status`,
`source`/`source_text`, `guest{name,email,phone}`, `rooms[].guest_breakdown` or
`rooms[].people`, `total_amount` + `currency_code`, `updated_at`, `created_at`. A booking
without ids or dates raises `NormalizationError`: the normalizer dead-letters it alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from integration_hub.connectors import pms
from integration_hub.connectors.lodgify import NAME
from integration_hub.errors import NormalizationError

STATUSES = {
    "booked": pms.Status.CONFIRMED,
    "tentative": pms.Status.PENDING,
    "open": pms.Status.INQUIRY,
    "declined": pms.Status.DECLINED,
    "cancelled": pms.Status.CANCELLED,
    "canceled": pms.Status.CANCELLED,
}
# Lodgify's `source` names the channel (AirbnbIntegration, BookingCom, Manual, HomeAway...).
CHANNELS: dict[str, pms.Channel] = {
    "airbnb": "airbnb",
    "bookingcom": "booking",
    "booking": "booking",
    "homeaway": "vrbo",
    "vrbo": "vrbo",
    "expedia": "expedia",
    "manual": "direct",
    "direct": "direct",
    "website": "direct",
    "bookingengine": "direct",
}
# ISO 4217 currencies without a minor unit (the rest have two, or are rare enough to accept).
ZERO_DECIMAL = frozenset({"JPY", "KRW", "CLP", "ISK", "VND", "XAF", "XOF", "PYG", "UGX"})
MAX_ROOMS = 50
MAX_COUNT = 1000
CURRENCY = re.compile(r"[A-Z]{3}")
IANA_ZONE = re.compile(r"[A-Za-z_]+(?:/[A-Za-z0-9_+-]+){1,2}|UTC")
TIME = re.compile(r"\s*(\d{1,2}):(\d{2})(?::\d{2})?\s*")


def utc_time(value: object) -> datetime | None:
    """Lodgify's ISO times; one without an offset is taken as UTC."""
    if not isinstance(value, str) or not value or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def clock_time(value: object) -> str | None:
    match = TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        return None
    return f"{int(match[1]):02d}:{match[2]}"


def _day(booking: Mapping[str, Any], *fields: str) -> date:
    for field in fields:
        value = booking.get(field)
        if isinstance(value, str) and len(value) >= 10:
            try:
                return date.fromisoformat(value[:10])
            except ValueError:
                break
    raise NormalizationError(f"booking {fields[0]} is not a date")


def _identifier(value: object, field: str) -> str:
    text = None if isinstance(value, bool) else pms.bounded(value, pms.MAX_ID)
    if text is None or not isinstance(value, (int, str)):
        raise NormalizationError(f"{field} is missing")
    return text


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return min(value, MAX_COUNT)


def channel(booking: Mapping[str, Any]) -> pms.Channel:
    for field in ("source", "source_text"):
        value = booking.get(field)
        if isinstance(value, str):
            key = re.sub(r"[^a-z]", "", value.lower())[:40].removesuffix("integration")
            if key in CHANNELS:
                return CHANNELS[key]
    return "other"


def guests(booking: Mapping[str, Any]) -> tuple[int | None, int | None, int | None, int | None]:
    """(adults, children, infants, total) summed over the rooms' `guest_breakdown`, else the
    rooms' `people` as the total alone."""
    rooms = booking.get("rooms")
    rooms = [r for r in rooms[:MAX_ROOMS] if isinstance(r, dict)] if isinstance(rooms, list) else []
    sums: dict[str, int | None] = {}
    for part in ("adults", "children", "infants"):
        found = [_count((r.get("guest_breakdown") or {}).get(part)) for r in rooms
                 if isinstance(r.get("guest_breakdown"), dict)]  # fmt: skip
        known = [n for n in found if n is not None]
        sums[part] = min(sum(known), MAX_COUNT) if known else None
    known_parts = [n for n in sums.values() if n is not None]
    people = [n for n in (_count(r.get("people")) for r in rooms) if n is not None]
    total = sum(known_parts) if known_parts else (sum(people) if people else None)
    total = _count(booking.get("people")) if total is None else total
    return (
        sums["adults"],
        sums["children"],
        sums["infants"],
        (None if total is None else min(total, MAX_COUNT)),
    )


def minor_units(value: object, currency: str | None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or abs(amount) >= Decimal(10) ** 11:
        return None
    scale = 1 if currency in ZERO_DECIMAL else 100
    return int((amount * scale).to_integral_value())


def guest(booking: Mapping[str, Any]) -> pms.Guest:
    data = booking.get("guest")
    if not isinstance(data, dict):
        return pms.Guest()
    return pms.Guest(
        name=pms.bounded(data.get("name"), pms.MAX_NAME),
        email=pms.bounded(data.get("email"), 320),
        phone=pms.bounded(data.get("phone"), 32),
    )


def reservation(booking: Mapping[str, Any], connection: str) -> pms.ObservedReservation:
    raw_status = pms.bounded(booking.get("status"), 64) or ""
    currency = booking.get("currency_code") or booking.get("currency")
    currency = currency if isinstance(currency, str) and CURRENCY.fullmatch(currency) else None
    adults, children, infants, total = guests(booking)
    amount = booking.get("total_amount", booking.get("amount"))
    return pms.ObservedReservation(
        source=NAME,
        connection=connection,
        source_reservation_id=_identifier(booking.get("id"), "booking id"),
        source_listing_id=_identifier(booking.get("property_id"), "booking property_id"),
        status=STATUSES.get(raw_status.lower(), pms.Status.UNKNOWN),
        raw_status=raw_status,
        check_in=_day(booking, "arrival", "date_arrival"),
        check_out=_day(booking, "departure", "date_departure"),
        channel=channel(booking),
        adults=adults,
        children=children,
        infants=infants,
        guests_total=total,
        guest=guest(booking),
        total_minor=minor_units(amount, currency),
        currency=currency,
        booked_at=utc_time(booking.get("created_at") or booking.get("date_created")),
        source_updated_at=utc_time(booking.get("updated_at")),
    )


def _coordinate(value: object, limit: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if -limit <= value <= limit else None


def address(prop: Mapping[str, Any]) -> str | None:
    keys = ("address", "city", "state", "zip", "country")
    parts = [str(prop[k]).strip() for k in keys if isinstance(prop.get(k), (str, int))]
    return pms.bounded(", ".join(p for p in parts if p), pms.MAX_ADDRESS)


def listing(prop: Mapping[str, Any], connection: str) -> pms.ObservedListing:
    timezone = prop.get("time_zone") or prop.get("timezone")
    return pms.ObservedListing(
        source=NAME,
        connection=connection,
        source_listing_id=_identifier(prop.get("id"), "property id"),
        name=pms.bounded(prop.get("name"), pms.MAX_NAME),
        address=address(prop),
        latitude=_coordinate(prop.get("latitude"), 90),
        longitude=_coordinate(prop.get("longitude"), 180),
        timezone=timezone if isinstance(timezone, str) and IANA_ZONE.fullmatch(timezone) else None,
        check_in_time=clock_time(prop.get("check_in") or prop.get("check_in_time")),
        check_out_time=clock_time(prop.get("check_out") or prop.get("check_out_time")),
        source_updated_at=utc_time(prop.get("updated_at")),
    )
