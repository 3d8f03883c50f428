"""Real-shaped Airbnb and Vrbo exports parsed into what the hub keeps: dates, stay or block,
the HM code; never the summary's name nor the description's phone digits."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from integration_hub.connectors import pms
from integration_hub.connectors.ical.parse import (
    FeedEntry,
    FeedUnreadable,
    calendar_hash,
    kind_of,
    parse_feed,
)

HERE = Path(__file__).parent
TODAY = date(2026, 12, 1)


def test_an_airbnb_export_gives_its_stays_blocks_and_hm_codes() -> None:
    entries = parse_feed((HERE / "airbnb.ics").read_bytes(), today=TODAY)

    assert entries == [
        FeedEntry(
            "1418fb94e984-7d5b8b3c6bbb3c0a1b1d35e4a0c8fa71@airbnb.com",
            date(2026, 12, 4),
            date(2026, 12, 8),  # DTEND is the checkout day (exclusive)
            "reserved",
            "HMABCD1234",  # found across the folded DESCRIPTION line
        ),
        FeedEntry(
            "7f3c1d2e9a8b-0c4e6f1a2b3c4d5e6f708192a3b4c5d6@airbnb.com",
            date(2026, 12, 10),
            date(2026, 12, 12),
            "blocked",
        ),
        FeedEntry(
            "a91b2c3d4e5f-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d@airbnb.com",
            date(2026, 12, 18),
            date(2026, 12, 24),
            "reserved",
            "HMZX98Y7W6",
        ),
    ]  # the stay that ended in August (over 30 days ago) is history: left out
    kept = str([entry.as_json() for entry in entries])
    assert "1234\\n" not in kept and "5678" not in kept and "Phone" not in kept


def test_a_vrbo_export_keeps_no_guest_name_and_dates_datetimes() -> None:
    entries = parse_feed((HERE / "vrbo.ics").read_bytes(), today=TODAY)

    assert [(e.start, e.end, e.kind, e.channel_code) for e in entries] == [
        (date(2026, 12, 5), date(2026, 12, 9), "reserved", None),
        (date(2026, 12, 15), date(2026, 12, 17), "blocked", None),
        # A DTSTART with a time and no DTEND: its date, one night.
        (date(2026, 12, 26), date(2026, 12, 27), "reserved", None),
    ]
    kept = str([entry.as_json() for entry in entries])
    assert "María" not in kept and "Smith" not in kept


@pytest.mark.parametrize(
    ("summary", "kind"),
    [
        ("Reserved", "reserved"),
        ("Airbnb (Not available)", "blocked"),
        ("Not available", "blocked"),
        ("Reserved - Ana Pérez", "reserved"),
        ("Blocked", "blocked"),
        ("CLOSED - Not available", "blocked"),  # Booking.com
        ("", "reserved"),
    ],
)
def test_summaries_say_stay_or_block(summary: str, kind: str) -> None:
    assert kind_of(summary) == kind


def ics(*events: str) -> bytes:
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *events, "END:VCALENDAR"]
    return "\r\n".join([*body, ""]).encode()


def vevent(uid: str, start: str, end: str, summary: str = "Reserved", stamp: str = "") -> str:
    lines = ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTART;VALUE=DATE:{start}"]
    lines += [f"DTEND;VALUE=DATE:{end}", f"SUMMARY:{summary}"]
    lines += [f"DTSTAMP:{stamp}"] if stamp else []
    return "\r\n".join([*lines, "END:VEVENT"])


def test_the_hash_ignores_stamps_and_order_but_not_dates() -> None:
    a = vevent("a@x", "20261210", "20261212", stamp="20261201T000000Z")
    b = vevent("b@x", "20261220", "20261222", stamp="20261201T000000Z")
    restamped = vevent("a@x", "20261210", "20261212", stamp="20261201T010000Z")
    moved = vevent("a@x", "20261210", "20261213")

    def digest(body: bytes) -> str:
        return calendar_hash("airbnb", parse_feed(body, today=TODAY))

    assert digest(ics(a, b)) == digest(ics(b, restamped))
    assert digest(ics(a, b)) != digest(ics(moved, b))
    assert digest(ics(a, b)) != calendar_hash("vrbo", parse_feed(ics(a, b), today=TODAY))


def test_far_future_cancelled_and_undated_events_are_left_out() -> None:
    far = vevent("far@x", "20290101", "20290105")
    cancelled = vevent("c@x", "20261210", "20261212").replace(
        "END:VEVENT", "STATUS:CANCELLED\r\nEND:VEVENT"
    )
    undated = "BEGIN:VEVENT\r\nUID:u@x\r\nSUMMARY:Reserved\r\nEND:VEVENT"
    twice = [vevent("d@x", "20261203", "20261204"), vevent("d@x", "20261206", "20261207")]

    entries = parse_feed(ics(far, cancelled, undated, *twice), today=TODAY)

    assert [e.uid for e in entries] == ["d@x", "d@x#2026-12-06"]  # a repeated UID kept apart


def test_too_many_events_or_not_a_calendar_is_refused() -> None:
    many = [vevent(f"{n}@x", "20261210", "20261212") for n in range(pms.MAX_CALENDAR_ENTRIES + 1)]
    with pytest.raises(FeedUnreadable, match=f"{pms.MAX_CALENDAR_ENTRIES + 1} events"):
        parse_feed(ics(*many), today=TODAY)
    with pytest.raises(FeedUnreadable, match="not an iCalendar"):
        parse_feed(b"<html><body>Service unavailable</body></html>", today=TODAY)
