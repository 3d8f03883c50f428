"""Hospitable's reservation and property objects (the GET shapes, which webhooks carry in
`data`) read into the unified model (pms.md §5 and §10). No I/O; nothing here logs.

Where things sit, from Hospitable's OpenAPI (the copy in pms.md's [HD]):
- a reservation names its property in `properties[0].id` (the `properties` include, which
  webhooks add by scope and our fetch asks for); `property_id` and `property.id`, seen in
  older payloads, are read when `properties` is absent;
- dates: `arrival_date` / `departure_date` are local midnights with an offset, so their date
  part is the property-local date; `check_in` / `check_out` are local datetimes (times HH:MM);
- status: `reservation_status.current{category, sub_category}`, never the deprecated flat
  `status`, which often disagrees with it;
- money: `financials.guest.total_price.amount` is already in minor units, the currency in
  `financials.currency`;
- a property's `timezone` is an offset ("+0200"), not an IANA zone: only an IANA name is kept
  (the core derives the zone from the coordinates otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from integration_hub.connectors import pms
from integration_hub.errors import NormalizationError

Obj = Mapping[str, Any]
MAX_RAW_STATUS = 64
MAX_CODE = 64
MAX_EMAIL = 320
MAX_PHONE = 32
MAX_COUNT = 1000
MAX_MINOR = 10**13
CHANNELS: dict[str, pms.Channel] = {
    "airbnb": "airbnb",
    "homeaway": "vrbo",
    "vrbo": "vrbo",
    "booking": "booking",
    "direct": "direct",
    "manual": "direct",
}
_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])(?::[0-5][0-9])?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_IANA = re.compile(r"(?:[A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)+|UTC)")
_CURRENCY = re.compile(r"[A-Z]{3}")
# Crockford's base32, as ULIDs spell their 48-bit millisecond time and 80 random bits.
ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def part(value: Any, name: str) -> Obj:
    found = value.get(name) if isinstance(value, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def status_of(reservation: Obj) -> tuple[pms.Status, str]:
    """The unified status and the raw "category/sub_category" (pms.md §10's table)."""
    current = part(part(reservation, "reservation_status"), "current")
    category = str(current.get("category") or "").strip().lower()
    sub = str(current.get("sub_category") or "").strip().lower()
    raw = f"{category}/{sub}" if sub else category
    if category == "request":
        status = pms.Status.PENDING
    elif category == "accepted":
        status = pms.Status.CONFIRMED
    elif category == "cancelled":
        status = pms.Status.CANCELLED
    elif category == "not accepted":
        status = {
            "expired": pms.Status.EXPIRED,
            "withdrawn": pms.Status.CANCELLED,  # the guest withdrew a request
        }.get(sub, pms.Status.DECLINED)
    else:  # "unknown", "checkpoint" (seen live), or nothing
        status = pms.Status.UNKNOWN
    return status, (raw or "unknown")[:MAX_RAW_STATUS]


def channel_of(platform: Any) -> pms.Channel | None:
    if not isinstance(platform, str) or not platform.strip():
        return None
    return CHANNELS.get(platform.strip().lower(), "other")


def local_date(value: Any, field: str) -> date:
    """The date part of a local date or datetime ("2026-12-19T00:00:00-05:00")."""
    text = value.strip() if isinstance(value, str) else ""
    if not _DATE.match(text):
        raise NormalizationError(f"the reservation's {field} is not a date")
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise NormalizationError(f"the reservation's {field} is not a date") from None


def local_time(value: Any) -> str | None:
    """ "HH:MM" from a local datetime ("...T16:00:00-05:00") or a time ("16:00", "9:30")."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if "T" in text:
        text = text.split("T", 1)[1][:8]
    match = _TIME.fullmatch(text[:8]) or _TIME.fullmatch(text[:5])
    return f"{int(match.group(1)):02d}:{match.group(2)}" if match else None


def utc_time(value: Any) -> datetime | None:
    """An RFC 3339 time as an aware UTC datetime (None when it is not one)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        return None
    return value


def iana_zone(value: Any) -> str | None:
    text = pms.bounded(value, 64)
    return text if text is not None and _IANA.fullmatch(text) else None


def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list) and values else None


def listing_id_of(reservation: Obj) -> str:
    prop = _first(reservation.get("properties"))
    candidates = (
        prop.get("id") if isinstance(prop, Mapping) else None,
        reservation.get("property_id"),
        part(reservation, "property").get("id"),
    )
    for candidate in candidates:
        if (found := pms.bounded(candidate, pms.MAX_ID)) is not None:
            return found
    raise NormalizationError("the reservation names no property (properties[0].id)")


def _guest(reservation: Obj) -> pms.Guest:
    guest = part(reservation, "guest")
    names = (pms.bounded(guest.get(k), pms.MAX_NAME) for k in ("first_name", "last_name"))
    name = " ".join(n for n in names if n) or None
    phone = _first(guest.get("phone_numbers")) or guest.get("phone")
    return pms.Guest(
        name=pms.bounded(name, pms.MAX_NAME),
        email=pms.bounded(guest.get("email"), MAX_EMAIL),
        phone=pms.bounded(phone, MAX_PHONE),
    )


def _money(reservation: Obj) -> tuple[int | None, str | None]:
    financials = part(reservation, "financials")
    total = part(part(financials, "guest"), "total_price")
    amount = total.get("amount")
    minor = (
        amount
        if isinstance(amount, int) and not isinstance(amount, bool) and abs(amount) <= MAX_MINOR
        else None
    )
    currency = financials.get("currency") or total.get("currency")
    code = currency.strip().upper() if isinstance(currency, str) else None
    return minor, code if code and _CURRENCY.fullmatch(code) else None


def observed_reservation(
    reservation: Obj, *, connection: str, updated_at: datetime | None
) -> pms.ObservedReservation:
    source_id = pms.bounded(reservation.get("id"), pms.MAX_ID)
    if source_id is None:
        raise NormalizationError("the reservation has no id")
    status, raw_status = status_of(reservation)
    guests = part(reservation, "guests")
    total_minor, currency = _money(reservation)
    prop = _first(reservation.get("properties"))
    return pms.ObservedReservation(
        source="hospitable",
        connection=connection,
        source_reservation_id=source_id,
        source_listing_id=listing_id_of(reservation),
        status=status,
        raw_status=raw_status,
        check_in=local_date(reservation.get("arrival_date"), "arrival_date"),
        check_out=local_date(reservation.get("departure_date"), "departure_date"),
        channel=channel_of(reservation.get("platform")),
        channel_code=pms.bounded(reservation.get("platform_id"), MAX_CODE),
        check_in_time=local_time(reservation.get("check_in")),
        check_out_time=local_time(reservation.get("check_out")),
        timezone=iana_zone(prop.get("timezone")) if isinstance(prop, Mapping) else None,
        adults=count(guests.get("adult_count")),
        children=count(guests.get("child_count")),
        infants=count(guests.get("infant_count")),
        guests_total=count(guests.get("total")),
        guest=_guest(reservation),
        total_minor=total_minor,
        currency=currency,
        booked_at=utc_time(reservation.get("booking_date")),
        source_updated_at=updated_at,
    )


def _coordinate(value: Any, limit: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if -limit <= number <= limit else None


def _address(prop: Obj) -> tuple[str | None, float | None, float | None]:
    address = part(prop, "address")
    line = pms.bounded(address.get("display"), pms.MAX_ADDRESS)
    if line is None:
        fields = ("number", "street", "city", "state", "postcode", "country")
        pieces = [pms.bounded(address.get(k), pms.MAX_ADDRESS) for k in fields]
        line = pms.bounded(", ".join(p for p in pieces if p), pms.MAX_ADDRESS)
    coordinates = part(address, "coordinates") or part(prop, "coordinates") or prop
    latitude = _coordinate(coordinates.get("latitude"), 90)
    longitude = _coordinate(coordinates.get("longitude"), 180)
    if latitude is None or longitude is None or (latitude, longitude) == (0.0, 0.0):
        return line, None, None  # 0,0 is the API's default for "not set"
    return line, latitude, longitude


def _default_time(prop: Obj, *names: str) -> str | None:
    for name in names:
        if (found := local_time(prop.get(name))) is not None:
            return found
    return None


def observed_listing(
    prop: Obj, *, connection: str, updated_at: datetime | None
) -> pms.ObservedListing:
    listing_id = pms.bounded(prop.get("id"), pms.MAX_ID)
    if listing_id is None:
        raise NormalizationError("the property has no id")
    address, latitude, longitude = _address(prop)
    return pms.ObservedListing(
        source="hospitable",
        connection=connection,
        source_listing_id=listing_id,
        name=pms.bounded(prop.get("name") or prop.get("public_name"), pms.MAX_NAME),
        address=address,
        latitude=latitude,
        longitude=longitude,
        timezone=iana_zone(prop.get("timezone")),
        check_in_time=_default_time(prop, "check-in", "check_in", "checkin"),
        check_out_time=_default_time(prop, "check-out", "check_out", "checkout"),
        source_updated_at=updated_at,
    )


def ulid_ms(ulid: str) -> int | None:
    """The millisecond time a ULID carries (None when the text is not a ULID)."""
    text = ulid.upper()
    if len(text) != 26 or any(c not in ULID_ALPHABET for c in text) or text[0] > "7":
        return None
    ms = 0
    for char in text[:10]:
        ms = ms * 32 + ULID_ALPHABET.index(char)
    return ms
