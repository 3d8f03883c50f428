"""`pms.calendar_observed`: a feed's whole calendar at once.

Each entry is upserted as a reservation of the feed (source "ical", id its UID, dated by the
fetch); a live future reservation the calendar no longer holds was cancelled at the channel
(a feed says nothing else of a cancellation) — unless the calendar lost more than
`HUB_ICAL_HOLD_SHARE` of the connection's future stays at once (and at least two), which looks
like a broken or truncated feed, not a wave of cancellations (so does an empty calendar while
a future stay is known): then the connection is held and nothing is cancelled while the feed
still looks broken; a calendar back under the threshold clears the hold itself, and an admin's
release (`storage/stays.py` `release_hold`) lets the next calendar apply in full. A calendar
fetched before the listing's last one (`listings.source_updated_at`, the high-water mark)
cancels nothing.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

import structlog
from sqlalchemy import Connection

from integration_hub.connectors import pms
from integration_hub.connectors.base import InternalEventDraft
from integration_hub.metrics import ICAL_FEEDS_HELD
from integration_hub.orchestration.reservation_apply import apply_reservation
from integration_hub.orchestration.reservation_places import ensure_listing
from integration_hub.storage import properties, stays
from integration_hub.storage import reservations as rows

log = structlog.get_logger(__name__)

VANISHED = "vanished_from_calendar"
# What a calendar must keep holding: stays that happen, and blocks.
HELD_BY_CALENDAR = frozenset({*pms.LIVE_STATUSES, pms.Status.BLOCKED})
MIN_VANISHED_TO_HOLD = 2


def entry_reservation_id(uid: str) -> str:
    """A UID as a source reservation id (a UID longer than the column: its SHA-256)."""
    if len(uid) <= pms.MAX_ID:
        return uid
    return "sha256-" + hashlib.sha256(uid.encode()).hexdigest()


def _entry_fields(data: dict[str, Any], entry: dict[str, Any], fetched: datetime) -> dict[str, Any]:
    blocked = bool(entry["is_block"])
    return {
        "source": stays.CALENDAR_SOURCE,
        "source_listing_id": data["source_listing_id"],
        "channel": data.get("channel"),
        "channel_code": entry.get("channel_code"),
        "status": pms.Status.BLOCKED.value if blocked else pms.Status.CONFIRMED.value,
        "raw_status": "not_available" if blocked else "reserved",
        "is_block": blocked,
        "check_in": date.fromisoformat(entry["check_in"]),
        "check_out": date.fromisoformat(entry["check_out"]),
        "source_updated_at": fetched,
        "complete": True,
    }


def _same(stored: dict[str, Any] | None, fields: dict[str, Any]) -> bool:
    """The entry says what the stored reservation says (its time aside)."""
    return stored is not None and all(
        stored[name] == value for name, value in fields.items() if name != "source_updated_at"
    )


def apply_calendar(
    connection: Connection,
    event: dict[str, Any],
    *,
    owner: dict[str, Any],
    hold_share: float,
) -> tuple[str, list[InternalEventDraft]]:
    data = event["data"]
    fetched = datetime.fromisoformat(data["fetched_at"])
    today = fetched.date()
    statuses = [str(status) for status in HELD_BY_CALENDAR]
    known = rows.future_live(connection, connection_id=owner["id"], after=today, statuses=statuses)
    # The feed's listing exists from its first calendar, empty or not (an admin links it).
    _, drafts = ensure_listing(
        connection, owner=owner, source=data["source"],
        source_listing_id=data["source_listing_id"],
    )  # fmt: skip
    newest = _newest_fetch(connection, owner["id"], data["source_listing_id"], fetched)
    seen: set[str] = set()
    outcomes: dict[str, int] = {}
    stored = rows.of_listing(
        connection, connection_id=owner["id"], source_listing_id=data["source_listing_id"]
    )
    for entry in data["entries"]:
        uid, fields = entry_reservation_id(entry["uid"]), _entry_fields(data, entry, fetched)
        if _same(stored.get(uid), fields):  # most of a calendar, most of the time: no writes
            seen.add(stored[uid]["id"])
            outcomes["unchanged"] = outcomes.get("unchanged", 0) + 1
            continue
        applied = apply_reservation(
            connection, event_id=event["id"], owner=owner, source_reservation_id=uid,
            fields=fields,
        )  # fmt: skip
        seen.add(applied.reservation_id)
        drafts.extend(applied.drafts)
        outcomes[applied.outcome] = outcomes.get(applied.outcome, 0) + 1
    vanished = [
        reservation
        for reservation in known
        if reservation["source_listing_id"] == data["source_listing_id"]
        and reservation["source"] == stays.CALENDAR_SOURCE
        and reservation["id"] not in seen
        # A calendar fetched before the reservation's last change does not speak for it.
        and (reservation["source_updated_at"] is None or reservation["source_updated_at"] <= fetched)
    ]  # fmt: skip
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
    if not newest:  # a later calendar already spoke for what this one lacks
        return f"calendar: {summary or 'empty'}; older than the last one, nothing vanished", drafts
    released = owner["held_reason"] == stays.RELEASED
    suspect = len(vanished) >= MIN_VANISHED_TO_HOLD and len(vanished) > hold_share * len(known)
    # An empty calendar while a future stay is known looks broken whatever the count.
    suspect = suspect or (bool(vanished) and not data["entries"])
    held = owner["status"] == stays.CONNECTION_HELD
    if suspect and held:
        return f"calendar: {summary or 'empty'}; feed held, {len(vanished)} not cancelled", drafts
    if held:  # the feed is back: what it lacks now is real
        stays.clear_hold(connection, owner["id"])
        log.info("calendar feed hold cleared", connection=owner["id"], vanished=len(vanished),
                 known=len(known))  # fmt: skip
    elif suspect and not released:
        reason = f"{len(vanished)} of {len(known)} future stays vanished at once"
        stays.hold_connection(connection, owner["id"], reason=reason, at=fetched)
        ICAL_FEEDS_HELD.inc()
        log.warning("calendar feed held", connection=owner["id"], vanished=len(vanished),
                    known=len(known))  # fmt: skip
        return f"calendar: {summary or 'empty'}; feed held ({reason})", drafts
    for reservation in vanished:
        fields = {name: reservation[name] for name in rows.SOURCE_FIELDS}
        fields.update(
            status=pms.Status.CANCELLED.value, raw_status="vanished", source_updated_at=fetched
        )
        applied = apply_reservation(
            connection, event_id=event["id"], owner=owner,
            source_reservation_id=reservation["source_reservation_id"], fields=fields,
            reason=VANISHED,
        )  # fmt: skip
        drafts.extend(applied.drafts)
    if released:
        stays.clear_release(connection, owner["id"])
    return f"calendar: {summary or 'empty'}; {len(vanished)} vanished, cancelled", drafts


def _newest_fetch(
    connection: Connection, connection_id: str, listing_id: str, fetched: datetime
) -> bool:
    """Whether this calendar is the newest of its listing yet (its fetch time then becomes the
    listing's high-water mark, `listings.source_updated_at`): an older one delivered late must
    not cancel what a newer one listed."""
    listing = properties.get_listing(
        connection, connection_id=connection_id, source_listing_id=listing_id
    )
    assert listing is not None
    mark = listing["source_updated_at"]
    if mark is not None and fetched < mark:
        return False
    if mark != fetched:
        properties.update_listing(
            connection, connection_id=connection_id, source_listing_id=listing_id,
            values={"source_updated_at": fetched},
        )  # fmt: skip
    return True
