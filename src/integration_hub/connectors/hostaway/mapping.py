"""Hostaway's reservation and listing objects in the unified model (pms.md §1 and §10).

Pure functions, no I/O: the webhook connector and the polls both normalize through here. A
value that cannot be read (a date that is not one, no id) raises `ValueError`, so the
normalizer dead-letters that one event and the others go on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from integration_hub.connectors import pms
from integration_hub.connectors.pms import Channel, Status

SOURCE = "hostaway"
MAX_CHANNEL_CODE = 64  # pms.reservation_observed's channel_code
MAX_RAW_STATUS = 64
MAX_EMAIL = 320
MAX_PHONE = 32
MAX_COUNT = 1000  # guests per reservation, as the schema bounds them

# pms.md §10 "Status mapping", Hostaway column (`confirmed` is documented too).
STATUSES: dict[str, Status] = {
    "new": Status.CONFIRMED,
    "modified": Status.CONFIRMED,
    "confirmed": Status.CONFIRMED,
    "cancelled": Status.CANCELLED,
    "ownerStay": Status.BLOCKED,
    "pending": Status.PENDING,
    "awaitingPayment": Status.PENDING,
    "awaitingGuestVerification": Status.PENDING,
    "unconfirmed": Status.PENDING,  # a Vrbo request to book
    "inquiry": Status.INQUIRY,
    "inquiryPreapproved": Status.INQUIRY,
    "declined": Status.DECLINED,
    "inquiryDenied": Status.DECLINED,
    "inquiryNotPossible": Status.DECLINED,
    "expired": Status.EXPIRED,
    "inquiryTimedout": Status.EXPIRED,
    "unknown": Status.UNKNOWN,
}
# Hostaway channelId (pms.md §1 "Channels"); any other id is "other".
CHANNELS: dict[int, Channel] = {
    2018: "airbnb",  # airbnbOfficial
    2002: "vrbo",  # homeaway
    2010: "vrbo",  # vrboical
    2005: "booking",
    2007: "expedia",
    2000: "direct",
    2013: "direct",  # bookingengine
    2009: "ical",  # homeawayical
    2015: "ical",  # customIcal
    2016: "ical",  # tripadvisorical
}
# ISO 4217 minor-unit exponents that are not 2.
EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND",
         "VUV", "XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}  # fmt: skip
MAX_MINOR = 10**13  # the schema's bound on total_minor


def status_of(raw: str) -> Status:
    return STATUSES.get(raw, Status.UNKNOWN)


def channel_of(channel_id: object) -> Channel | None:
    number = _int(channel_id)
    if number is None:
        return None
    return CHANNELS.get(number, "other")


def hour(value: object) -> str | None:
    """Hostaway's check-in/out hour (an int, listing-local) as "HH:00"; None when not one."""
    number = _int(value)
    return f"{number:02d}:00" if number is not None and 0 <= number <= 23 else None


def utc_time(value: object) -> datetime | None:
    """Hostaway's "YYYY-MM-DD HH:MM:SS" (UTC) as an aware datetime; None when absent or not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def minor_units(amount: object, currency: str | None) -> int | None:
    """A decimal amount (Hostaway sends floats) in the currency's minor units."""
    if currency is None or amount is None or isinstance(amount, bool):
        return None
    if not isinstance(amount, (int, float, str)):
        return None
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    minor = int((value.scaleb(EXPONENTS.get(currency, 2))).quantize(Decimal(1), ROUND_HALF_UP))
    return minor if abs(minor) <= MAX_MINOR else None


def reservation(data: Mapping[str, Any], *, connection: str) -> pms.ObservedReservation:
    """One Hostaway reservation object (a webhook's `data`, a list entry, a fetched one)."""
    reservation_id = _required_id(data.get("id"), "id")
    listing_id = _required_id(data.get("listingMapId"), "listingMapId")
    raw_status = pms.bounded(data.get("status"), MAX_RAW_STATUS) or "unknown"
    status = status_of(raw_status)
    currency = _currency(data.get("currency"))
    return pms.ObservedReservation(
        source=SOURCE,
        connection=connection,
        source_reservation_id=reservation_id,
        source_listing_id=listing_id,
        status=status,
        raw_status=raw_status,
        check_in=_date(data.get("arrivalDate"), "arrivalDate"),
        check_out=_date(data.get("departureDate"), "departureDate"),
        channel=channel_of(data.get("channelId")),
        channel_code=pms.bounded(data.get("channelReservationId"), MAX_CHANNEL_CODE),
        check_in_time=hour(data.get("checkInTime")),
        check_out_time=hour(data.get("checkOutTime")),
        timezone=None,  # the listing's (`timeZoneName`): pms.listing_observed carries it
        adults=_count(data.get("adults")),
        children=_count(data.get("children")),
        infants=_count(data.get("infants")),
        guests_total=_count(data.get("numberOfGuests")),
        guest=pms.Guest(
            name=pms.bounded(data.get("guestName"), pms.MAX_NAME),
            email=pms.bounded(data.get("guestEmail"), MAX_EMAIL),
            phone=pms.bounded(data.get("phone"), MAX_PHONE),
        ),
        total_minor=minor_units(data.get("totalPrice"), currency),
        currency=currency,
        booked_at=utc_time(data.get("reservationDate")),
        source_updated_at=utc_time(data.get("updatedOn")),
        is_block=status is Status.BLOCKED,
        complete=True,  # Hostaway always sends the whole reservation
    )


def listing(data: Mapping[str, Any], *, connection: str) -> pms.ObservedListing:
    """One Hostaway listing object (`GET /v1/listings`)."""
    return pms.ObservedListing(
        source=SOURCE,
        connection=connection,
        source_listing_id=_required_id(data.get("id"), "id"),
        name=pms.bounded(data.get("name"), pms.MAX_NAME),
        address=pms.bounded(data.get("address"), pms.MAX_ADDRESS),
        latitude=_coordinate(data.get("lat"), 90),
        longitude=_coordinate(data.get("lng"), 180),
        timezone=pms.bounded(data.get("timeZoneName"), 64),
        check_in_time=hour(data.get("checkInTimeStart")),
        check_out_time=hour(data.get("checkOutTime")),
        source_updated_at=utc_time(data.get("updatedOn")),
    )


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        return int(value.strip())
    return None


def _required_id(value: object, field: str) -> str:
    valid = isinstance(value, (int, str)) and not isinstance(value, bool)
    text = pms.bounded(value, pms.MAX_ID + 1) if valid else None
    if text is None:
        raise ValueError(f"the reservation has no `{field}`")
    if len(text) > pms.MAX_ID:
        raise ValueError(f"`{field}` is longer than {pms.MAX_ID} characters")
    return text


def _date(value: object, field: str) -> date:
    if not isinstance(value, str):
        raise ValueError(f"`{field}` is not a date")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise ValueError(f"`{field}` is not a YYYY-MM-DD date") from None


def _count(value: object) -> int | None:
    number = _int(value)
    return number if number is not None and 0 <= number <= MAX_COUNT else None


def _currency(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    return code if len(code) == 3 and code.isascii() and code.isalpha() else None


def _coordinate(value: object, limit: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and -limit <= number <= limit else None
