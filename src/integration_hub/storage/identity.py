"""identity_users and identity_memberships: the users-and-roles mirror, keyed by (provider,
id). The handler (orchestration/identity.py) decides what an event changes; the admin API
reads a user's role."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, select

from integration_hub.storage import dialect
from integration_hub.storage.tables import identity_users


def upsert_newer(
    connection: Connection, *, table: Table, key: Sequence[str], row: dict[str, Any]
) -> bool:
    """Insert the row, or overwrite the stored one (same `key` columns, the primary key) if
    this row's `source_time` is not older.

    Returns False when a newer version was already stored (events arrive in any order)."""
    statement = dialect.upsert(
        connection,
        table,
        key=key,
        values=row,
        changes=lambda new: {name: new[name] for name in row if name not in key},
        only_if=lambda new: new.source_time >= table.c.source_time,
    )
    return connection.execute(statement.returning(table.c[key[0]])).first() is not None


def stored_row(
    connection: Connection, *, table: Table, provider: str, column: str, value: str
) -> dict[str, Any] | None:
    """The mirror row of one provider whose `column` (the table's id) is `value`."""
    found = connection.execute(
        select(table).where(table.c.partner == provider, table.c[column] == value)
    ).first()
    return dict(found._mapping) if found is not None else None


def mirrored_role(connection: Connection, *, provider: str, user_id: str) -> str | None:
    """The user's role as their auth provider last sent it (e.g. a `role` in its user
    metadata); `provider` comes from the signed token's issuer, so another provider's row
    never counts. Organization membership roles are the customers' own and grant nothing
    here."""
    return connection.execute(
        select(identity_users.c.role).where(
            identity_users.c.partner == provider,
            identity_users.c.user_id == user_id,
            identity_users.c.deleted.is_(False),
        )
    ).scalar_one_or_none()
