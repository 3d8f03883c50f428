"""Listings deleted at Hostaway: Hostaway sends no event for them, so the listings walk tells.

A page of the walk (`GET /v1/listings?afterId=<after>`, in id order) holds every listing with an
id in (after, greatest on the page], the last page every id past `after`. A listing the hub keeps
for the connection (`listings`, not removed) with an id in that range and not on the page is
gone: a `listing.vanished` event (`{"id"}`), normalized into `pms.listing_removed`. Keyed by
the listing and when the hub last changed it, so a walk that sees it gone again before the core
removed it is a duplicate, and a listing that comes back and goes again is a new removal.

A first page that is empty (an account answering no listings at all) removes nothing: that is
more likely a fault at Hostaway than a manager who deleted every listing.
"""

from __future__ import annotations

from sqlalchemy import Engine

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.hostaway import NAME
from integration_hub.connectors.hostaway.webhook import LISTING_VANISHED, canonical
from integration_hub.storage import reservation_queries

MAX_ID_DIGITS = 18


def vanished_listings(
    engine: Engine,
    connection: str,
    *,
    after: int,
    upto: int | None,
    seen: set[int],
    first_page_empty: bool,
) -> list[PartnerEvent]:
    """Events for the kept listings with an id in (after, upto] (`upto` None: no bound) that the
    page did not hold."""
    if first_page_empty:
        return []
    with engine.connect().execution_options(read_only=True) as db:
        kept = reservation_queries.kept_listings(db, connection_id=connection, source=NAME)
    events: list[PartnerEvent] = []
    for listing_id, updated_at in kept:
        if not (listing_id.isascii() and listing_id.isdigit()) or len(listing_id) > MAX_ID_DIGITS:
            continue
        number = int(listing_id)
        if number <= after or (upto is not None and number > upto) or number in seen:
            continue
        version = pms.content_hash(str(updated_at).encode())
        key = f"vanished:{number}:{version}"
        body = canonical({"id": number})
        events.append(
            PartnerEvent(pms.connection_event_id(connection, key), LISTING_VANISHED, body)
        )
    return events
