"""The unified reservation and listing model every PMS connector normalizes into (pms.md §10).

A PMS connector (Hostaway, Guesty, Hospitable, OwnerRez, Lodgify, iCal feeds) turns what its
partner sends or answers into source-level internal events, one schema each:

- `pms.reservation_observed`: one reservation as the source has it now (`ObservedReservation`);
  `complete` False for a lean payload (Guesty v2) that lacks fields a fetch would give.
- `pms.reservation_hinted`: only "reservation X changed" (an OwnerRez webhook's `entity_id`):
  the core fetches it through the partner's `<partner>.fetch_reservation` workflow.
- `pms.listing_observed` / `pms.listing_removed`: a listing (property) as the source has it.
- `pms.calendar_observed`: a whole calendar at once (an iCal feed): every entry it holds now,
  so the core can tell what vanished (a cancellation) and hold a feed that suddenly lost most.

The core handler (`orchestration/reservations.py`) keeps `properties`, `listings`, `stays`,
`reservations` and their history from these and emits the unified `reservation.created|
changed|cancelled` (subject: the stay id) and `property.upserted|removed` that later work reads.

Every PMS event belongs to one connection (`pms_connections`, a manager's account at a PMS):
its `partner_event_id` starts with the connection id and ":" (`connection_event_id`), so the
normalizer, which sees only the event, knows it, and two accounts' ids never collide.

Calls out: a partner that can fetch one reservation declares the workflow
`fetch_workflow(partner)` taking `FetchReservation`; its activity stores what it fetched as a
new raw event of the partner through `store_fetched` (the pipe polls use), so the fetched
reservation is normalized, deduplicated and replayed like a delivered one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import Engine

from integration_hub.connectors.base import InternalEventDraft, PartnerEvent, storable_key
from integration_hub.secrets.instances import is_instance_id
from integration_hub.storage import raw_events
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import utcnow


class Status(StrEnum):
    """The unified status (pms.md §10 mapping); `raw_status` keeps the source's own."""

    INQUIRY = "inquiry"
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    DECLINED = "declined"
    EXPIRED = "expired"
    BLOCKED = "blocked"
    CHECKED_IN = "checked_in"
    CHECKED_OUT = "checked_out"
    UNKNOWN = "unknown"


Channel = Literal["airbnb", "vrbo", "booking", "expedia", "direct", "ical", "other"]
CHANNELS: frozenset[str] = frozenset(
    {"airbnb", "vrbo", "booking", "expedia", "direct", "ical", "other"}
)
# The statuses in which a stay happens (or happened): the ones turnover work plans around.
LIVE_STATUSES = frozenset({Status.CONFIRMED, Status.CHECKED_IN, Status.CHECKED_OUT})
# Bounds of what a partner sends, before it reaches a column (tables.py) or a loop.
MAX_ID = 128
MAX_NAME = 200
MAX_ADDRESS = 500
MAX_CALENDAR_ENTRIES = 2000  # one feed's calendar; more is refused (a feed is one listing)
SEPARATOR = ":"

RESERVATION_OBSERVED = "pms.reservation_observed"
RESERVATION_HINTED = "pms.reservation_hinted"
LISTING_OBSERVED = "pms.listing_observed"
LISTING_REMOVED = "pms.listing_removed"
CALENDAR_OBSERVED = "pms.calendar_observed"
SOURCE_EVENT_TYPES = frozenset(
    {RESERVATION_OBSERVED, RESERVATION_HINTED, LISTING_OBSERVED, LISTING_REMOVED, CALENDAR_OBSERVED}
)


def connection_event_id(connection: str, key: str) -> str:
    """The partner event id of an event of `connection`: "<connection>:<key>". A key longer
    than raw_events' id column allows is replaced by its SHA-256 (same key, same id)."""
    if not is_instance_id(connection):
        raise ValueError("a connection id is an instance id ([a-z0-9][a-z0-9_-]{0,62})")
    event_id = f"{connection}{SEPARATOR}{key}"
    if storable_key(event_id):
        return event_id
    return f"{connection}{SEPARATOR}sha256-{hashlib.sha256(key.encode()).hexdigest()}"


def connection_of(partner_event_id: str) -> str:
    """The connection an event belongs to (ValueError when the id is not one of ours)."""
    connection, separator, _ = partner_event_id.partition(SEPARATOR)
    if not separator or not is_instance_id(connection):
        raise ValueError("the event id does not start with a connection id")
    return connection


def content_hash(body: bytes) -> str:
    """A short, stable hash of bytes, for ids of events that carry no id of their own."""
    return hashlib.sha256(body).hexdigest()[:32]


def bounded(value: object, limit: int) -> str | None:
    """A partner's text as a column takes it: None when empty, else stripped and cut."""
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] if text else None


@dataclass(frozen=True, slots=True)
class Guest:
    """Personal data: stored for admins, masked in logs, never in unified events."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class ObservedReservation:
    source: str  # the partner's name: hostaway, guesty, hospitable, ownerrez, lodgify, ical
    connection: str
    source_reservation_id: str
    source_listing_id: str
    status: Status
    raw_status: str
    check_in: date  # property-local; check_out exclusive (the departure day)
    check_out: date
    channel: Channel | None = None
    channel_code: str | None = None  # the channel's own code (Airbnb HM..., Booking number)
    check_in_time: str | None = None  # "HH:MM", property-local
    check_out_time: str | None = None
    timezone: str | None = None  # IANA
    adults: int | None = None
    children: int | None = None
    infants: int | None = None
    guests_total: int | None = None
    guest: Guest = field(default_factory=Guest)
    total_minor: int | None = None
    currency: str | None = None  # ISO 4217
    booked_at: datetime | None = None
    source_updated_at: datetime | None = None  # the source's modification time (UTC)
    is_block: bool = False
    complete: bool = True  # False: a lean payload; the core fetches the rest when it can


@dataclass(frozen=True, slots=True)
class ObservedListing:
    source: str
    connection: str
    source_listing_id: str
    name: str | None = None
    address: str | None = None  # one line, as the source gives it
    latitude: float | None = None
    longitude: float | None = None
    timezone: str | None = None
    check_in_time: str | None = None
    check_out_time: str | None = None
    source_updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """One VEVENT of a feed: a stay ("Reserved") or a block ("Not available")."""

    uid: str
    check_in: date
    check_out: date
    is_block: bool
    channel_code: str | None = None  # Airbnb's HM... from DESCRIPTION


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


def _time(value: datetime | None) -> str:
    return _json(value or utcnow())  # type: ignore[no-any-return]


def reservation_observed(
    reservation: ObservedReservation, *, time: datetime | None = None
) -> InternalEventDraft:
    data = _json(asdict(reservation))
    return InternalEventDraft(
        type=RESERVATION_OBSERVED,
        subject=f"{reservation.connection}/{reservation.source_reservation_id}",
        time=_time(time or reservation.source_updated_at),
        data=data,
    )


def reservation_hinted(
    *, source: str, connection: str, source_reservation_id: str, time: datetime | None = None
) -> InternalEventDraft:
    return InternalEventDraft(
        type=RESERVATION_HINTED,
        subject=f"{connection}/{source_reservation_id}",
        time=_time(time),
        data={
            "source": source,
            "connection": connection,
            "source_reservation_id": source_reservation_id,
        },
    )


def listing_observed(
    listing: ObservedListing, *, time: datetime | None = None
) -> InternalEventDraft:
    return InternalEventDraft(
        type=LISTING_OBSERVED,
        subject=f"{listing.connection}/{listing.source_listing_id}",
        time=_time(time or listing.source_updated_at),
        data=_json(asdict(listing)),
    )


def listing_removed(
    *,
    source: str,
    connection: str,
    source_listing_id: str,
    merged_into: str | None = None,
    time: datetime | None = None,
) -> InternalEventDraft:
    return InternalEventDraft(
        type=LISTING_REMOVED,
        subject=f"{connection}/{source_listing_id}",
        time=_time(time),
        data={
            "source": source,
            "connection": connection,
            "source_listing_id": source_listing_id,
            "merged_into": merged_into,
        },
    )


def calendar_observed(
    *,
    source: str,
    connection: str,
    source_listing_id: str,
    entries: Sequence[CalendarEntry],
    channel: Channel | None,
    fetched_at: datetime,
) -> InternalEventDraft:
    if len(entries) > MAX_CALENDAR_ENTRIES:
        raise ValueError(f"a calendar of {len(entries)} entries exceeds {MAX_CALENDAR_ENTRIES}")
    return InternalEventDraft(
        type=CALENDAR_OBSERVED,
        subject=f"{connection}/{source_listing_id}",
        time=_time(fetched_at),
        data={
            "source": source,
            "connection": connection,
            "source_listing_id": source_listing_id,
            "channel": channel,
            "fetched_at": _json(fetched_at),
            "entries": [_json(asdict(entry)) for entry in entries],
        },
    )


# ---- Fetching one reservation (the lean payloads) ------------------------------------------


@dataclass(frozen=True)
class FetchReservation:
    """The input of `<partner>.fetch_reservation`: fetch one reservation of one connection and
    store it as a raw event (`store_fetched`). Without credentials for the connection the
    workflow returns `FetchOutcome("no_credentials")` at once: the lean data stays as it came."""

    connection: str
    source_reservation_id: str


@dataclass(frozen=True)
class FetchOutcome:
    outcome: Literal["stored", "duplicate", "no_credentials", "not_found"]


def fetch_workflow(partner: str) -> str:
    """The workflow a PMS partner declares for fetching one reservation (the core starts it
    by this name, never naming the partner)."""
    return f"{partner}.fetch_reservation"


def fetch_workflow_id(partner: str, request: FetchReservation) -> str:
    return f"pms.fetch/{partner}/{request.connection}/{request.source_reservation_id}"


def store_fetched(engine: Engine, *, partner: str, events: Sequence[PartnerEvent]) -> int:
    """Store what a call fetched as raw events of `partner` (the edge's insert-or-ignore), for
    the normalizer to treat as delivered ones; returns how many were new."""
    now = utcnow()
    rows = [
        raw_events.NewRawEvent(
            partner=partner,
            partner_event_id=event.partner_event_id,
            event_type=event.event_type,
            received_at=now,
            headers={"fetched": "1"},
            body=event.body,
            last_error=event.malformed,
        )
        for event in events
    ]
    with begin_write(engine) as connection:
        return len(raw_events.record_deliveries(connection, events=rows))


# ---- Money -----------------------------------------------------------------------------------

# ISO 4217 minor-unit exponents other than 2 (the rest have two).
ZERO_DECIMAL = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
THREE_DECIMAL = "BHD IQD JOD KWD LYD OMR TND"
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(ZERO_DECIMAL.split(), 0),
    **dict.fromkeys(THREE_DECIMAL.split(), 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
MAX_MINOR = 10**13  # larger than any stay's price in any currency: a value past it is garbage


def minor_units(amount: object, currency: str | None) -> int | None:
    """An amount in the currency's major unit (1012.5, "1012.50") in its minor units (half to
    even); None without a currency (the exponent is unknown) or for anything not a number."""
    if currency is None or isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
        return None
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    exponent = CURRENCY_EXPONENTS.get(currency.upper(), 2)
    scaled = (value * 10**exponent).quantize(Decimal(1), ROUND_HALF_EVEN)
    return int(scaled) if abs(scaled) <= MAX_MINOR else None
