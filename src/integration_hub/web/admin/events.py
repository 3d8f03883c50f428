"""Stored deliveries: list and search them, show one with the internal events and handler
runs it produced, and (admins only, audited) read its raw body and kept headers."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

import base64
from datetime import datetime
from typing import Annotated, Literal

from fastapi import HTTPException, Query

from integration_hub.storage import raw_events, rows
from integration_hub.web.admin.deps import ADMIN, DatabaseDep, api_router, next_cursor
from integration_hub.web.admin.models import (
    EventPage,
    HandlerRunOut,
    InternalEventOut,
    RawBodyOut,
    RawEventDetail,
    RawEventSummary,
    Status,
)

# Registers the `:event_id` path convertor the routes below are declared with.
from integration_hub.web.event_ids import EventIdConvertor as EventIdConvertor
from integration_hub.web.validation import (
    Cursor,
    EventIdSegment,
    Limit,
    PartnerFilter,
    PartnerSegment,
    TextFilter,
    parse_cursor,
    utc_bound,
)

router = api_router()


def unknown_event(partner: str, partner_event_id: str) -> HTTPException:
    return HTTPException(
        404, detail={"error": "not_found", "detail": f"no {partner} event {partner_event_id!r}"}
    )


@router.get("/events")
async def list_events(
    database: DatabaseDep,
    partner: PartnerFilter = None,
    status: Status | None = None,
    event_type: Annotated[TextFilter, Query(alias="type")] = None,
    event_id: TextFilter = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> EventPage:
    """Newest first. `since` (inclusive) and `until` (exclusive) bound the receipt time;
    a time without a zone is taken as UTC."""
    before = parse_cursor(cursor)
    rows = await database.read(
        lambda c: raw_events.find_raw_events(
            c,
            partner=partner,
            status=status,
            event_type=event_type,
            partner_event_id=event_id,
            since=utc_bound(since),
            until=utc_bound(until),
            limit=limit,
            before_id=before,
        )
    )
    return EventPage(
        items=[RawEventSummary.of(r) for r in rows], next_cursor=next_cursor(rows, limit)
    )


# `:event_id`: the id is one percent-encoded segment, routed as received (web/event_ids.py).
@router.get(
    "/events/{partner}/{partner_event_id:event_id}",
    responses={404: {"description": "unknown event"}},
)
async def show_event(
    database: DatabaseDep, partner: PartnerSegment, partner_event_id: EventIdSegment
) -> RawEventDetail:
    found = await database.read(
        lambda c: raw_events.get_raw_event(c, partner=partner, partner_event_id=partner_event_id)
    )
    if found is None:
        raise unknown_event(partner, partner_event_id)
    raw, events = found
    return RawEventDetail(
        **RawEventSummary.of(raw).model_dump(),
        headers=dict(raw.headers),
        events=[
            InternalEventOut(
                event=envelope,
                handlers=[
                    HandlerRunOut(
                        handler=r.handler,
                        workflow_id=r.workflow_id,
                        status=r.status,
                        attempts=r.attempts,
                        last_error=r.last_error,
                    )
                    for r in runs
                ],
            )
            for envelope, runs in events
        ],
    )


@router.get(
    "/events/{partner}/{partner_event_id:event_id}/raw",
    dependencies=ADMIN,
    responses={404: {"description": "unknown event"}, 403: {"description": "admins only"}},
)
async def raw_event(
    database: DatabaseDep, partner: PartnerSegment, partner_event_id: EventIdSegment
) -> RawBodyOut:
    """The body and kept headers exactly as received (admins only; audited)."""
    found = await database.read(
        lambda c: raw_events.get_raw_event(c, partner=partner, partner_event_id=partner_event_id)
    )
    if found is None:
        raise unknown_event(partner, partner_event_id)
    raw = found[0]
    body = bytes(raw.body)
    encoding: Literal["utf-8", "base64"] = "utf-8"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode(), "base64"
    return RawBodyOut(
        partner=raw.partner,
        partner_event_id=raw.partner_event_id,
        headers=dict(raw.headers),
        body=text,
        body_encoding=encoding,
        body_purged_at=rows.as_utc(raw.body_purged_at) if raw.body_purged_at else None,
    )
