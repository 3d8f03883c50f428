"""The iCal connector: normalization only (feeds are polled, nothing is pushed: the edge
answers 404 to every path). A stored "calendar.fetched" event (poll.py's parsed calendar) is
one `pms.calendar_observed` of its connection's only listing (the listing id is the connection
id: a feed is one listing)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from integration_hub.connectors import pms
from integration_hub.connectors.base import Delivery, InternalEventDraft, Manifest, PartnerEvent
from integration_hub.connectors.ical import FEED_URL, FETCHED, NAME
from integration_hub.errors import NormalizationError, SignatureError

MAX_CODE = 64  # the schema's bound for channel_code
KINDS = {"reserved": False, "blocked": True}  # summary kind -> is_block


def _bad(reason: str) -> NormalizationError:
    return NormalizationError(f"ical calendar.fetched: {reason}", reason="ical_bad_calendar")


def _entry(raw: Any) -> pms.CalendarEntry:
    if not isinstance(raw, dict) or raw.get("summary_kind") not in KINDS:
        raise _bad("an entry is not {uid, start, end, summary_kind, channel_code}")
    uid = pms.bounded(raw.get("uid"), 255)
    if uid is None:
        raise _bad("an entry has no uid")
    try:
        check_in, check_out = date.fromisoformat(raw["start"]), date.fromisoformat(raw["end"])
    except (KeyError, TypeError, ValueError):
        raise _bad("an entry's dates are not YYYY-MM-DD") from None
    if check_out <= check_in:
        raise _bad("an entry ends before it starts")
    return pms.CalendarEntry(
        uid=uid,
        check_in=check_in,
        check_out=check_out,
        is_block=KINDS[raw["summary_kind"]],
        channel_code=pms.bounded(raw.get("channel_code"), MAX_CODE),
    )


class IcalConnector:
    manifest = Manifest(
        name=NAME,
        # Nothing is delivered, so nothing is verified: the edge answers 404 before any secret
        # is read. The manifest names the partner's only secret family.
        webhook_secret=FEED_URL.name,
        event_map={FETCHED: pms.CALENDAR_OBSERVED},
        endpoints=frozenset(),
        secret_per_endpoint=True,
        signs_body=False,
        signs_timestamp=False,
    )

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        raise SignatureError("iCal feeds are polled; nothing is delivered")

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        return []

    def respond(
        self, delivery: Delivery, events: Sequence[PartnerEvent]
    ) -> tuple[str, bytes] | None:
        return None

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        if event.event_type != FETCHED:
            return []
        try:
            connection = pms.connection_of(event.partner_event_id)
            data = json.loads(event.body)
        except ValueError:
            raise _bad("not a connection's event, or not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            raise _bad("no entries")
        channel = data.get("channel")
        if channel not in pms.CHANNELS:
            raise _bad("unknown channel")
        if len(data["entries"]) > pms.MAX_CALENDAR_ENTRIES:
            raise _bad(f"more than {pms.MAX_CALENDAR_ENTRIES} entries")
        try:
            fetched_at = datetime.fromisoformat(str(data.get("fetched_at")))
        except ValueError:
            raise _bad("fetched_at is not a time") from None
        if fetched_at.tzinfo is None:
            raise _bad("fetched_at has no time zone")
        return [
            pms.calendar_observed(
                source=NAME,
                connection=connection,
                source_listing_id=connection,
                entries=[_entry(raw) for raw in data["entries"]],
                channel=channel,
                fetched_at=fetched_at,
            )
        ]

    def sample(self, event_type: str) -> bytes:
        """A parsed Airbnb calendar as the poll stores it (the connection is the event id's)."""
        today = datetime.now(UTC).date()

        def stay(days: int, nights: int, kind: str, code: str | None) -> dict[str, Any]:
            start = today + timedelta(days=days)
            return {
                "uid": f"{uuid.uuid4().hex[:28]}-{uuid.uuid4().hex[:4]}@airbnb.com",
                "start": start.isoformat(),
                "end": (start + timedelta(days=nights)).isoformat(),
                "summary_kind": kind,
                "channel_code": code,
            }

        body = {
            "listing": "ical-demo",
            "channel": "airbnb",
            "fetched_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "entries": [
                stay(3, 4, "reserved", "HM" + uuid.uuid4().hex[:8].upper()),
                stay(9, 2, "blocked", None),
                stay(14, 6, "reserved", "HM" + uuid.uuid4().hex[:8].upper()),
            ],
        }
        return json.dumps(body, separators=(",", ":")).encode()

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        return {}
