"""contacts and contact_consent_events: one row per phone number, and the append-only consent
history. The rules of which event wins are the handler's (orchestration/contacts.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select, update

from integration_hub.storage import dialect
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import contact_consent_events, contacts

_TIMES = ("consent_changed_at", "last_whatsapp_inbound_at", "last_inbound_at")


def get_contact(connection: Connection, *, phone: str) -> dict[str, Any] | None:
    row = connection.execute(select(contacts).where(contacts.c.phone == phone)).first()
    if row is None:
        return None
    contact = dict(row._mapping)
    for name in _TIMES:
        if contact[name] is not None:
            contact[name] = as_utc(contact[name])
    return contact


def ensure_contact(connection: Connection, *, phone: str, locale: str) -> None:
    """Create the contact (opted in, in `locale`) unless it exists."""
    now = utcnow()
    values = {
        "phone": phone,
        "locale": locale,
        "opted_out": False,
        "created_at": now,
        "updated_at": now,
    }
    connection.execute(dialect.insert_or_ignore(connection, contacts, key=["phone"], values=values))


def update_unless_newer(
    connection: Connection, *, phone: str, clock: str, when: datetime, changes: Mapping[str, Any]
) -> bool:
    """Apply `changes` to the contact unless its `clock` column already holds a time after
    `when`; returns whether it did."""
    column = contacts.c[clock]
    result = connection.execute(
        update(contacts)
        .where(contacts.c.phone == phone, or_(column.is_(None), column <= when))
        .values(dict(changes))
    )
    return bool(result.rowcount)


def record_consent_event(
    connection: Connection,
    *,
    event_id: str,
    phone: str,
    opted_out: bool,
    channel: str,
    keyword: str | None,
    source: str,
    occurred_at: datetime,
) -> bool:
    """Append one consent change, once per internal event; False when it was already there."""
    values = {
        "event_id": event_id,
        "phone": phone,
        "opted_out": opted_out,
        "channel": channel,
        "keyword": keyword,
        "source": source,
        "occurred_at": occurred_at,
        "recorded_at": utcnow(),
    }
    statement = dialect.insert_or_ignore(
        connection, contact_consent_events, key=["event_id"], values=values
    ).returning(contact_consent_events.c.id)
    return connection.execute(statement).first() is not None


def consent_history(connection: Connection, *, phone: str) -> list[dict[str, Any]]:
    """Every consent change of one phone number, oldest first."""
    rows = connection.execute(
        select(contact_consent_events)
        .where(contact_consent_events.c.phone == phone)
        .order_by(contact_consent_events.c.occurred_at, contact_consent_events.c.id)
    ).all()
    return [dict(r._mapping) for r in rows]
