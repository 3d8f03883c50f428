"""Guesty's reservation and listing objects in the unified model (pms.md §2 and §10).

A whole reservation (the legacy webhooks' `reservation`, `GET /v1/reservations/{id}`) has
`_id`, `listingId`, `status`, `checkInDateLocalized`/`checkOutDateLocalized` (listing-local
dates), `plannedArrival`/`plannedDeparture` (HH:mm), `guestsCount`, `guest`, `money`,
`source`, `confirmationCode`, `createdAt` and `lastUpdatedAt`. A v2 webhook is lean: the stay
(`reservationId`, `unitId`, `status`, the localized dates, `confirmationCode`, `guestsCount`)
and `publishedAt`, so it is observed with `complete=False` and fetched whole afterwards.

Every error names the field, never its value: the payloads carry guests' personal data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from integration_hub.connectors import pms
from integration_hub.connectors.guesty import NAME

Obj = Mapping[str, Any]
MAX_COUNT = 1000  # guests; the schema's bound
MAX_RAW_STATUS = 64
MAX_CHANNEL_CODE = 64
MAX_TIMEZONE = 64
MAX_EMAIL = 320
MAX_PHONE = 32
MAX_MINOR = 10**13
H_MM = re.compile(r"([0-9]|[01][0-9]|2[0-3]):([0-5][0-9])(?::[0-5][0-9])?")
CURRENCY = re.compile(r"[A-Z]{3}")

# pms.md §10: Guesty `reserved` is held, not yet confirmed; `closed` ends an inquiry.
STATUSES: dict[str, pms.Status] = {
    "inquiry": pms.Status.INQUIRY,
    "reserved": pms.Status.PENDING,
    "confirmed": pms.Status.CONFIRMED,
    "canceled": pms.Status.CANCELLED,
    "cancelled": pms.Status.CANCELLED,
    "declined": pms.Status.DECLINED,
    "expired": pms.Status.EXPIRED,
    "closed": pms.Status.EXPIRED,
    "checkedin": pms.Status.CHECKED_IN,
    "checkedout": pms.Status.CHECKED_OUT,
}
# `source` as Guesty writes it, folded (lower case, letters and digits only).
CHANNELS: dict[str, pms.Channel] = {
    "airbnb": "airbnb",
    "airbnb2": "airbnb",
    "homeaway": "vrbo",
    "homeaway2": "vrbo",
    "vrbo": "vrbo",
    "bookingcom": "booking",
    "expedia": "expedia",
    "manual": "direct",
    "direct": "direct",
    "website": "direct",
}
# ISO 4217 exponents other than 2.
EXPONENTS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}


def fold(value: str) -> str:
    return "".join(c for c in value.lower() if c.isalnum())


def status_of(raw: object) -> pms.Status:
    return (
        STATUSES.get(fold(raw), pms.Status.UNKNOWN) if isinstance(raw, str) else pms.Status.UNKNOWN
    )


def channel_of(source: object) -> pms.Channel | None:
    if not isinstance(source, str) or not source.strip():
        return None
    return CHANNELS.get(fold(source), "other")


def part(data: Obj, name: str) -> Obj:
    value = data.get(name)
    return value if isinstance(value, Mapping) else {}


def identifier(data: Obj, *names: str) -> str | None:
    """The first of `names` that holds an id (a string or a number), bounded."""
    for name in names:
        value = data.get(name)
        is_id = isinstance(value, (str, int)) and not isinstance(value, bool)
        if is_id and (found := pms.bounded(value, pms.MAX_ID)) is not None:
            return found
    return None


def required_id(data: Obj, *names: str) -> str:
    found = identifier(data, *names)
    if found is None:
        raise ValueError(f"the object has no {' or '.join(names)}")
    return found


def local_date(data: Obj, name: str) -> date:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValueError(f"the reservation has no {name}")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise ValueError(f"{name} is not a YYYY-MM-DD date") from None


def clock_time(value: object) -> str | None:
    """ "HH:MM" from Guesty's HH:mm (or H:mm, HH:mm:ss); None for anything else."""
    if not isinstance(value, str) or (found := H_MM.fullmatch(value.strip())) is None:
        return None
    return f"{int(found.group(1)):02d}:{found.group(2)}"


def instant(value: object) -> datetime | None:
    """An ISO 8601 time (UTC when it names no offset); None when it is not one."""
    if not isinstance(value, str) or not value or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = int(value)
    return number if 0 <= number <= MAX_COUNT else None


def minor_units(amount: object, currency: str | None) -> int | None:
    if currency is None or isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
        return None
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    scaled = (value * 10 ** EXPONENTS.get(currency, 2)).quantize(Decimal(1), ROUND_HALF_EVEN)
    return int(scaled) if abs(scaled) <= MAX_MINOR else None


def _check_out_after(check_in: date, check_out: date) -> date:
    if check_out <= check_in:
        raise ValueError("the check-out date is not after the check-in date")
    if check_out - check_in > timedelta(days=3660):
        raise ValueError("the stay is longer than ten years")
    return check_out


def lean_reservation(connection: str, data: Obj) -> pms.ObservedReservation:
    """A v2 webhook's stay details: observed incomplete (no money, no guest)."""
    raw_status = data.get("status")
    check_in = local_date(data, "checkInDateLocalized")
    return pms.ObservedReservation(
        source=NAME,
        connection=connection,
        source_reservation_id=required_id(data, "reservationId", "_id"),
        source_listing_id=required_id(data, "unitId", "listingId"),
        status=status_of(raw_status),
        raw_status=pms.bounded(raw_status, MAX_RAW_STATUS) or "",
        check_in=check_in,
        check_out=_check_out_after(check_in, local_date(data, "checkOutDateLocalized")),
        channel=channel_of(data.get("source")),
        channel_code=pms.bounded(data.get("confirmationCode"), MAX_CHANNEL_CODE),
        guests_total=count(data.get("guestsCount")),
        source_updated_at=instant(data.get("publishedAt")),
        complete=False,
    )


def full_reservation(connection: str, data: Obj) -> pms.ObservedReservation:
    """A whole reservation object (legacy webhooks, a fetch)."""
    raw_status = data.get("status")
    money, guest, unit = part(data, "money"), part(data, "guest"), part(data, "listing")
    guests = part(data, "numberOfGuests")
    currency = money.get("currency")
    currency = currency if isinstance(currency, str) and CURRENCY.fullmatch(currency) else None
    amount = money.get("hostPayout")
    if amount is None:
        amount = money.get("totalPaid")
    check_in = local_date(data, "checkInDateLocalized")
    return pms.ObservedReservation(
        source=NAME,
        connection=connection,
        source_reservation_id=required_id(data, "_id", "reservationId"),
        source_listing_id=required_id(data, "listingId", "unitId"),
        status=status_of(raw_status),
        raw_status=pms.bounded(raw_status, MAX_RAW_STATUS) or "",
        check_in=check_in,
        check_out=_check_out_after(check_in, local_date(data, "checkOutDateLocalized")),
        channel=channel_of(data.get("source")),
        channel_code=pms.bounded(data.get("confirmationCode"), MAX_CHANNEL_CODE),
        check_in_time=clock_time(data.get("plannedArrival")),
        check_out_time=clock_time(data.get("plannedDeparture")),
        timezone=pms.bounded(unit.get("timezone"), MAX_TIMEZONE),
        adults=count(guests.get("numberOfAdults")),
        children=count(guests.get("numberOfChildren")),
        infants=count(guests.get("numberOfInfants")),
        guests_total=count(data.get("guestsCount")),
        guest=pms.Guest(
            name=pms.bounded(guest.get("fullName"), pms.MAX_NAME),
            email=pms.bounded(guest.get("email"), MAX_EMAIL),
            phone=pms.bounded(guest.get("phone"), MAX_PHONE),
        ),
        total_minor=minor_units(amount, currency),
        currency=currency,
        booked_at=instant(data.get("createdAt")),
        source_updated_at=instant(data.get("lastUpdatedAt")),
    )


def listing(connection: str, data: Obj) -> pms.ObservedListing:
    address = part(data, "address")
    return pms.ObservedListing(
        source=NAME,
        connection=connection,
        source_listing_id=required_id(data, "_id", "id"),
        name=pms.bounded(data.get("title") or data.get("nickname"), pms.MAX_NAME),
        address=pms.bounded(address.get("full"), pms.MAX_ADDRESS),
        latitude=_coordinate(address.get("lat"), 90),
        longitude=_coordinate(address.get("lng"), 180),
        timezone=pms.bounded(data.get("timezone"), MAX_TIMEZONE),
        check_in_time=clock_time(data.get("defaultCheckInTime")),
        check_out_time=clock_time(data.get("defaultCheckOutTime")),
        source_updated_at=instant(data.get("lastUpdatedAt")),
    )


def _coordinate(value: object, limit: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if -limit <= value <= limit else None
