"""An ICS body as the entries the hub keeps: one per VEVENT that is a stay or a block.

Airbnb: `SUMMARY:Reserved` (a booking) or `Airbnb (Not available)` (a block), all-day
DTSTART/DTEND (DTEND exclusive: the checkout day), the `HM...` confirmation code in
DESCRIPTION. Vrbo: `Reserved - <name>` or `Blocked`. Booking.com: `CLOSED - Not available`.
Kept per entry: the UID, the dates, reserved or blocked and the HM code; never the summary
(Vrbo puts the guest's name there) nor the description (Airbnb puts phone digits there).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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


def kind_of(summary: str) -> Kind:
    """A block when the summary says the dates are closed; anything else occupies the
    listing (a PMS's export names the guest), so it is a stay."""
    text = summary.casefold()
    return "blocked" if any(word in text for word in BLOCK_WORDS) else "reserved"


def _day(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()  # the date where the event's own time is (no time zone in iCal)
    if isinstance(value, date):
        return value
    return None


def _dates(event: icalendar.cal.Component) -> tuple[date, date] | None:
    start_prop = event.get("DTSTART")
    start = _day(start_prop.dt) if start_prop is not None else None
    if start is None:
        return None
    end: date | None = None
    if (end_prop := event.get("DTEND")) is not None:
        end = _day(end_prop.dt)
    elif (duration := event.get("DURATION")) is not None and isinstance(duration.dt, timedelta):
        end = _day(start_prop.dt + duration.dt)
    if end is None or end <= start:
        end = start + timedelta(days=1)
    return start, end


def parse_feed(body: bytes, *, today: date) -> list[FeedEntry]:
    """The feed's stays and blocks, sorted, from 30 days ago to two years ahead."""
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
    entries: dict[str, FeedEntry] = {}
    for event in events:
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        dates = _dates(event)
        if dates is None:
            continue
        start, end = dates
        if end < oldest or start > furthest:
            continue
        uid = pms.bounded(event.get("UID"), MAX_UID) or f"nouid-{start}-{end}"
        if uid in entries:  # a UID twice (a feed's bug): keep both stays, told apart by date
            uid = f"{uid[: MAX_UID - 11]}#{start.isoformat()}"
            if uid in entries:
                continue
        code = HM_CODE.search(str(event.get("DESCRIPTION", "")))
        entries[uid] = FeedEntry(
            uid=uid,
            start=start,
            end=end,
            kind=kind_of(str(event.get("SUMMARY", ""))),
            channel_code=code.group(0) if code else None,
        )
    return sorted(entries.values(), key=lambda e: (e.start, e.end, e.uid))


def calendar_hash(channel: str | None, entries: Sequence[FeedEntry]) -> str:
    """The SHA-256 of what the hub keeps of a calendar: the same feed refetched (new DTSTAMPs,
    reordered events) hashes the same."""
    normalized = {"channel": channel, "entries": [entry.as_json() for entry in entries]}
    text = json.dumps(normalized, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
