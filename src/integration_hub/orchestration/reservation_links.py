"""An admin's link of a listing onto another property, told as events: the stays it moved or
changed (`reservation.changed`), made (`reservation.created`) or merged away
(`reservation.cancelled`, reason `merged`, `merged_into` the survivor), caused by a raw event
`admin.link_listing` (derived_events.py `emit_admin`). The admin API calls `link_listing`
here, not storage/stays.py's, so later work hears of what the link did."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from integration_hub.connectors.base import InternalEventDraft
from integration_hub.orchestration import derived_events
from integration_hub.orchestration.handlers import handler_names_for
from integration_hub.orchestration.reservation_events import merged_event, stay_events
from integration_hub.storage import stays
from integration_hub.storage.tables import pms_connections, reservations

ACTION = "link_listing"


def link_drafts(
    connection: Connection, changes: list[stays.StayChange]
) -> list[InternalEventDraft]:
    """The events of the stays a link changed, each named by its primary reservation."""
    drafts: list[InternalEventDraft] = []
    for change in changes:
        context = _context(connection, change.after)
        if context is None:  # a stay without reservations: nothing later work knows of
            continue
        if change.merged_into is not None:
            drafts.append(merged_event(change.after, change.merged_into, context))
        else:
            drafts.extend(stay_events(change.before, change.after, context, reason=None))
    return drafts


def _context(connection: Connection, stay: dict[str, Any]) -> dict[str, Any] | None:
    row = connection.execute(
        select(reservations.c.id, reservations.c.source, reservations.c.connection_id,
               pms_connections.c.manager_id)
        .join(pms_connections, pms_connections.c.id == reservations.c.connection_id)
        .where(reservations.c.id == stay["primary_reservation_id"])
    ).one_or_none()  # fmt: skip
    if row is None:
        return None
    return {"reservation_id": row.id, "source": row.source, "connection": row.connection_id,
            "manager_id": row.manager_id}  # fmt: skip


def link_listing(
    connection: Connection, *, connection_id: str, source_listing_id: str, property_id: str
) -> list[dict[str, Any]]:
    """storage/stays.py `link_listing`, with its events stored (returns them; errors as
    there). The cause's body names the ids only."""
    changes = stays.link_listing(
        connection, connection_id=connection_id, source_listing_id=source_listing_id,
        property_id=property_id,
    )  # fmt: skip
    detail = {"connection_id": connection_id, "source_listing_id": source_listing_id,
              "property_id": property_id}  # fmt: skip
    return derived_events.emit_admin(
        connection, action=ACTION, detail=detail, drafts=link_drafts(connection, changes),
        handler_names=handler_names_for,
    )  # fmt: skip
