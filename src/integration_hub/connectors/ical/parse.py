"""An ICS body as the entries the hub keeps: one per VEVENT that is a stay or a block.

Airbnb: `SUMMARY:Reserved` (a booking) or `Airbnb (Not available)` (a block), all-day
DTSTART/DTEND (DTEND exclusive: the checkout day), the `HM...` confirmation code in
DESCRIPTION. Vrbo: `Reserved - <name>` or `Blocked`. Booking.com exports every booked night as
`CLOSED - Not available`: on a feed whose channel is booking, that summary is a stay.
A timed DTSTART/DTEND with a zone (UTC or TZID) is read in the calendar's X-WR-TIMEZONE (the
property's) before its date is taken; without one, in its own zone; a floating time keeps its
wall date. One malformed VEVENT (a date that is none, a property given twice) is skipped and
counted (`ParsedFeed.skipped`); the rest of the calendar is kept.
Kept per entry: the UID, the dates, reserved or blocked and the HM code; never the summary
(Vrbo puts the guest's name there) nor the description (Airbnb puts phone digits there).
"""

from __future__ import annotations

import hashlib
import json
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Literal

import icalendar

from integration_hub.connectors import pms

MAX_FEED_BYTES = 2 * 1024 * 1024
MAX_UID = 255  # the schema's bound
PAST_DAYS = 30  # stays that ended longer ago are history the core no longer needs
AHEAD_DAYS = 2 * 365  # channels open calendars a year or two ahead; further is noise
HM_CODE = re.compile(r"\bHM[A-Z0-9]{8}\b")
BLOCK_WORDS = ("not available", "blocked", "closed", "unavailable")
Kind = Literal["reserved", "blocked"]


class FeedUnreadable(ValueError):
    """A body the hub will not take as a calendar (the message names sizes and counts only)."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    uid: str
    start: date  # check-in
    end: date  # checkout (exclusive)
    kind: Kind
    channel_code: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "summary_kind": self.kind,
            "channel_code": self.channel_code,
        }


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    entries: list[FeedEntry]
    skipped: int  # malformed VEVENTs left out


class BrokenEvent(ValueError):
    """A VEVENT whose dates or identity cannot be read: skipped, the rest kept."""


def kind_of(summary: str, channel: str | None = None) -> Kind:
    """A block when the summary says the dates are closed; anything else occupies the
    listing (a PMS's export names the guest), so it is a stay. Booking.com closes its booked
    nights with "CLOSED - Not available": on its feeds that is a stay."""
    text = summary.casefold()
    if channel == "booking" and text.startswith("closed"):
        return "reserved"
    return "blocked" if any(word in text for word in BLOCK_WORDS) else "reserved"


def calendar_zone(calendar: icalendar.cal.Component) -> tzinfo | None:
    """The calendar's X-WR-TIMEZONE (Airbnb's and Vrbo's exports name the property's zone)."""
    name = calendar.get("X-WR-TIMEZONE")
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        return None
    try:
        return zoneinfo.ZoneInfo(str(name).strip())
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return None


def _one(event: icalendar.cal.Component, name: str) -> Any:
    value = event.get(name)
    if isinstance(value, list):
        raise BrokenEvent(f"{name} given more than once")
    return value


def _dt(event: icalendar.cal.Component, name: str) -> Any:
    prop = _one(event, name)
    if prop is None:
        return None
    try:
        return prop.dt
    except Exception as error:  # icalendar's BrokenCalendarProperty, or a value without .dt
        raise BrokenEvent(f"{name} is not a date ({type(error).__name__})") from None


def _day(value: object, zone: tzinfo | None) -> date | None:
    if isinstance(value, datetime):
        if value.tzinfo is not None and zone is not None:
            return value.astimezone(zone).date()  # UTC or TZID: the property's date
        return value.date()  # floating, or no calendar zone: its own wall date
    if isinstance(value, date):
        return value
    return None


def _dates(event: icalendar.cal.Component, zone: tzinfo | None) -> tuple[date, date] | None:
    start_dt = _dt(event, "DTSTART")
    start = _day(start_dt, zone)
    if start is None:
        return None
    end: date | None = None
    if (end_dt := _dt(event, "DTEND")) is not None:
        end = _day(end_dt, zone)
    elif isinstance(duration := _dt(event, "DURATION"), timedelta):
        end = _day(start_dt + duration, zone)
    if end is None or end <= start:
        end = start + timedelta(days=1)
    return start, end


def parse_feed(body: bytes, *, today: date, channel: str | None = None) -> list[FeedEntry]:
    """The feed's stays and blocks, sorted, from 30 days ago to two years ahead."""
    return parse_calendar(body, today=today, channel=channel).entries


def parse_calendar(body: bytes, *, today: date, channel: str | None = None) -> ParsedFeed:
    """The feed's stays and blocks, sorted, and how many malformed events were skipped."""
    if len(body) > MAX_FEED_BYTES:
        raise FeedUnreadable(f"the feed is {len(body)} bytes, over {MAX_FEED_BYTES}")
    # Counted before parsing, so a huge calendar costs no parse.
    declared = body.upper().count(b"BEGIN:VEVENT")
    if declared > pms.MAX_CALENDAR_ENTRIES:
        raise FeedUnreadable(f"the feed holds {declared} events, over {pms.MAX_CALENDAR_ENTRIES}")
    try:
        calendar = icalendar.Calendar.from_ical(body)
    except Exception as error:  # the library raises several types for a body that is not ICS
        raise FeedUnreadable(f"the feed is not an iCalendar ({type(error).__name__})") from None
    if getattr(calendar, "name", None) != "VCALENDAR":
        raise FeedUnreadable("the feed is not an iCalendar (no VCALENDAR)")
    events = calendar.walk("VEVENT")
    if len(events) > pms.MAX_CALENDAR_ENTRIES:
        raise FeedUnreadable(
            f"the feed holds {len(events)} events, over {pms.MAX_CALENDAR_ENTRIES}"
        )
    oldest, furthest = today - timedelta(days=PAST_DAYS), today + timedelta(days=AHEAD_DAYS)
    zone = calendar_zone(calendar)
    entries: dict[str, FeedEntry] = {}
    skipped = 0
    for event in events:
        try:
            entry = _entry(event, zone, channel)
        except BrokenEvent:
            skipped += 1
            continue
        if entry is None or entry.end < oldest or entry.start > furthest:
            continue
        uid = entry.uid
        if uid in entries:  # a UID twice (a feed's bug): keep both stays, told apart by date
            uid = f"{uid[: MAX_UID - 11]}#{entry.start.isoformat()}"
            if uid in entries:
                continue
        entries[uid] = FeedEntry(uid, entry.start, entry.end, entry.kind, entry.channel_code)
    ordered = sorted(entries.values(), key=lambda e: (e.start, e.end, e.uid))
    return ParsedFeed(ordered, skipped)


def _entry(
    event: icalendar.cal.Component, zone: tzinfo | None, channel: str | None
) -> FeedEntry | None:
    """The event as an entry (None: cancelled or undated), or BrokenEvent."""
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return None
    dates = _dates(event, zone)
    if dates is None:
        return None
    start, end = dates
    uid = pms.bounded(str(_one(event, "UID") or ""), MAX_UID) or f"nouid-{start}-{end}"
    code = HM_CODE.search(str(event.get("DESCRIPTION", "")))  # twice: searched in both
    return FeedEntry(
        uid=uid,
        start=start,
        end=end,
        kind=kind_of(str(_one(event, "SUMMARY") or ""), channel),
        channel_code=code.group(0) if code else None,
    )


def calendar_hash(channel: str | None, entries: Sequence[FeedEntry]) -> str:
    """The SHA-256 of what the hub keeps of a calendar: the same feed refetched (new DTSTAMPs,
    reordered events) hashes the same."""
    normalized = {"channel": channel, "entries": [entry.as_json() for entry in entries]}
    text = json.dumps(normalized, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
