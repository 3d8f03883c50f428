"""PMS rows for the admin API's tests: a manager, a connection of a partner declared in the
tests (`fake_partner`, capability reservations, one source polled per connection), two
properties, their listings, stays and reservations, written straight into the tables (the
reservations handler that writes them in production has tests of its own)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine

from integration_hub.connectors.partner import Partner, PollContext, PollPage, PollSource, Secret
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import utcnow
from integration_hub.storage.tables import (
    listings,
    managers,
    pms_connections,
    properties,
    reservation_changes,
    reservations,
    stays,
)

FAKE = "fakepms"
SOURCE = "reservations"
MANAGER = "acme"
CONNECTION = "acme-fake"
PROPERTY = "prop_" + "a" * 24
OTHER_PROPERTY = "prop_" + "b" * 24
GUEST = {"guest_name": "Ana Pérez", "guest_email": "ana@example.com", "guest_phone": "+13055550142"}


def fake_partner() -> Partner:
    def fetch(context: PollContext, cursor: str | None) -> PollPage:
        return PollPage([], cursor=None)

    return Partner(
        name=FAKE,
        priority="P2",
        summary="a PMS declared in the tests",
        secrets=(
            Secret("FAKEPMS_WEBHOOK_SECRET", used_for="webhook", per_instance=True),
            Secret("FAKEPMS_API_KEY", per_instance=True),
        ),
        capabilities=frozenset({"reservations"}),
        polls=(PollSource(SOURCE, every=timedelta(minutes=5), fetch=fetch, per_connection=True),),
    )


def _stamp() -> dict[str, Any]:
    now = utcnow()
    return {"created_at": now, "updated_at": now}


def reservation(
    number: int, stay_id: str | None, check_in: date, nights: int, **fields: Any
) -> dict[str, Any]:
    return {
        "id": f"res_{number:024x}", "source": FAKE, "connection_id": CONNECTION,
        "source_reservation_id": f"R{number}", "source_listing_id": "L1", "stay_id": stay_id,
        "channel": "airbnb", "status": "confirmed", "raw_status": "new", "is_block": False,
        "check_in": check_in, "check_out": check_in + timedelta(days=nights), "complete": True,
        **_stamp(), **fields,
    }  # fmt: skip


def stay(number: int, check_in: date, nights: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"stay_{number:024x}", "property_id": PROPERTY, "channel": "airbnb",
        "status": "confirmed", "is_block": False, "check_in": check_in,
        "check_out": check_in + timedelta(days=nights), **_stamp(), **fields,
    }  # fmt: skip


def seed(engine: Engine, *, partner: str = FAKE, status: str = "active") -> dict[str, Any]:
    """Three stays at PROPERTY in December 2026 (a confirmed one, a block, a cancelled one)
    and their reservations, one with two history rows; OTHER_PROPERTY empty."""
    start = date(2026, 12, 3)
    rows = {
        "stays": [
            stay(1, start, 3),
            stay(2, start + timedelta(days=5), 2, is_block=True, channel=None, status="blocked"),
            stay(3, start + timedelta(days=10), 4, status="cancelled"),
        ],
        "reservations": [
            reservation(1, f"stay_{1:024x}", start, 3, guests_total=2, **GUEST),
            reservation(2, f"stay_{2:024x}", start + timedelta(days=5), 2, is_block=True,
                        status="blocked", channel=None),
            reservation(3, f"stay_{3:024x}", start + timedelta(days=10), 4, status="cancelled"),
        ],
    }  # fmt: skip
    with begin_write(engine) as connection:
        connection.execute(
            managers.insert().values(id=MANAGER, name="Acme Homes", billing_mode="per_job",
                                     contact_email="ops@acme.example", **_stamp())
        )  # fmt: skip
        connection.execute(
            pms_connections.insert().values(
                id=CONNECTION, partner=partner, manager_id=MANAGER, status=status, options={},
                held_reason="lost 80% of its entries" if status == "held" else None, **_stamp(),
            )
        )  # fmt: skip
        for property_id, name in ((PROPERTY, "Casa Azul"), (OTHER_PROPERTY, "Casa Verde")):
            connection.execute(
                properties.insert().values(id=property_id, manager_id=MANAGER, name=name,
                                           address="1 Ocean Dr", **_stamp())
            )  # fmt: skip
        connection.execute(
            listings.insert().values(connection_id=CONNECTION, source_listing_id="L1",
                                     source=partner, property_id=PROPERTY, linked_by="auto",
                                     **_stamp())
        )  # fmt: skip
        for table in (stays, reservations):  # one insert each: their columns differ
            for row in rows[table.name]:
                connection.execute(table.insert().values(row))
        connection.execute(
            reservation_changes.insert(),
            [
                {"reservation_id": f"res_{1:024x}", "event_id": "evt_1", "kind": "created",
                 "changes": {}, "recorded_at": utcnow()},
                {"reservation_id": f"res_{1:024x}", "event_id": "evt_2", "kind": "changed",
                 "changes": {"check_out": ["2026-12-05", "2026-12-06"], "guest_name": None},
                 "recorded_at": utcnow()},
            ],
        )  # fmt: skip
    return rows
