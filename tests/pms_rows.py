"""Rows a PMS event needs before the reservations handler accepts it: its manager and its
`pms_connections` row (an event naming an unknown connection is refused for good)."""

from __future__ import annotations

from sqlalchemy import Engine

from integration_hub.storage import dialect
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import utcnow
from integration_hub.storage.tables import managers, pms_connections


def make_connection(
    engine: Engine, connection_id: str, *, partner: str, manager: str = "acme"
) -> None:
    """The manager (once) and one active connection of `partner`."""
    now = utcnow()
    with begin_write(engine) as connection:
        connection.execute(
            dialect.insert_or_ignore(connection, managers, key=["id"]),
            [{"id": manager, "name": manager.title(), "billing_mode": "per_job",
              "created_at": now, "updated_at": now}],
        )  # fmt: skip
        connection.execute(
            pms_connections.insert().values(
                id=connection_id, partner=partner, manager_id=manager, status="active",
                options={}, created_at=now, updated_at=now,
            )
        )  # fmt: skip
