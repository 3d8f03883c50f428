"""internal_events: the CloudEvents a raw event normalizes to, stored with their handler runs
and the raw event's new status in one go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, cast, select, update

from integration_hub.storage import dialect
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import (
    HandlerStatus,
    RawStatus,
    handler_runs,
    internal_events,
    raw_events,
)


@dataclass(slots=True)
class NormalizationOutcome:
    raw_event_id: int
    events: list[dict[str, Any]] = field(default_factory=list)  # CloudEvents
    handlers: list[tuple[str, str, str]] = field(default_factory=list)  # event id, handler, wf id
    error: str | None = None

    @property
    def status(self) -> RawStatus:
        if self.error is not None:
            return RawStatus.FAILED
        if not self.events:
            return RawStatus.IGNORED
        return RawStatus.PROCESSING if self.handlers else RawStatus.PROCESSED


def store_normalization(
    connection: Connection, *, outcomes: Sequence[NormalizationOutcome]
) -> None:
    """Store internal events and handler runs and set each raw row's status, all at once.

    Replays produce the same event ids, so existing events are kept and their handler runs
    go back to pending (handlers are idempotent).
    """
    now = utcnow()
    event_rows = [
        {
            "id": event["id"],
            "raw_event_id": outcome.raw_event_id,
            "position": position,
            "type": event["type"],
            "subject": event.get("subject", ""),
            "envelope": event,
            "created_at": now,
        }
        for outcome in outcomes
        for position, event in enumerate(outcome.events)
    ]
    if event_rows:
        connection.execute(
            dialect.insert_or_ignore(connection, internal_events, key=["id"]), event_rows
        )
    run_rows = [
        {
            "event_id": event_id,
            "handler": handler,
            "workflow_id": workflow_id,
            "status": HandlerStatus.PENDING.value,
            "attempts": 0,
            "updated_at": now,
        }
        for outcome in outcomes
        for event_id, handler, workflow_id in outcome.handlers
    ]
    if run_rows:
        connection.execute(
            dialect.upsert(
                connection,
                handler_runs,
                key=["event_id", "handler"],
                changes=lambda new: {
                    "status": HandlerStatus.PENDING.value,
                    "last_error": None,
                    "updated_at": now,
                    # A replayed run gets a new workflow id per generation
                    # (`.../replay-<starts so far>`): reusing the old id would collide with a
                    # workflow that recorded its outcome but has not closed yet, and the new
                    # run would never start.
                    "workflow_id": new.workflow_id
                    + "/replay-"
                    + cast(handler_runs.c.attempts, String),
                },
            ),
            run_rows,
        )
    if outcomes:
        connection.execute(
            update(raw_events)
            .where(raw_events.c.id == bindparam("raw_id"))
            .values(
                status=bindparam("new_status"),
                attempts=raw_events.c.attempts + 1,
                last_error=bindparam("error"),
                updated_at=now,
            ),
            [
                {"raw_id": o.raw_event_id, "new_status": o.status.value, "error": o.error}
                for o in outcomes
            ],
        )


def get_internal_event(connection: Connection, *, event_id: str) -> dict[str, Any] | None:
    envelope = connection.execute(
        select(internal_events.c.envelope).where(internal_events.c.id == event_id)
    ).scalar_one_or_none()
    return dict(envelope) if envelope is not None else None


def received_at(connection: Connection, *, event_id: str) -> datetime:
    """When the hub received the delivery an internal event came from."""
    received = connection.execute(
        select(raw_events.c.received_at)
        .join(internal_events, internal_events.c.raw_event_id == raw_events.c.id)
        .where(internal_events.c.id == event_id)
    ).scalar_one()
    return as_utc(received)
