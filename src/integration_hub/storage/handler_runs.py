"""handler_runs: one row per (internal event, handler). The dispatcher starts pending runs;
a run's outcome sets its raw event's status."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from integration_hub.storage.rows import AnyRow, as_utc, utcnow
from integration_hub.storage.tables import (
    HandlerStatus,
    RawStatus,
    handler_runs,
    internal_events,
    raw_events,
)

FINISHED_RUN_STATUSES = frozenset({HandlerStatus.COMPLETED.value, HandlerStatus.SKIPPED.value})


def pending_handler_runs(connection: Connection, *, limit: int) -> Sequence[AnyRow]:
    """Runs to start, with their event's envelope (partner, ids and traceparent for the
    dispatcher's logs and spans)."""
    return connection.execute(
        select(
            handler_runs.c.event_id,
            handler_runs.c.handler,
            handler_runs.c.workflow_id,
            internal_events.c.envelope,
        )
        .join(internal_events, internal_events.c.id == handler_runs.c.event_id)
        .where(handler_runs.c.status == HandlerStatus.PENDING.value)
        .order_by(handler_runs.c.updated_at)
        .limit(limit)
    ).all()


def mark_handlers_started(connection: Connection, *, keys: Iterable[tuple[str, str]]) -> None:
    now = utcnow()
    for event_id, handler in keys:
        connection.execute(
            update(handler_runs)
            .where(
                handler_runs.c.event_id == event_id,
                handler_runs.c.handler == handler,
                handler_runs.c.status == HandlerStatus.PENDING.value,
            )
            .values(
                status=HandlerStatus.STARTED.value,
                attempts=handler_runs.c.attempts + 1,
                updated_at=now,
            )
        )


@dataclass(frozen=True, slots=True)
class RawOutcome:
    """A raw event's status after a handler run was recorded."""

    partner: str
    status: RawStatus
    received_at: datetime


def record_handler_outcome(
    connection: Connection,
    *,
    event_id: str,
    handler: str,
    error: str | None,
    skipped: str | None = None,
) -> RawOutcome:
    """Set one handler run's final state, then derive its raw event's status from all runs.

    `skipped` (the reason, kept in `last_error`) marks a run that was done without effect on
    purpose; it counts as finished, so its raw event still reaches `processed`."""
    now = utcnow()
    if error:
        status = HandlerStatus.FAILED
    elif skipped:
        status, error = HandlerStatus.SKIPPED, skipped
    else:
        status = HandlerStatus.COMPLETED
    raw_event_id = connection.execute(
        select(internal_events.c.raw_event_id).where(internal_events.c.id == event_id)
    ).scalar_one()
    # Runs of one raw event finish concurrently (one per internal event and handler): lock the
    # raw row first, so the last to finish sees every other outcome committed and sets the
    # final status. Without it, two READ COMMITTED transactions each see the other's run as
    # still started and the event stays `processing` forever. (SQLite serializes writes.)
    raw = connection.execute(
        select(raw_events.c.partner, raw_events.c.received_at)
        .where(raw_events.c.id == raw_event_id)
        .with_for_update()
    ).one()
    connection.execute(
        update(handler_runs)
        .where(handler_runs.c.event_id == event_id, handler_runs.c.handler == handler)
        .values(status=status.value, last_error=error, updated_at=now)
    )
    runs = connection.execute(
        select(handler_runs.c.status, handler_runs.c.last_error)
        .join(internal_events, internal_events.c.id == handler_runs.c.event_id)
        .where(internal_events.c.raw_event_id == raw_event_id)
    ).all()
    failures = [r.last_error for r in runs if r.status == HandlerStatus.FAILED.value]
    if failures:
        raw_status, raw_error = RawStatus.FAILED, failures[0]
    elif all(r.status in FINISHED_RUN_STATUSES for r in runs):
        raw_status, raw_error = RawStatus.PROCESSED, None
    else:
        raw_status, raw_error = RawStatus.PROCESSING, None
    connection.execute(
        update(raw_events)
        .where(raw_events.c.id == raw_event_id)
        .values(status=raw_status.value, last_error=raw_error, updated_at=now)
    )
    return RawOutcome(raw.partner, raw_status, as_utc(raw.received_at))
