"""A partner declared in the tests only (not in PARTNERS): one poll source that lists guests
from a local HTTP server, page by page with a cursor, and a connector that normalizes them.

The server (`GuestFeed`) serves a script of pages keyed by the cursor asked for; a page can be
told to fail a number of times first, or for good, with a given status."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from integration_hub.connectors.base import (
    Delivery,
    InternalEventDraft,
    Manifest,
    PartnerEvent,
)
from integration_hub.connectors.outbound import call_failed
from integration_hub.connectors.partner import Partner, PollContext, PollPage, PollSource
from integration_hub.errors import SignatureError
from tests.partner_server import RecordedRequest, Reply

NAME = "pollguests"
SOURCE = "guests"


def guest(number: int) -> dict[str, object]:
    return {"id": f"guest_{number}", "type": "guest.opted_in", "phone": f"+1305555{number:04d}"}


@dataclass
class GuestFeed:
    """Pages by cursor ("" for the first): (guests, next cursor, more)."""

    pages: dict[str, tuple[list[dict[str, object]], str | None, bool]]
    failures: dict[str, int] = field(default_factory=dict)  # cursor -> failures left
    status: int = 503  # what a failing page answers
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: RecordedRequest) -> Reply:
        cursor = request.query.get("cursor", [""])[0]
        with self.lock:
            if self.failures.get(cursor, 0) > 0:
                self.failures[cursor] -= 1
                return Reply(self.status, {"error": "try later"})
        items, following, more = self.pages.get(cursor, ([], None, False))
        return Reply(200, {"items": items, "next": following, "more": more})


class GuestConnector:
    """Normalization only: the partner pushes nothing, so the edge answers 404 to every path."""

    manifest = Manifest(
        name=NAME,
        webhook_secret="POLLGUESTS_UNUSED",
        event_map={"guest.opted_in": "contact.opted_in"},
        endpoints=frozenset(),
    )

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        raise SignatureError("this partner only polls")

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        return []

    def respond(
        self, delivery: Delivery, events: Sequence[PartnerEvent]
    ) -> tuple[str, bytes] | None:
        return None

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        item = json.loads(event.body)
        data = {
            "phone": item["phone"],
            "channel": "sms",
            "opted_out": False,
            "keyword": None,
            "source": "keyword",
            "locale_hint": None,
            "message_sid": item["id"],
        }
        return [InternalEventDraft("contact.opted_in", item["phone"], "2026-12-01T10:00:00Z", data)]

    def sample(self, event_type: str) -> bytes:
        return json.dumps(guest(1)).encode()

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        return {}


def guest_partner(url: str, *, max_events: int = 10, max_pages: int = 10) -> Partner:
    """The partner, its one source fetching from the feed at `url`."""

    def fetch(context: PollContext, cursor: str | None) -> PollPage:
        params = {"cursor": cursor or "", "limit": context.max_events}
        response = httpx.get(f"{url}/guests", params=params, timeout=5)
        if response.is_error:
            raise call_failed(NAME, "list_guests", status=response.status_code, message="failed")
        answer = response.json()
        events = [
            PartnerEvent(str(item["id"]), str(item["type"]), json.dumps(item).encode())
            for item in answer["items"]
        ]
        return PollPage(events, cursor=answer["next"], more=answer["more"])

    source = PollSource(
        SOURCE,
        every=timedelta(minutes=15),
        fetch=fetch,
        max_events_per_page=max_events,
        max_pages_per_run=max_pages,
    )
    return Partner(
        name=NAME,
        priority="P2",
        summary="guests polled from a local feed (tests)",
        webhook=lambda _: GuestConnector(),
        polls=(source,),
    )
