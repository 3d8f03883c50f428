"""ledger_entries: the payments ledger, one entry per internal event. The rules that decide
an entry are the handler's (orchestration/ledger.py); the queries they read are here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, select

from integration_hub.storage import dialect
from integration_hub.storage.rows import AnyRow, utcnow
from integration_hub.storage.tables import ledger_entries


def post_ledger_entry(connection: Connection, *, entry: dict[str, Any]) -> bool:
    """Insert once per internal event id; returns False when it was already there."""
    statement = dialect.insert_or_ignore(
        connection, ledger_entries, key=["event_id"], values={**entry, "created_at": utcnow()}
    )
    return connection.execute(statement.returning(ledger_entries.c.id)).first() is not None


def _of(partner: str, kind: str, object_id: str) -> ColumnElement[bool]:
    """Entries of one kind for one object of one partner (object ids are the partner's own)."""
    return and_(
        ledger_entries.c.partner == partner,
        ledger_entries.c.object_id == object_id,
        ledger_entries.c.kind == kind,
    )


def lock_object(connection: Connection, *, partner: str, object_id: str) -> None:
    """Serialize, until the transaction ends, the rules that read earlier entries of one
    object."""
    dialect.serialize_on(connection, key=f"{partner}/{object_id}")


def ledger_has_entry(connection: Connection, *, partner: str, kind: str, object_id: str) -> bool:
    found = connection.execute(
        select(ledger_entries.c.id).where(_of(partner, kind, object_id)).limit(1)
    ).first()
    return found is not None


def total(connection: Connection, *, partner: str, kind: str, object_id: str) -> int:
    """The sum of the amounts of one kind booked for one object (0 when there are none)."""
    found = connection.execute(
        select(func.coalesce(func.sum(ledger_entries.c.amount), 0)).where(
            _of(partner, kind, object_id)
        )
    ).scalar_one()
    return int(found)


def currency_of(connection: Connection, *, partner: str, kind: str, object_id: str) -> str | None:
    """The currency of the first entry of one kind booked for one object, if any."""
    return connection.execute(
        select(ledger_entries.c.currency).where(_of(partner, kind, object_id)).limit(1)
    ).scalar_one_or_none()


def list_ledger(connection: Connection, *, limit: int, before_id: int | None) -> Sequence[AnyRow]:
    query = select(ledger_entries)
    if before_id is not None:
        query = query.where(ledger_entries.c.id < before_id)
    return connection.execute(query.order_by(ledger_entries.c.id.desc()).limit(limit)).all()
