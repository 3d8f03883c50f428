"""email_suppressions and email_suppression_events: the addresses nothing more is sent to, and
the events applied to them once each. The rules (which event suppresses) are the handler's
(orchestration/email_suppression.py); addresses are stored lower-cased."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from integration_hub.storage import dialect
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import email_suppression_events, email_suppressions


def canonical_address(address: str) -> str:
    """How an address is keyed: trimmed and lower-cased (providers report it either way)."""
    return address.strip().lower()


def get_suppression(connection: Connection, *, address: str) -> dict[str, Any] | None:
    """The address's row, or None when nothing was ever recorded for it."""
    query = select(email_suppressions).where(
        email_suppressions.c.address == canonical_address(address)
    )
    row = connection.execute(query).first()
    if row is None:
        return None
    found = dict(row._mapping)
    if found["since"] is not None:
        found["since"] = as_utc(found["since"])
    return found


def record_event(
    connection: Connection, *, event_id: str, address: str, event_type: str, occurred_at: datetime
) -> bool:
    """Append one applied event; False when it was applied already."""
    values = {
        "event_id": event_id,
        "address": canonical_address(address),
        "event_type": event_type,
        "occurred_at": occurred_at,
        "recorded_at": utcnow(),
    }
    statement = dialect.insert_or_ignore(
        connection, email_suppression_events, key=["event_id"], values=values
    ).returning(email_suppression_events.c.event_id)
    return connection.execute(statement).first() is not None


def _ensure(connection: Connection, address: str) -> None:
    values = {"address": address, "suppressed": False, "soft_bounces": 0, "updated_at": utcnow()}
    connection.execute(
        dialect.insert_or_ignore(connection, email_suppressions, key=["address"], values=values)
    )


def suppress(connection: Connection, *, address: str, reason: str, since: datetime) -> bool:
    """Suppress the address for `reason`; an address suppressed already keeps its first reason
    and time, unless this event happened earlier. Returns whether the row changed."""
    key = canonical_address(address)
    _ensure(connection, key)
    row = email_suppressions.c
    result = connection.execute(
        update(email_suppressions)
        .where(row.address == key)
        .where((row.suppressed.is_(False)) | (row.since.is_(None)) | (row.since > since))
        .values(suppressed=True, reason=reason, since=since, updated_at=utcnow())
    )
    return bool(result.rowcount)


def count_soft_bounce(connection: Connection, *, address: str) -> int:
    """Add one soft bounce; returns the address's count."""
    key = canonical_address(address)
    _ensure(connection, key)
    connection.execute(
        update(email_suppressions)
        .where(email_suppressions.c.address == key)
        .values(soft_bounces=email_suppressions.c.soft_bounces + 1, updated_at=utcnow())
    )
    query = select(email_suppressions.c.soft_bounces).where(email_suppressions.c.address == key)
    return int(connection.execute(query).scalar_one())
