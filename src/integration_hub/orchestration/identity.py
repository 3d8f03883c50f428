"""The users-and-roles mirror: applies identity.* events, newest event time wins per row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select

from integration_hub.storage.repo import upsert_newer, utcnow
from integration_hub.storage.tables import identity_memberships, identity_users

IDENTITY_EVENT_TYPES = frozenset(
    {
        "identity.user_created",
        "identity.user_updated",
        "identity.user_deleted",
        "identity.membership_changed",
    }
)


def apply_event(connection: Connection, event: dict[str, Any]) -> str:
    """Apply one identity event; returns what happened (for the workflow's result)."""
    data, kind = event["data"], event["type"]
    when = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    base = {"partner": event["partner"], "source_time": when, "updated_at": utcnow()}
    table: Table
    if kind == "identity.membership_changed":
        table, key = identity_memberships, "membership_id"
        row = {
            **base,
            "membership_id": data["membership_id"],
            "user_id": data["user_id"],
            "organization_id": data["organization_id"],
            "role": data["role"],
            "deleted": data["change"] == "deleted",
        }
    elif kind == "identity.user_deleted":
        table, key = identity_users, "user_id"
        row = {**base, "user_id": data["user_id"], "deleted": True}
    else:
        table, key = identity_users, "user_id"
        row = {
            **base,
            **{k: data[k] for k in ("user_id", "primary_email", "first_name", "last_name", "role")},
            "deleted": False,
        }
    applied = upsert_newer(connection, table=table, key=key, row=row)
    return f"{table.name} {row[key]}: " + ("applied" if applied else "older than stored, kept")


def users(connection: Connection) -> list[dict[str, Any]]:
    rows = connection.execute(select(identity_users).order_by(identity_users.c.user_id)).all()
    return [dict(r._mapping) for r in rows]
