"""workflow_outbox queries on SQLite and PostgreSQL: queueing is idempotent per (workflow id,
kind, signal, dedup), due rows come oldest first with one workflow's rows in the order
queued, a refusal backs a row off or dead-letters it, and 0007 downgrades cleanly."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import Connection, Engine, inspect, select

from integration_hub.storage import migrate, workflow_outbox
from integration_hub.storage.engine import begin_write, make_engine
from integration_hub.storage.rows import AnyRow, as_utc, utcnow
from integration_hub.storage.tables import OutboxKind
from integration_hub.storage.tables import workflow_outbox as table


def _queue(engine: Engine, kind: OutboxKind, workflow_id: str, dedup: str, **rest: object) -> bool:
    with begin_write(engine) as connection:
        return workflow_outbox.queue_workflow_message(
            connection, kind=kind, workflow_id=workflow_id, dedup=dedup, **rest
        )


def test_queueing_the_same_message_twice_adds_nothing(engine: Engine) -> None:
    start = {"workflow_type": "job", "input": {"booking": "b1", "nights": [1, 2]}}
    assert _queue(engine, OutboxKind.START, "job/b1", "evt_1", **start)
    assert not _queue(engine, OutboxKind.START, "job/b1", "evt_1", **start)  # replayed
    assert _queue(engine, OutboxKind.START, "job/b1", "evt_2", **start)  # another event
    signal = {"signal": "changed", "signal_input": {"checkout": "2027-01-02"}}
    assert _queue(engine, OutboxKind.SIGNAL, "job/b1", "evt_1", **signal)
    assert not _queue(engine, OutboxKind.SIGNAL, "job/b1", "evt_1", **signal)
    assert _queue(engine, OutboxKind.SIGNAL, "job/b1", "evt_1", signal="cancelled")
    assert _queue(engine, OutboxKind.SIGNAL_WITH_START, "job/b1", "evt_1", **signal)

    with engine.connect() as connection:
        rows = workflow_outbox.workflow_messages(connection, workflow_id="job/b1")
    assert [(r.kind, r.signal, r.dedup) for r in rows] == [
        ("start", "", "evt_1"),
        ("start", "", "evt_2"),
        ("signal", "changed", "evt_1"),
        ("signal", "cancelled", "evt_1"),
        ("signal_with_start", "changed", "evt_1"),
    ]
    first = rows[0]
    assert first.input == {"booking": "b1", "nights": [1, 2]}  # JSON round trip
    assert (first.status, first.attempts, first.task_queue, first.dispatched_at) == (
        "pending",
        0,
        None,
        None,
    )
    assert rows[2].signal_input == {"checkout": "2027-01-02"} and rows[2].input is None


def test_due_rows_keep_each_workflows_order_and_back_off(engine: Engine) -> None:
    for workflow_id, kind, dedup in [
        ("job/a", OutboxKind.START, "e1"),
        ("job/b", OutboxKind.START, "e1"),
        ("job/a", OutboxKind.SIGNAL, "e2"),
        ("job/b", OutboxKind.SIGNAL, "e2"),
    ]:
        _queue(engine, kind, workflow_id, dedup, workflow_type="job", signal="s")
    now = utcnow() + timedelta(seconds=1)
    with begin_write(engine) as connection:
        due = workflow_outbox.due_workflow_messages(connection, now=now, limit=10)
        assert [(r.workflow_id, r.kind) for r in due] == [
            ("job/a", "start"),
            ("job/b", "start"),
            ("job/a", "signal"),
            ("job/b", "signal"),
        ]
        assert len(workflow_outbox.due_workflow_messages(connection, now=now, limit=3)) == 3
        a_start, b_start, a_signal, b_signal = due
        # job/a's start is refused and waits a minute: its signal waits behind it.
        later = now + timedelta(minutes=1)
        workflow_outbox.record_workflow_message_failure(
            connection, id=a_start.id, error="NOT_FOUND: not yet", retry_at=later
        )
        workflow_outbox.mark_workflow_messages_dispatched(connection, ids=[b_start.id], now=now)
        due = workflow_outbox.due_workflow_messages(connection, now=now, limit=10)
        assert [r.id for r in due] == [b_signal.id]
        due = workflow_outbox.due_workflow_messages(connection, now=later, limit=10)
        assert [r.id for r in due] == [a_start.id, a_signal.id, b_signal.id]

        # The bound reached: dead-lettered, kept with its error, never due again.
        workflow_outbox.record_workflow_message_failure(
            connection, id=a_start.id, error="NOT_FOUND: gone", retry_at=None
        )
        # A concurrent dispatcher's late word changes neither a dispatched nor a failed row.
        workflow_outbox.record_workflow_message_failure(
            connection, id=b_start.id, error="late", retry_at=None
        )
        workflow_outbox.mark_workflow_messages_dispatched(connection, ids=[a_start.id], now=now)
        due = workflow_outbox.due_workflow_messages(connection, now=later, limit=10)
        assert [r.id for r in due] == [a_signal.id, b_signal.id]
        rows = {r.id: r for r in connection.execute(select(table))}
    assert (rows[a_start.id].status, rows[a_start.id].attempts) == ("failed", 2)
    assert rows[a_start.id].last_error == "NOT_FOUND: gone"
    assert rows[b_start.id].status == "dispatched" and rows[b_start.id].attempts == 1
    assert rows[b_start.id].last_error is None
    assert as_utc(rows[b_start.id].dispatched_at) == now


def test_a_stored_error_is_bounded(engine: Engine) -> None:
    _queue(engine, OutboxKind.SIGNAL, "job/c", "e1", signal="s")
    with begin_write(engine) as connection:
        [row] = workflow_outbox.workflow_messages(connection, workflow_id="job/c")
        retry_at = utcnow() + timedelta(seconds=1)
        workflow_outbox.record_workflow_message_failure(
            connection, id=row.id, error="NOT_FOUND: " + "x" * 5000, retry_at=retry_at
        )
        [row] = workflow_outbox.workflow_messages(connection, workflow_id="job/c")
    assert row.status == "pending" and row.attempts == 1
    assert len(row.last_error) == 500 and row.last_error.startswith("NOT_FOUND: x")


def test_old_dispatched_inputs_are_emptied_and_the_rows_still_dedup(engine: Engine) -> None:
    start = {"workflow_type": "invite", "input": {"email": "ana@example.com"}}
    for workflow_id in ("old", "recent", "failed", "pending"):
        _queue(engine, OutboxKind.START, workflow_id, "e1", **start)
    _queue(engine, OutboxKind.SIGNAL, "old", "e1", signal="s", signal_input={"a": 1})
    now = utcnow()
    with begin_write(engine) as connection:
        rows = {(r.workflow_id, r.kind): r for r in _all(connection)}
        old_ids = [rows["old", "start"].id, rows["old", "signal"].id]
        workflow_outbox.mark_workflow_messages_dispatched(
            connection, ids=old_ids, now=now - timedelta(days=31)
        )
        workflow_outbox.mark_workflow_messages_dispatched(
            connection, ids=[rows["recent", "start"].id], now=now - timedelta(days=1)
        )
        workflow_outbox.record_workflow_message_failure(
            connection, id=rows["failed", "start"].id, error="gone", retry_at=None
        )
        purged = workflow_outbox.purge_dispatched_inputs(
            connection, dispatched_before=now - timedelta(days=30), limit=1
        )  # one batch of one
        purged += workflow_outbox.purge_dispatched_inputs(
            connection, dispatched_before=now - timedelta(days=30), limit=10
        )
        again = workflow_outbox.purge_dispatched_inputs(
            connection, dispatched_before=now - timedelta(days=30), limit=10
        )
        rows = {(r.workflow_id, r.kind): r for r in _all(connection)}

    assert (purged, again) == (2, 0)
    assert (rows["old", "start"].input, rows["old", "signal"].signal_input) == (None, None)
    for workflow_id in ("recent", "failed", "pending"):
        assert rows[workflow_id, "start"].input == {"email": "ana@example.com"}
    assert not _queue(engine, OutboxKind.START, "old", "e1", **start)  # still a duplicate


def _all(connection: Connection) -> list[AnyRow]:
    return list(connection.execute(select(table).order_by(table.c.id)).all())


def test_0007_downgrades_to_0006(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    config = migrate.alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
        tables = set(inspect(connection).get_table_names())
    migrate.upgrade(engine)
    with engine.connect() as connection:
        again = set(inspect(connection).get_table_names())
    engine.dispose()
    assert version == "0006" and "workflow_outbox" not in tables
    assert "workflow_outbox" in again
