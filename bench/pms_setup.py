"""What the PMS sync bench shares: one manager, one connection per PMS (and an iCal feed linked to
the Hostaway listing's property), the hub with the Hostaway connection's webhook secret, and the
waits and snapshots read straight from the database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select

from bench.common import Database, hub_server
from integration_hub.connectors.hostaway import samples as hostaway_samples
from integration_hub.storage import migrate
from integration_hub.storage.engine import make_engine
from integration_hub.storage.properties import property_id_for
from integration_hub.storage.rows import utcnow
from integration_hub.storage.tables import (
    handler_runs,
    listings,
    managers,
    pms_connections,
    properties,
    raw_events,
    reservation_changes,
    reservations,
    stays,
)
from integration_hub.testing import HubProcess

MANAGER = "bench-manager"
HOSTAWAY, GUESTY, HOSPITABLE = "bench-hostaway", "bench-guesty", "bench-hospitable"
OWNERREZ, LODGIFY, ICAL = "bench-ownerrez", "bench-lodgify", "bench-ical"
CONNECTIONS = {
    HOSTAWAY: "hostaway",
    GUESTY: "guesty",
    HOSPITABLE: "hospitable",
    OWNERREZ: "ownerrez",
    LODGIFY: "lodgify",
    ICAL: "ical",
}
BASIC_AUTH = "bench-login:bench-password-7f3a9c"
HOSTAWAY_LISTING = str(hostaway_samples.LISTING_ID)
# The Hostaway listing's property: the iCal feed's listing is linked onto it (an admin's link).
SHARED_PROPERTY = property_id_for(HOSTAWAY, HOSTAWAY_LISTING)


def prepare(db: Database) -> Engine:
    """Migrate, then the manager, the connections and the linked listings."""
    engine = make_engine(db.url)
    migrate.upgrade(engine)
    now = utcnow()
    stamps = {"created_at": now, "updated_at": now}
    with engine.begin() as connection:
        connection.execute(
            insert(managers).values(
                id=MANAGER, name="Bench Homes", billing_mode="per_job", **stamps
            )
        )
        for connection_id, partner in CONNECTIONS.items():
            connection.execute(
                insert(pms_connections).values(
                    id=connection_id, partner=partner, manager_id=MANAGER, status="active",
                    options={}, **stamps,
                )
            )  # fmt: skip
        connection.execute(
            insert(properties).values(
                id=SHARED_PROPERTY, manager_id=MANAGER, name="Brickell Bay 2BR", **stamps
            )
        )
        for connection_id, listing_id, source in (
            (HOSTAWAY, HOSTAWAY_LISTING, "hostaway"),
            (ICAL, ICAL, "ical"),
        ):
            connection.execute(
                insert(listings).values(
                    connection_id=connection_id, source_listing_id=listing_id, source=source,
                    property_id=SHARED_PROPERTY, linked_by="admin", **stamps,
                )
            )  # fmt: skip
    return engine


def pms_hub(home: Path, db: Database, temporal: str, task_queue: str) -> HubProcess:
    server = hub_server(home, db, temporal, task_queue)
    server.env["HOSTAWAY_WEBHOOK_BASIC_AUTH__" + HOSTAWAY.upper()] = BASIC_AUTH
    return server


def wait_until_settled(engine: Engine, *, timeout: float = 900.0) -> float:
    """Seconds until nothing is left to normalize and no handler run is open (twice in a row,
    since a run may derive events that start more runs)."""
    started = time.perf_counter()
    quiet = 0
    while time.perf_counter() - started < timeout:
        with engine.connect() as connection:
            waiting = connection.execute(
                select(func.count()).where(raw_events.c.status == "received")
            ).scalar_one()
            open_runs = connection.execute(
                select(func.count()).where(handler_runs.c.status.in_(["pending", "started"]))
            ).scalar_one()
        quiet = quiet + 1 if waiting == 0 and open_runs == 0 else 0
        if quiet >= 3:
            return time.perf_counter() - started
        time.sleep(0.2)
    raise TimeoutError("the hub did not settle")


_WRITE_TIMES = {"created_at", "updated_at", "recorded_at", "id"}


def snapshot(engine: Engine) -> dict[str, Any]:
    """The model without the times of its writes: stays, reservations, and each reservation's
    history kinds (in order)."""
    with engine.connect() as connection:
        stay_rows = [
            {k: v for k, v in row._mapping.items() if k not in {"created_at", "updated_at"}}
            for row in connection.execute(select(stays).order_by(stays.c.id))
        ]
        reservation_rows = [
            {k: v for k, v in row._mapping.items() if k not in {"created_at", "updated_at"}}
            for row in connection.execute(select(reservations).order_by(reservations.c.id))
        ]
        history: dict[str, list[str]] = {}
        query = select(reservation_changes.c.reservation_id, reservation_changes.c.kind).order_by(
            reservation_changes.c.reservation_id, reservation_changes.c.id
        )
        for reservation_id, kind in connection.execute(query):
            history.setdefault(reservation_id, []).append(kind)
    return {"stays": stay_rows, "reservations": reservation_rows, "history": history}


def duplicate_stays(model: dict[str, Any]) -> int:
    """Live stays that share a property and a channel code, or a property and dates, with
    another live stay: each extra one counts."""
    live = [s for s in model["stays"] if s["status"] != "cancelled"]
    by_code: dict[tuple[Any, ...], int] = {}
    by_dates: dict[tuple[Any, ...], int] = {}
    for stay in live:
        if stay["channel_code"]:
            key = (stay["property_id"], stay["channel_code"])
            by_code[key] = by_code.get(key, 0) + 1
        dates = (stay["property_id"], stay["check_in"], stay["check_out"])
        by_dates[dates] = by_dates.get(dates, 0) + 1
    extra = sum(n - 1 for n in by_code.values()) + sum(n - 1 for n in by_dates.values())
    return extra
