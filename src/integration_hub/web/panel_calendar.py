"""The panel's property calendar: one month, one row per property, one cell per night.

Read from `GET /api/calendar` in process for the signed-in principal, like every panel page
(web/panel.py). A night of a stay is a filled cell (its first night labelled with the channel),
a block a hatched grey one, a cancelled stay nothing (the API leaves it out); a held iCal feed
of a shown property is named in a banner, since its latest calendar was not applied."""

# No `from __future__ import annotations`: FastAPI evaluates the route signatures.

import calendar as month_days
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from integration_hub.web.auth import Principal


@dataclass(frozen=True, slots=True)
class Cell:
    day: date
    kind: str  # "" (free), "stay" or "block"
    first: bool  # the stay's first night in this month
    label: str  # the channel on a first night
    title: str  # the tooltip: dates and status (never a guest)


def month_of(text: str, today: date) -> date:
    """The first day of "YYYY-MM", else of this month."""
    try:
        year, month = (int(part) for part in text.split("-", 1))
        return date(year, month, 1)
    except ValueError:
        return today.replace(day=1)


def next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def grid(first: date, stays: list[dict[str, Any]], property_id: str) -> list[Cell]:
    """The month's nights for one property; a night belongs to a stay when check_in <= night
    < check_out (the departure day is free for the next guest)."""
    nights = [
        first + timedelta(days=i) for i in range(month_days.monthrange(first.year, first.month)[1])
    ]
    own = [s for s in stays if s["property_id"] == property_id]
    cells = []
    for night in nights:
        stay = next(
            (
                s
                for s in own
                if date.fromisoformat(s["check_in"]) <= night < date.fromisoformat(s["check_out"])
            ),
            None,
        )
        if stay is None:
            cells.append(Cell(night, "", False, "", ""))
            continue
        starts = date.fromisoformat(stay["check_in"])
        first_night = night in (starts, first)
        kind = "block" if stay["is_block"] else "stay"
        title = f"{stay['check_in']} to {stay['check_out']} · {stay['status']}"
        label = "" if stay["is_block"] else (stay["channel"] or "")
        cells.append(Cell(night, kind, first_night, label if first_night else "", title))
    return cells


def add_calendar(
    router: APIRouter,
    *,
    session: Callable[[Request], Awaitable[tuple[str, Principal] | None]],
    call_api: Callable[[Request, Principal], httpx.AsyncClient],
    render: Callable[..., HTMLResponse],
    to_login: Callable[[Request], RedirectResponse],
    page_context: Callable[[str, Principal], dict[str, Any]],
) -> None:
    @router.get("/calendar")
    async def property_calendar(request: Request) -> Response:
        signed = await session(request)
        if signed is None:
            return to_login(request)
        first = month_of(request.query_params.get("month", ""), date.today())
        after = next_month(first)
        params: dict[str, str | int] = {"from": first.isoformat(), "to": after.isoformat()}
        params |= {k: v for k in ("manager", "cursor") if (v := request.query_params.get(k, ""))}
        async with call_api(request, signed[1]) as api_client:
            answer = await api_client.get("/api/calendar", params=params)
        if answer.status_code != 200:
            return render(
                "message.html", request, answer.status_code,
                message=f"{answer.status_code}: the calendar could not be read",
                **page_context(*signed),
            )  # fmt: skip
        data = answer.json()
        rows = [(p, grid(first, data["stays"], p["id"])) for p in data["properties"]]
        previous = (first - timedelta(days=1)).replace(day=1)
        return render(
            "calendar.html", request, month=first, rows=rows, held=data["held"],
            previous=previous.strftime("%Y-%m"), following=after.strftime("%Y-%m"),
            next_cursor=data["next_cursor"], manager=request.query_params.get("manager", ""),
            **page_context(*signed),
        )  # fmt: skip
