"""Properties: list them (a manager's, in pages), move a listing onto another property (admins;
`linked_by` admin, which the PMS's later listing events never undo) and the suggestions of
listings that look like the same place (storage/stays.py decides what looks alike)."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import HTTPException, Query, Request
from pydantic import BaseModel, Field

from integration_hub.errors import HubError
from integration_hub.orchestration import reservation_links
from integration_hub.storage import reservation_queries as queries
from integration_hub.storage import stays
from integration_hub.web.admin.deps import ADMIN, DatabaseDep, api_router
from integration_hub.web.admin.managers import ID_PATTERN
from integration_hub.web.audit import add_audit_detail
from integration_hub.web.validation import Limit

router = api_router()

PROPERTY_ID_PATTERN = r"^prop_[0-9a-f]{24}$"


class PropertyOut(BaseModel):
    id: str
    manager_id: str
    name: str
    address: str | None
    latitude: float | None
    longitude: float | None
    timezone: str | None
    timezone_source: str | None
    check_in_time: str | None
    check_out_time: str | None
    cleaning_minutes: int | None
    listings: int = Field(description="Listings (of any connection) tied to it now.")
    removed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PropertyPage(BaseModel):
    items: list[PropertyOut]
    next_cursor: str | None


def property_out(row: dict[str, Any]) -> PropertyOut:
    return PropertyOut(**{k: v for k, v in row.items() if k != "geocoded_at"})


@router.get("/properties")
async def list_properties(
    database: DatabaseDep,
    limit: Limit = 100,
    cursor: Annotated[str | None, Query(pattern=PROPERTY_ID_PATTERN)] = None,
    manager: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> PropertyPage:
    rows = await database.read(
        lambda c: queries.list_properties(c, manager_id=manager, limit=limit, after_id=cursor)
    )
    return PropertyPage(
        items=[property_out(r) for r in rows],
        next_cursor=rows[-1]["id"] if len(rows) == limit else None,
    )


class LinkIn(BaseModel):
    connection_id: str = Field(pattern=ID_PATTERN)
    source_listing_id: str = Field(pattern=r"^[^\x00-\x1f\x7f]{1,128}$")
    property_id: str = Field(pattern=PROPERTY_ID_PATTERN)


@router.post("/properties/link", dependencies=ADMIN)
async def link(body: LinkIn, database: DatabaseDep, http: Request) -> dict[str, Any]:
    """Tie a listing to `property_id` (the stays of its reservations move with it)."""
    try:
        await database.write(
            lambda c: reservation_links.link_listing(
                c,
                connection_id=body.connection_id,
                source_listing_id=body.source_listing_id,
                property_id=body.property_id,
            )
        )
    except (HubError, LookupError) as refused:
        detail = refused.detail if isinstance(refused, HubError) else str(refused)
        raise HTTPException(422, detail={"error": "not_linked", "detail": detail}) from None
    add_audit_detail(http, f"listing={body.connection_id}/{body.property_id}")
    return {"linked": True, **body.model_dump()}


@router.get("/properties/link-suggestions")
async def link_suggestions(
    database: DatabaseDep, manager: Annotated[str, Query(pattern=ID_PATTERN)]
) -> dict[str, Any]:
    """Pairs of `manager`'s properties that look like one place (an admin may link them)."""
    pairs = await database.read(lambda c: stays.suggest_links(c, manager))
    return {"items": [{"property_id": a, "looks_like": b} for a, b in pairs]}


MAX_CALENDAR_DAYS = 62


class CalendarStay(BaseModel):
    id: str
    property_id: str
    status: str
    is_block: bool
    channel: str | None
    check_in: date
    check_out: date = Field(description="The departure day (exclusive).")
    guests_total: int | None


class HeldFeed(BaseModel):
    id: str
    partner: str
    label: str | None
    held_reason: str | None
    held_at: datetime | None
    property_id: str


class CalendarOut(BaseModel):
    properties: list[PropertyOut]
    stays: list[CalendarStay] = Field(description="Overlapping the range; cancelled left out.")
    held: list[HeldFeed] = Field(description="Held feeds of these properties: not applied.")
    next_cursor: str | None


@router.get("/calendar")
async def calendar(
    database: DatabaseDep,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to", description="Exclusive.")],
    manager: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    cursor: Annotated[str | None, Query(pattern=PROPERTY_ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> CalendarOut:
    """A page of properties with their stays (blocks marked) in [from, to) and held feeds."""
    if not timedelta(0) < end - start <= timedelta(days=MAX_CALENDAR_DAYS):
        raise HTTPException(
            400,
            detail={
                "error": "bad_range",
                "detail": f"to is after from, {MAX_CALENDAR_DAYS} days at most",
            },
        )

    def read(c: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        shown = queries.list_properties(c, manager_id=manager, limit=limit, after_id=cursor)
        ids = [p["id"] for p in shown]
        return (
            shown,
            queries.calendar_stays(c, property_ids=ids, start=start, end=end),
            queries.held_connections(c, property_ids=ids),
        )

    shown, stays_in_range, held = await database.read(read)
    return CalendarOut(
        properties=[property_out(p) for p in shown],
        stays=[
            CalendarStay(**{k: s[k] for k in CalendarStay.model_fields}) for s in stays_in_range
        ],
        held=[HeldFeed(**h) for h in held],
        next_cursor=shown[-1]["id"] if len(shown) == limit else None,
    )
