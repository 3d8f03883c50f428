"""managers and pms_connections: the property managers the hub serves and their accounts at
PMSs (or their iCal feeds). Ids are instance ids chosen by the operator: a connection's id
names its secrets (`<FAMILY>__<ID>`), its webhook path and its poll schedules.

A connection is removed only while nothing refers to it (no listing, no reservation): what a
PMS told the hub stays explained by the connection it came through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from integration_hub.errors import HubError
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import listings, managers, pms_connections, reservations

BILLING_MODES = frozenset({"per_job", "monthly"})
CONNECTION_STATUSES = frozenset({"active", "paused", "held"})


class ManagerExists(HubError):
    retryable = False


class ConnectionExists(HubError):
    retryable = False


class UnknownManager(HubError):
    retryable = False


class ConnectionInUse(HubError):
    """A connection the hub holds listings or reservations of: pause it instead."""

    retryable = False


def _out(row: Any) -> dict[str, Any]:
    values = dict(row._mapping)
    for name in ("created_at", "updated_at", "held_at"):
        if values.get(name) is not None:
            values[name] = as_utc(values[name])
    return values


def add_manager(
    connection: Connection,
    *,
    manager_id: str,
    name: str,
    contact_email: str | None = None,
    contact_phone: str | None = None,
    stripe_customer_id: str | None = None,
    billing_mode: str = "per_job",
) -> dict[str, Any]:
    if billing_mode not in BILLING_MODES:
        raise ValueError(f"billing_mode is one of {sorted(BILLING_MODES)}")
    now = utcnow()
    values = {
        "id": manager_id,
        "name": name,
        "contact_email": contact_email,
        "contact_phone": contact_phone,
        "stripe_customer_id": stripe_customer_id,
        "billing_mode": billing_mode,
        "created_at": now,
        "updated_at": now,
    }
    try:
        with connection.begin_nested():  # a duplicate leaves the transaction usable
            connection.execute(managers.insert().values(values))
    except IntegrityError:
        raise ManagerExists(f"a manager {manager_id!r} exists already") from None
    manager = get_manager(connection, manager_id=manager_id)
    assert manager is not None  # inserted just above, in this transaction
    return manager


def get_manager(connection: Connection, *, manager_id: str) -> dict[str, Any] | None:
    row = connection.execute(select(managers).where(managers.c.id == manager_id)).first()
    return None if row is None else _out(row)


def list_managers(
    connection: Connection, *, limit: int = 100, after_id: str | None = None
) -> list[dict[str, Any]]:
    query = select(managers).order_by(managers.c.id).limit(limit)
    if after_id is not None:
        query = query.where(managers.c.id > after_id)
    return [_out(row) for row in connection.execute(query)]


def add_connection(
    connection: Connection,
    *,
    connection_id: str,
    partner: str,
    manager_id: str,
    label: str | None = None,
    options: Mapping[str, Any] | None = None,
    account_ref: str | None = None,
) -> dict[str, Any]:
    if get_manager(connection, manager_id=manager_id) is None:
        raise UnknownManager(f"no manager {manager_id!r}")
    now = utcnow()
    values = {
        "id": connection_id,
        "partner": partner,
        "manager_id": manager_id,
        "account_ref": account_ref,
        "label": label,
        "status": "active",
        "options": dict(options or {}),
        "created_at": now,
        "updated_at": now,
    }
    try:
        with connection.begin_nested():
            connection.execute(pms_connections.insert().values(values))
    except IntegrityError:
        raise ConnectionExists(f"a connection {connection_id!r} exists already") from None
    added = get_connection(connection, connection_id=connection_id)
    assert added is not None
    return added


def get_connection(connection: Connection, *, connection_id: str) -> dict[str, Any] | None:
    row = connection.execute(
        select(pms_connections).where(pms_connections.c.id == connection_id)
    ).first()
    return None if row is None else _out(row)


def list_connections(
    connection: Connection,
    *,
    partner: str | None = None,
    manager_id: str | None = None,
    limit: int = 100,
    after_id: str | None = None,
) -> list[dict[str, Any]]:
    query = select(pms_connections).order_by(pms_connections.c.id).limit(limit)
    if partner is not None:
        query = query.where(pms_connections.c.partner == partner)
    if manager_id is not None:
        query = query.where(pms_connections.c.manager_id == manager_id)
    if after_id is not None:
        query = query.where(pms_connections.c.id > after_id)
    return [_out(row) for row in connection.execute(query)]


def connection_ids(connection: Connection, *, partners: Sequence[str]) -> list[tuple[str, str]]:
    """(partner, connection id) of every connection of `partners` not paused: the ones polled."""
    query = (
        select(pms_connections.c.partner, pms_connections.c.id)
        .where(pms_connections.c.partner.in_(list(partners)))
        .where(pms_connections.c.status != "paused")
        .order_by(pms_connections.c.partner, pms_connections.c.id)
    )
    return [(row.partner, row.id) for row in connection.execute(query)]


def remove_connection(connection: Connection, *, connection_id: str) -> bool:
    """Delete a connection nothing refers to; False when there was none."""
    for table in (listings, reservations):
        used = connection.execute(
            select(func.count()).select_from(table).where(table.c.connection_id == connection_id)
        ).scalar_one()
        if used:
            raise ConnectionInUse(
                f"connection {connection_id!r} holds listings or reservations; pause it instead"
            )
    result = connection.execute(
        pms_connections.delete().where(pms_connections.c.id == connection_id)
    )
    return bool(result.rowcount)
