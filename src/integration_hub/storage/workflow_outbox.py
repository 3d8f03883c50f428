"""workflow_outbox: workflow starts and signals queued by handlers, sent by the dispatcher.

A row is written in the transaction of the handler that queues it, so it exists only if that
transaction commits; the dispatcher reads committed rows only. Queueing is insert-or-ignore
on (workflow id, kind, signal, dedup): a handler retried or replayed queues nothing twice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, null, or_, select, update

from integration_hub.errors import MAX_ERROR_CHARS
from integration_hub.storage import dialect
from integration_hub.storage.rows import AnyRow, utcnow
from integration_hub.storage.tables import OutboxKind, OutboxStatus, workflow_outbox

_KEY = ("workflow_id", "kind", "signal", "dedup")


def queue_workflow_message(
    connection: Connection,
    *,
    kind: OutboxKind,
    workflow_id: str,
    dedup: str,
    workflow_type: str | None = None,
    signal: str = "",
    input: Any = None,
    signal_input: Any = None,
    task_queue: str | None = None,
) -> bool:
    """Queue one start or signal; False when this (workflow id, kind, signal, dedup) was
    queued before (the stored row, sent or not, is left as it is)."""
    now = utcnow()
    values = {
        "kind": kind.value,
        "workflow_type": workflow_type,
        "workflow_id": workflow_id,
        "signal": signal,
        "dedup": dedup,
        "input": input,
        "signal_input": signal_input,
        "task_queue": task_queue,
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    }
    statement = dialect.insert_or_ignore(connection, workflow_outbox, key=_KEY, values=values)
    return connection.execute(statement.returning(workflow_outbox.c.id)).first() is not None


def due_workflow_messages(connection: Connection, *, now: datetime, limit: int) -> Sequence[AnyRow]:
    """Pending rows due by `now`, oldest first, at most `limit`.

    Rows of one workflow id go out in the order they were queued (a start before the signals
    that follow it): a row is left out while an earlier pending row of its workflow waits out
    a backoff."""
    earlier = workflow_outbox.alias("earlier")
    waiting = exists().where(
        earlier.c.workflow_id == workflow_outbox.c.workflow_id,
        earlier.c.status == OutboxStatus.PENDING.value,
        earlier.c.id < workflow_outbox.c.id,
        earlier.c.next_attempt_at > now,
    )
    return connection.execute(
        select(workflow_outbox)
        .where(
            workflow_outbox.c.status == OutboxStatus.PENDING.value,
            workflow_outbox.c.next_attempt_at <= now,
            ~waiting,
        )
        .order_by(workflow_outbox.c.id)
        .limit(limit)
    ).all()


def mark_workflow_messages_dispatched(
    connection: Connection, *, ids: Collection[int], now: datetime
) -> None:
    """Temporal has these rows (accepted now or before). A row already dispatched, or
    dead-lettered meanwhile by a concurrent dispatcher, is left as it is."""
    if not ids:
        return
    connection.execute(
        update(workflow_outbox)
        .where(
            workflow_outbox.c.id.in_(list(ids)),
            workflow_outbox.c.status == OutboxStatus.PENDING.value,
        )
        .values(
            status=OutboxStatus.DISPATCHED.value,
            dispatched_at=now,
            attempts=workflow_outbox.c.attempts + 1,
            last_error=None,
        )
    )


def purge_dispatched_inputs(
    connection: Connection, *, dispatched_before: datetime, limit: int
) -> int:
    """Empty the arguments (`input`, `signal_input`) of up to `limit` rows dispatched before
    the cutoff: Temporal has had them since, and they may hold what raw bodies hold (the
    retention period applies to both). The row stays as the dedup key, so a replayed handler
    still queues nothing twice; failed rows keep theirs for the operator. Returns how many."""
    batch = (
        select(workflow_outbox.c.id)
        .where(
            workflow_outbox.c.status == OutboxStatus.DISPATCHED.value,
            workflow_outbox.c.dispatched_at < dispatched_before,
            or_(workflow_outbox.c.input.is_not(None), workflow_outbox.c.signal_input.is_not(None)),
        )
        .order_by(workflow_outbox.c.id)
        .limit(limit)
    )
    ids = list(connection.execute(batch).scalars())
    if ids:
        connection.execute(
            update(workflow_outbox)
            .where(workflow_outbox.c.id.in_(ids))
            # SQL NULL, not JSON null: the row is not picked again.
            .values(input=null(), signal_input=null())
        )
    return len(ids)


def record_workflow_message_failure(
    connection: Connection, *, id: int, error: str, retry_at: datetime | None
) -> None:
    """One refused attempt: try again at `retry_at`, or, with None, dead-letter the row (it
    stays `failed` with the error kept). A row already dispatched is left as it is: a
    concurrent dispatcher sent it."""
    status = OutboxStatus.PENDING if retry_at is not None else OutboxStatus.FAILED
    changes: dict[str, Any] = {
        "status": status.value,
        "attempts": workflow_outbox.c.attempts + 1,
        "last_error": error[:MAX_ERROR_CHARS],
    }
    if retry_at is not None:
        changes["next_attempt_at"] = retry_at
    connection.execute(
        update(workflow_outbox)
        .where(
            workflow_outbox.c.id == id,
            workflow_outbox.c.status == OutboxStatus.PENDING.value,
        )
        .values(changes)
    )


def workflow_messages(
    connection: Connection, *, workflow_id: str, limit: int = 100
) -> Sequence[AnyRow]:
    """The rows queued for one workflow, oldest first (at most `limit`)."""
    return connection.execute(
        select(workflow_outbox)
        .where(workflow_outbox.c.workflow_id == workflow_id)
        .order_by(workflow_outbox.c.id)
        .limit(limit)
    ).all()
