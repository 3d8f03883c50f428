"""A booking OwnerRez no longer has: deleted (a hint arrived, the fetch answers 404).

A deleted booking must not stay confirmed in the hub, but a 404 carries nothing to observe.
The hub's own last observation does: its listing, dates and block flag (the `reservations`
row the core keeps). The fetch stores a small `booking.gone.fetched` raw event with those and the
time the 404 came (`gone_at`), normalized into a cancelled observation (raw status
"deleted") as of that time. A booking the hub never observed has no dates to cancel: nothing
is stored (it never became a stay), and the log says so without personal data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
import structlog
from sqlalchemy import Engine, select

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.ownerrez import NAME
from integration_hub.connectors.ownerrez.webhook import BOOKING_GONE
from integration_hub.storage.tables import reservations

log = structlog.get_logger(__name__)


def gone_event(engine: Engine, connection: str, booking_id: str) -> PartnerEvent | None:
    """The `booking.gone.fetched` event of a booking the hub observed before, else None."""
    query = select(
        reservations.c.source_listing_id,
        reservations.c.check_in,
        reservations.c.check_out,
        reservations.c.is_block,
    ).where(
        reservations.c.source == NAME,
        reservations.c.connection_id == connection,
        reservations.c.source_reservation_id == booking_id,
    )
    with engine.connect() as db:
        row = db.execute(query).first()
    if row is None:
        log.info("ownerrez_missing_booking_never_observed", connection=connection)
        return None
    gone_at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    body = orjson.dumps({"id": booking_id, "property_id": row.source_listing_id,
                         "arrival": _day(row.check_in), "departure": _day(row.check_out),
                         "is_block": bool(row.is_block), "gone_at": gone_at})  # fmt: skip
    # One per booking: a deleted booking does not come back.
    return PartnerEvent(pms.connection_event_id(connection, f"gone:{booking_id}"), BOOKING_GONE,
                        body)  # fmt: skip


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)[:10]
