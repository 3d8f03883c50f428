"""OwnerRez's booking and property JSON (API v2) into the unified model (pms.md §4, §10).

Only `id`, `property_id`, `arrival`, `departure`, `status`, `type`, `is_block`, the guest
counts and `charges` are confirmed (pms.md §4); the rest is read when present and tolerated
when absent. A booking that lacks what the model needs (ids, dates) raises
`NormalizationError`, so the normalizer dead-letters that event alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from integration_hub.connectors import pms
from integration_hub.connectors.ownerrez import NAME
from integration_hub.errors import NormalizationError

STATUSES = {
    "active": pms.Status.CONFIRMED,
    "canceled": pms.Status.CANCELLED,
    "cancelled": pms.Status.CANCELLED,
    "pending": pms.Status.PENDING,
}
# OwnerRez's channel field is not confirmed (pms.md §4): a `platform`/`source`/`listing_site`
# naming a known channel maps; anything else, or none, is "other".
CHANNELS: dict[str, pms.Channel] = {
    "airbnb": "airbnb",
    "vrbo": "vrbo",
    "homeaway": "vrbo",
    "booking": "booking",
    "bookingcom": "booking",
    "expedia": "expedia",
    "direct": "direct",
    "ownerrez": "direct",
    "website": "direct",
}
CHANNEL_FIELDS = ("platform", "source", "listing_site")
MAX_CHARGES = 500  # a booking's charge lines; more is not a booking OwnerRez makes
MAX_COUNT = 1000  # the schema's bound on a guest count
TIME = re.compile(r"\s*(\d{1,2}):(\d{2})(?::\d{2})?\s*([AaPp][Mm])?\s*")
CURRENCY = re.compile(r"[A-Z]{3}")
IANA_ZONE = re.compile(r"[A-Za-z_]+(?:/[A-Za-z0-9_+-]+){1,2}|UTC")


def clock_time(value: object) -> str | None:
    """ "HH:MM" from "16:00", "16:00:00" or "4:00 PM"; None for anything else."""
    match = TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    hour, minute, half = int(match[1]), int(match[2]), (match[3] or "").lower()
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    return f"{hour:02d}:{minute:02d}" if hour < 24 and minute < 60 else None


def utc_time(value: object) -> datetime | None:
    """An ISO 8601 time (OwnerRez's *_utc fields; a zone-less one is UTC), else None."""
    if not isinstance(value, str) or not value or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def day(value: object, field: str) -> date:
    """A property-local date ("2026-12-20", or the date part of a date-time)."""
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise NormalizationError(f"booking {field} is not a date")


def count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return min(value, MAX_COUNT)


def identifier(value: object, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise NormalizationError(f"{field} is missing")
    text = pms.bounded(value, pms.MAX_ID)
    if text is None:
        raise NormalizationError(f"{field} is missing")
    return text


def minor_units(value: object) -> int | None:
    """An amount in the currency's major unit (OwnerRez sends 1234.5) as cents."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or abs(amount) >= Decimal(10) ** 11:
        return None
    return int((amount * 100).to_integral_value())


def total(booking: Mapping[str, Any]) -> int | None:
    """`total_amount` when given, else the sum of the charge lines when every one has an
    amount; None when neither is clear."""
    if "total_amount" in booking:
        return minor_units(booking["total_amount"])
    charges = booking.get("charges")
    if not isinstance(charges, list) or not charges or len(charges) > MAX_CHARGES:
        return None
    amounts = [minor_units(c.get("amount")) if isinstance(c, dict) else None for c in charges]
    if any(amount is None for amount in amounts):
        return None
    return sum(amount for amount in amounts if amount is not None)


def channel(booking: Mapping[str, Any]) -> pms.Channel:
    for field in CHANNEL_FIELDS:
        value = booking.get(field)
        if isinstance(value, str):
            key = re.sub(r"[^a-z]", "", value.lower())[:32]
            if key in CHANNELS:
                return CHANNELS[key]
    return "other"


def _default(entries: object, key: str) -> object:
    """The default entry's `key` among OwnerRez's lists (email_addresses, phones), else the
    first's."""
    if not isinstance(entries, list):
        return None
    found = [e for e in entries[:20] if isinstance(e, dict) and e.get(key)]
    preferred = [e for e in found if e.get("is_default") is True]
    return (preferred or found or [{}])[0].get(key)


def guest(booking: Mapping[str, Any]) -> pms.Guest:
    """Personal data: only when OwnerRez included the guest (`include_guest=true`)."""
    data = booking.get("guest")
    if not isinstance(data, dict):
        return pms.Guest()
    parts = [data.get("first_name"), data.get("last_name")]
    name = " ".join(str(p).strip() for p in parts if isinstance(p, str) and p.strip())
    email = data.get("email") or _default(data.get("email_addresses"), "address")
    phone = data.get("phone") or _default(data.get("phones"), "number")
    return pms.Guest(
        name=pms.bounded(name or data.get("name"), pms.MAX_NAME),
        email=pms.bounded(email, 320),
        phone=pms.bounded(phone, 32),
    )


def reservation(booking: Mapping[str, Any], connection: str) -> pms.ObservedReservation:
    raw_status = pms.bounded(booking.get("status"), 64) or ""
    is_block = booking.get("is_block") is True or str(booking.get("type", "")).lower() == "block"
    status = (
        pms.Status.BLOCKED if is_block else STATUSES.get(raw_status.lower(), pms.Status.UNKNOWN)
    )
    if is_block and raw_status.lower() in ("canceled", "cancelled"):
        status = pms.Status.CANCELLED  # a removed block frees the dates like a cancellation
    adults, children, infants = (count(booking.get(k)) for k in ("adults", "children", "infants"))
    known = [n for n in (adults, children, infants) if n is not None]
    currency = booking.get("currency_code") or booking.get("currency")
    return pms.ObservedReservation(
        source=NAME,
        connection=connection,
        source_reservation_id=identifier(booking.get("id"), "booking id"),
        source_listing_id=identifier(booking.get("property_id"), "booking property_id"),
        status=status,
        raw_status=raw_status,
        check_in=day(booking.get("arrival"), "arrival"),
        check_out=day(booking.get("departure"), "departure"),
        channel=None if is_block else channel(booking),
        channel_code=None,
        check_in_time=clock_time(booking.get("check_in")),
        check_out_time=clock_time(booking.get("check_out")),
        adults=adults,
        children=children,
        infants=infants,
        guests_total=min(sum(known), MAX_COUNT) if known else None,
        guest=pms.Guest() if is_block else guest(booking),
        total_minor=None if is_block else total(booking),
        currency=currency if isinstance(currency, str) and CURRENCY.fullmatch(currency) else None,
        booked_at=utc_time(booking.get("booked_utc") or booking.get("created_utc")),
        source_updated_at=utc_time(booking.get("updated_utc")),
        is_block=is_block,
    )


def _coordinate(value: object, limit: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if -limit <= value <= limit else None


def address(value: object) -> str | None:
    """One line from OwnerRez's address object (street1, street2, city, state, postal_code,
    country), or the string it sometimes is."""
    if isinstance(value, str):
        return pms.bounded(value, pms.MAX_ADDRESS)
    if not isinstance(value, dict):
        return None
    keys = ("street1", "street2", "city", "state", "province", "postal_code", "country")
    parts = [str(value[k]).strip() for k in keys if isinstance(value.get(k), (str, int))]
    return pms.bounded(", ".join(p for p in parts if p), pms.MAX_ADDRESS)


def listing(prop: Mapping[str, Any], connection: str) -> pms.ObservedListing:
    place = prop.get("address")
    nested = place if isinstance(place, dict) else {}
    timezone = prop.get("time_zone") or prop.get("timezone")
    return pms.ObservedListing(
        source=NAME,
        connection=connection,
        source_listing_id=identifier(prop.get("id"), "property id"),
        name=pms.bounded(prop.get("name") or prop.get("public_name"), pms.MAX_NAME),
        address=address(place),
        # On the property or within its address, whichever OwnerRez fills.
        latitude=_coordinate(prop.get("latitude", nested.get("latitude")), 90),
        longitude=_coordinate(prop.get("longitude", nested.get("longitude")), 180),
        # Only an IANA name: a Windows zone name ("Eastern Standard Time") is not one.
        timezone=timezone if isinstance(timezone, str) and IANA_ZONE.fullmatch(timezone) else None,
        check_in_time=clock_time(prop.get("check_in")),
        check_out_time=clock_time(prop.get("check_out")),
        source_updated_at=utc_time(prop.get("updated_utc")),
    )
