"""The users-and-roles mirror: applies identity.* events, newest event time wins per row.

Rows are keyed by (provider, id), the provider being the partner whose verified delivery
carried the event (`partner` of the CloudEvent, set from the webhook route, never from the
payload): Auth0 entries, which are not signed, cannot touch a Clerk user's row.

Partners' event times order updates, but are believed only up to a small skew past the hub's
own receipt time (`min(event time, received_at + skew)`), so an event dated in 9999 cannot pin
a row and make every later genuine update look older. An update older than the stored row is
kept out and reported as `skipped` (with the reason), not as completed.

Event times are converted to UTC before they are compared or stored: SQLite keeps a datetime as
text without its offset, so a `+14:00` date stored as sent would read as up to 14 hours later.
A date past the last (or before the first) moment UTC can hold, such as year 1 east of
Greenwich, is taken as that bound (then clamped as any other); one that does not parse fails
the run at once (IdentityRejected, non-retryable) rather than retrying forever.

An applied change of a user's role, a deletion or a membership change ends that user's status
panel sessions (storage/sessions.py), so no one keeps a role the provider has taken away.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table

from integration_hub.errors import HubError
from integration_hub.orchestration.outcomes import HandlerOutcome, Skipped
from integration_hub.storage import identity as mirror
from integration_hub.storage import internal_events, sessions
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import identity_memberships, identity_users

IDENTITY_EVENT_TYPES = frozenset(
    {
        "identity.user_created",
        "identity.user_updated",
        "identity.user_deleted",
        "identity.membership_changed",
    }
)
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


class IdentityRejected(HubError):
    """The event cannot be applied as sent (e.g. a time that does not parse); retrying cannot
    help."""

    reason = "identity_rejected"


def ordering_time(event_time: datetime, received_at: datetime, skew: timedelta) -> datetime:
    """The time an update is ordered by: the partner's, but never past receipt + skew."""
    return min(event_time, received_at + skew)


def _event_time(event: dict[str, Any], received_at: datetime) -> datetime:
    stated = event.get("time")
    if not stated:
        return received_at
    try:
        # RFC 3339 allows a lowercase "t" and "z", which fromisoformat does not.
        parsed = datetime.fromisoformat(str(stated).upper().replace("Z", "+00:00"))
    except ValueError as error:
        raise IdentityRejected(
            f"unusable_time: the event's time {str(stated)[:64]!r} is not an ISO 8601 date-time",
            reason="unusable_time",
        ) from error
    try:
        return as_utc(parsed).astimezone(UTC)
    except OverflowError:
        # Year 1 east of Greenwich, or year 9999 west of it: past what UTC can hold.
        return EARLIEST if parsed.year == datetime.min.year else LATEST


def apply_event(
    connection: Connection, event: dict[str, Any], *, clock_skew: timedelta = DEFAULT_CLOCK_SKEW
) -> HandlerOutcome:
    """Apply one identity event; returns what happened, or Skipped when the row holds a newer
    update."""
    data, kind, provider = event["data"], event["type"], event["partner"]
    received_at = internal_events.received_at(connection, event_id=event["id"])
    when = ordering_time(_event_time(event, received_at), received_at, clock_skew)
    base = {"partner": provider, "source_time": when, "updated_at": utcnow()}
    table: Table
    role_changed = False
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
        role_changed = True
    else:
        table, key = identity_users, "user_id"
        if kind == "identity.user_deleted":
            row = {**base, "user_id": data["user_id"], "deleted": True}
        else:
            fields = ("user_id", "primary_email", "first_name", "last_name", "role")
            row = {**base, **{k: data.get(k) for k in fields}, "deleted": False}
        stored = _stored(connection, table, key, provider, row[key])
        role_changed = stored is not None and (
            row["deleted"] != stored["deleted"] or row.get("role", stored["role"]) != stored["role"]
        )
    name = f"{table.name} {provider}/{row[key]}"
    if not mirror.upsert_newer(connection, table=table, key=("partner", key), row=row):
        held = _stored(connection, table, key, provider, row[key])
        held_time = as_utc(held["source_time"]).isoformat() if held else "?"
        return Skipped(
            f"stale_update: {name}: update of {when.isoformat()} is older than the stored one "
            f"of {held_time}; kept the stored one"
        )
    detail = f"{name}: applied"
    if role_changed:
        ended = sessions.revoke_subject(
            connection, provider=provider, subject=row["user_id"], reason="role_changed"
        )
        detail += f"; {ended} panel session(s) ended" if ended else ""
    return detail


def _stored(
    connection: Connection, table: Table, key: str, provider: str, value: str
) -> dict[str, Any] | None:
    return mirror.stored_row(connection, table=table, provider=provider, column=key, value=value)
