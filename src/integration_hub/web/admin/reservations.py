"""Reservations as each source has them, with the stay they belong to and its property, in
pages by check-in; one reservation's history. Guest contact (name, e-mail, phone) is shown
to admins only: others see it masked."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from integration_hub.connectors.pms import Status
from integration_hub.storage import reservation_queries as queries
from integration_hub.web.admin.deps import DatabaseDep, api_router
from integration_hub.web.admin.managers import is_admin
from integration_hub.web.admin.properties import PROPERTY_ID_PATTERN
from integration_hub.web.validation import Limit

router = api_router()

RESERVATION_ID_PATTERN = r"^res_[0-9a-f]{24}$"
CURSOR_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}_res_[0-9a-f]{24}$"
MASK = "***"


class ReservationOut(BaseModel):
    id: str
    stay_id: str | None
    property_id: str | None
    source: str
    connection_id: str
    source_reservation_id: str
    source_listing_id: str
    channel: str | None
    channel_code: str | None
    status: str
    raw_status: str
    is_block: bool
    check_in: date
    check_out: date = Field(description="The departure day (exclusive).")
    check_in_time: str | None
    check_out_time: str | None
    timezone: str | None
    adults: int | None
    children: int | None
    infants: int | None
    guests_total: int | None
    guest_name: str | None = Field(description="Admins only; masked for others.")
    guest_email: str | None = Field(description="Admins only; masked for others.")
    guest_phone: str | None = Field(description="Admins only; masked for others.")
    total_minor: int | None
    currency: str | None
    booked_at: datetime | None
    source_updated_at: datetime | None
    complete: bool
    created_at: datetime
    updated_at: datetime


class ReservationPage(BaseModel):
    items: list[ReservationOut]
    next_cursor: str | None


class ChangeOut(BaseModel):
    event_id: str
    kind: str
    changes: dict[str, Any]
    source_updated_at: datetime | None
    recorded_at: datetime


def reservation_out(row: dict[str, Any], *, admin: bool) -> ReservationOut:
    shown = dict(row)
    if not admin:
        for name in queries.GUEST_FIELDS:
            shown[name] = MASK if shown.get(name) else None
    return ReservationOut(**shown)


def _parse_cursor(cursor: str | None) -> tuple[date, str] | None:
    if cursor is None:
        return None
    day, _, reservation_id = cursor.partition("_")
    try:
        return date.fromisoformat(day), reservation_id
    except ValueError:
        raise HTTPException(
            400, detail={"error": "bad_cursor", "detail": "cursor is not one we issued"}
        ) from None


@router.get("/reservations")
async def list_reservations(
    database: DatabaseDep,
    http: Request,
    property: Annotated[str | None, Query(pattern=PROPERTY_ID_PATTERN)] = None,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to", description="Exclusive.")] = None,
    status: Annotated[list[Status] | None, Query()] = None,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
    limit: Limit = 100,
) -> ReservationPage:
    after = _parse_cursor(cursor)
    rows = await database.read(
        lambda c: queries.list_reservations(
            c, property_id=property, start=start, end=end,
            statuses=[s.value for s in status or ()], limit=limit, after=after,
        )
    )  # fmt: skip
    admin = is_admin(http)
    last = rows[-1] if len(rows) == limit else None
    return ReservationPage(
        items=[reservation_out(r, admin=admin) for r in rows],
        next_cursor=f"{last['check_in'].isoformat()}_{last['id']}" if last else None,
    )


@router.get("/reservations/{reservation_id}/history")
async def history(
    reservation_id: Annotated[str, Path(pattern=RESERVATION_ID_PATTERN)], database: DatabaseDep
) -> list[ChangeOut]:
    def read(c: Any) -> list[dict[str, Any]] | None:
        if queries.get_reservation(c, reservation_id=reservation_id) is None:
            return None
        return queries.reservation_history(c, reservation_id=reservation_id)

    changes = await database.read(read)
    if changes is None:
        raise HTTPException(404, detail={"error": "not_found", "detail": "no such reservation"})
    return [
        ChangeOut(**{k: v for k, v in c.items() if k in ChangeOut.model_fields}) for c in changes
    ]
