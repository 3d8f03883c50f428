"""outbound_messages: the hub's own record of each message it sends, keyed by our message id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from integration_hub.storage import dialect
from integration_hub.storage.rows import utcnow
from integration_hub.storage.tables import outbound_messages


def claim_outbound_message(
    connection: Connection, *, message_id: str, partner: str, channel: str, to_address: str
) -> dict[str, Any]:
    """The stored record of our message, created as `new` on first sight; locked for update."""
    now = utcnow()
    values = {
        "message_id": message_id,
        "partner": partner,
        "channel": channel,
        "to_address": to_address,
        "state": "new",
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    connection.execute(
        dialect.insert_or_ignore(connection, outbound_messages, key=["message_id"], values=values)
    )
    query = select(outbound_messages).where(outbound_messages.c.message_id == message_id)
    return dict(connection.execute(query.with_for_update()).one()._mapping)


def update_outbound_message(
    connection: Connection, *, message_id: str, state: str, **changes: Any
) -> None:
    connection.execute(
        update(outbound_messages)
        .where(outbound_messages.c.message_id == message_id)
        .values(state=state, updated_at=utcnow(), **changes)
    )


def get_outbound_message(connection: Connection, *, message_id: str) -> dict[str, Any] | None:
    query = select(outbound_messages).where(outbound_messages.c.message_id == message_id)
    row = connection.execute(query).first()
    return dict(row._mapping) if row is not None else None
