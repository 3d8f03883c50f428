"""audit_log: admin actions, append-only (there is no update or delete here, on purpose)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from integration_hub.storage.rows import AnyRow, utcnow
from integration_hub.storage.tables import audit_log


def record_audit(connection: Connection, *, entry: dict[str, Any]) -> None:
    """Append one admin action: actor, role, method, route, target, client, status."""
    connection.execute(audit_log.insert().values(at=utcnow(), **entry))


def list_audit(
    connection: Connection, *, actor: str | None, limit: int, before_id: int | None
) -> Sequence[AnyRow]:
    """Newest first; `before_id` is the cursor."""
    query = select(audit_log)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    return connection.execute(query.order_by(audit_log.c.id.desc()).limit(limit)).all()
