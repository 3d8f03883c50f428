"""The normalizer: failures are dead-lettered with their error; replay is idempotent; a row
the database refuses to store is dead-lettered alone and never holds up its batch."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from integration_hub import metrics
from integration_hub.connectors.base import malformed_entry
from integration_hub.orchestration.handlers import handler_names_for
from integration_hub.pipeline.normalizer import Normalizer
from integration_hub.storage.engine import begin_write, is_sqlite
from integration_hub.storage.raw_events import NewRawEvent, record_deliveries
from integration_hub.storage.refusals import describe_refusal, is_transient
from integration_hub.storage.tables import handler_runs, internal_events, raw_events
from integration_hub.testing import connector
from tests.helpers import RunningHub, stripe_delivery, table_counts, wait_until

LONG_ID = "pi_" + "x" * 300  # 303 characters: internal_events.subject holds 255


async def _post(running: RunningHub, body: bytes, headers: dict[str, str]) -> str:
    response = await running.http.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200
    return str(orjson.loads(body)["id"])


async def _settled(running: RunningHub, event_id: str) -> dict[str, object]:
    response = await wait_until(
        lambda: running.admin.get(f"/api/events/stripe/{event_id}"),
        lambda r: r.json()["status"] in {"processed", "failed", "ignored"},
    )
    return dict(response.json())


async def test_payload_failing_its_schema_is_failed_with_the_reason(
    running_hub: RunningHub,
) -> None:
    event_id = await _post(running_hub, *stripe_delivery(currency="dollars"))
    detail = await _settled(running_hub, event_id)
    assert detail["status"] == "failed"
    assert "payment.succeeded schema: currency" in str(detail["last_error"])
    assert detail["events"] == []


async def test_failed_normalization_does_not_block_the_batch(running_hub: RunningHub) -> None:
    bad = await _post(running_hub, *stripe_delivery(currency="dollars"))
    good = await _post(running_hub, *stripe_delivery())
    assert (await _settled(running_hub, bad))["status"] == "failed"
    assert (await _settled(running_hub, good))["status"] == "processed"


async def test_replay_yields_the_same_events_and_the_next_workflow_generation(
    running_hub: RunningHub,
) -> None:
    """Replayed at once, while the first workflow may not have closed: the new run still
    starts (its id is the first one's plus `/replay-1`) and completes."""
    event_id = await _post(running_hub, *stripe_delivery())
    first = await _settled(running_hub, event_id)
    replay = await running_hub.admin.post(f"/api/events/stripe/{event_id}/replay")
    assert replay.json() == {"requeued": 1}
    again = await wait_until(
        lambda: running_hub.admin.get(f"/api/events/stripe/{event_id}"),
        lambda r: (
            r.json()["attempts"] == 2
            and r.json()["status"] == "processed"
            and r.json()["events"][0]["handlers"][0]["status"] == "completed"
        ),
    )
    events_before: list[dict[str, Any]] = first["events"]  # type: ignore[assignment]
    events_after: list[dict[str, Any]] = again.json()["events"]
    assert [e["event"]["id"] for e in events_after] == [e["event"]["id"] for e in events_before]
    first_run = events_before[0]["handlers"][0]["workflow_id"]
    assert events_after[0]["handlers"][0]["workflow_id"] == f"{first_run}/replay-1"
    assert table_counts(running_hub.hub) == {
        "raw_events": 1,
        "internal_events": 1,
        "handler_runs": 1,
        "ledger_entries": 1,
    }


async def test_bulk_replay_by_status_requeues_only_that_status(running_hub: RunningHub) -> None:
    bad = await _post(running_hub, *stripe_delivery(currency="dollars"))
    good = await _post(running_hub, *stripe_delivery())
    await _settled(running_hub, bad)
    await _settled(running_hub, good)
    response = await running_hub.admin.post(
        "/api/replay", json={"partner": "stripe", "status": "failed"}
    )
    assert response.json() == {"requeued": 1}
    detail = await wait_until(
        lambda: running_hub.admin.get(f"/api/events/stripe/{bad}"),
        lambda r: r.json()["attempts"] == 2,
    )
    assert detail.json()["status"] == "failed"
    assert (await running_hub.admin.get(f"/api/events/stripe/{good}")).json()["attempts"] == 1


async def test_requeued_malformed_entry_stays_failed_with_its_reason(
    running_hub: RunningHub,
) -> None:
    """Backstop: a malformed batch entry requeued around the replay API (here by SQL) is not
    turned into `ignored`; it stays dead-lettered with the reason the edge stored."""
    engine = running_hub.hub.engine
    entry = malformed_entry(b"{not json", "the entry is not JSON")
    with begin_write(engine) as connection:
        record_deliveries(
            connection,
            events=[
                NewRawEvent(
                    partner="auth0",
                    partner_event_id=entry.partner_event_id,
                    event_type=entry.event_type,
                    received_at=datetime.now(UTC),
                    headers={},
                    body=entry.body,
                    last_error=entry.malformed,
                )
            ],
        )
        # Requeued around request_replay, which refuses it.
        connection.execute(raw_events.update().values(status="received"))
    running_hub.hub.normalizer.wake.set()
    detail = await wait_until(
        lambda: running_hub.admin.get(f"/api/events/auth0/{entry.partner_event_id}"),
        lambda r: r.json()["attempts"] >= 1,
    )
    assert (detail.json()["status"], detail.json()["last_error"]) == (
        "failed",
        "the entry is not JSON",
    )


# --- a row the database refuses is isolated from its batch ------------------------------------


def _receive(engine: Engine, object_ids: Sequence[str]) -> list[str]:
    """Store one signed-looking Stripe payment_intent.succeeded per object id, as the edge does;
    returns their partner event ids in order."""
    stripe = connector("stripe")
    events, ids = [], []
    for object_id in object_ids:
        event = orjson.loads(stripe.sample("payment_intent.succeeded"))
        event["data"]["object"]["id"] = object_id
        ids.append(event["id"])
        events.append(
            NewRawEvent(
                partner="stripe",
                partner_event_id=event["id"],
                event_type=event["type"],
                received_at=datetime.now(UTC),
                headers={},
                body=orjson.dumps(event),
            )
        )
    with begin_write(engine) as connection:
        record_deliveries(connection, events=events)
    return ids


def _normalizer(engine: Engine, *, batch_size: int = 500) -> Normalizer:
    return Normalizer(
        engine, {"stripe": connector("stripe")}, handler_names_for, batch_size=batch_size
    )


def _raw(engine: Engine) -> dict[str, tuple[str, str | None]]:
    """partner event id -> (status, last_error)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(raw_events.c.partner_event_id, raw_events.c.status, raw_events.c.last_error)
        ).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return len(connection.execute(select(table)).all())


def test_a_value_too_long_for_its_column_fails_alone_and_the_next_batch_proceeds(
    engine: Engine,
) -> None:
    good_before, poison, good_after = _receive(engine, ["pi_good1", LONG_ID, "pi_good2"])
    normalizer = _normalizer(engine)

    assert normalizer.drain_batch() == 3

    raw = _raw(engine)
    assert raw[good_before] == ("processing", None)  # stored, ledger run pending
    assert raw[good_after] == ("processing", None)
    assert raw[poison][0] == "failed"
    assert raw[poison][1] == "NormalizationError: subject is 303 characters; at most 255"
    assert _count(engine, internal_events) == 2
    [late] = _receive(engine, ["pi_good3"])
    assert normalizer.drain_batch() == 1  # the failed row is never claimed again
    assert _raw(engine)[late] == ("processing", None)
    assert normalizer.drain_batch() == 0


def _refuse_a_second_event_per_subject(engine: Engine) -> None:
    """A constraint no validation knows of: the database alone refuses the row."""
    with begin_write(engine) as connection:
        connection.execute(
            text("CREATE UNIQUE INDEX test_one_per_subject ON internal_events (subject)")
        )


def test_a_row_refused_by_a_constraint_is_dead_lettered_alone_with_its_error(
    engine: Engine,
) -> None:
    _refuse_a_second_event_per_subject(engine)
    first, twin, other = _receive(engine, ["pi_same", "pi_same", "pi_other"])
    refused_before = metrics.STORE_REFUSED.labels("stripe", _unique_violation(engine))._value.get()

    assert _normalizer(engine).drain_batch() == 3

    raw = _raw(engine)
    assert raw[first] == ("processing", None)
    assert raw[other] == ("processing", None)
    status, error = raw[twin]
    assert status == "failed"
    assert error is not None and error.startswith("the database refused to store it: ")
    assert f"{_unique_violation(engine)} storing internal_events" in error
    assert "pi_same" not in error  # the key's value never reaches last_error (or the logs)
    assert _count(engine, internal_events) == 2
    assert _count(engine, handler_runs) == 2  # the refused row left nothing behind
    after = metrics.STORE_REFUSED.labels("stripe", _unique_violation(engine))._value.get()
    assert after == refused_before + 1


def _unique_violation(engine: Engine) -> str:
    return "IntegrityError" if is_sqlite(engine) else "UniqueViolation"


def test_a_handler_run_the_database_refuses_isolates_its_row_too(engine: Engine) -> None:
    with begin_write(engine) as connection:
        connection.execute(
            text("CREATE UNIQUE INDEX test_one_run_per_handler ON handler_runs (handler)")
        )
    first, second = _receive(engine, ["pi_a", "pi_b"])

    assert _normalizer(engine).drain_batch() == 2

    raw = _raw(engine)
    assert raw[first] == ("processing", None)
    assert raw[second][0] == "failed"
    assert "storing handler_runs" in str(raw[second][1])
    # Its internal event was rolled back with the run: nothing half-stored.
    assert _count(engine, internal_events) == 1


def test_a_value_postgresql_will_not_hold_is_refused_by_the_database_alone(
    engine: Engine,
) -> None:
    """No check before the write: a handler name longer than handler_runs.handler."""
    if is_sqlite(engine):
        pytest.skip("SQLite does not enforce varchar lengths")
    stripe = connector("stripe")
    events = [
        orjson.loads(stripe.sample(t)) for t in ("payment_intent.succeeded", "account.updated")
    ]
    with begin_write(engine) as connection:
        record_deliveries(
            connection,
            events=[
                NewRawEvent("stripe", e["id"], e["type"], datetime.now(UTC), {}, orjson.dumps(e))
                for e in events
            ],
        )
    too_long = "h" * 65

    def handler_names(event_type: str) -> Sequence[str]:
        return [too_long] if event_type == "payment.succeeded" else []

    normalizer = Normalizer(engine, {"stripe": stripe}, handler_names, batch_size=10)
    assert normalizer.drain_batch() == 2

    raw = _raw(engine)
    assert raw[events[1]["id"]] == ("processed", None)
    status, error = raw[events[0]["id"]]
    assert status == "failed"
    assert "StringDataRightTruncation storing handler_runs: value too long" in str(error)


def test_several_workers_isolate_refused_rows_and_leave_nothing_received(
    engine: Engine,
) -> None:
    if is_sqlite(engine):
        pytest.skip("one normalizer worker on SQLite (README); covered above")
    _refuse_a_second_event_per_subject(engine)
    object_ids = [f"pi_{secrets.token_hex(4)}" if i % 4 else "pi_dup" for i in range(24)]
    _receive(engine, object_ids)
    workers = [_normalizer(engine, batch_size=5) for _ in range(2)]
    transient: list[BaseException] = []

    def drain(normalizer: Normalizer) -> None:
        for _ in range(50):  # bounded: 24 rows in batches of 5 take far fewer rounds
            try:
                if normalizer.drain_batch() == 0:
                    return
            except Exception as error:  # e.g. a deadlock between the two: retried, as run() does
                assert is_transient(error), error
                transient.append(error)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    statuses = [status for status, _ in _raw(engine).values()]
    assert statuses.count("received") == 0
    assert statuses.count("failed") == object_ids.count("pi_dup") - 1
    assert statuses.count("processing") == len(object_ids) - statuses.count("failed")


def test_errors_of_an_unwell_database_are_transient_and_refusals_are_not(engine: Engine) -> None:
    _refuse_a_second_event_per_subject(engine)
    _receive(engine, ["pi_same"])
    _normalizer(engine).drain_batch()
    with pytest.raises(IntegrityError) as refused, begin_write(engine) as connection:
        connection.execute(
            text(
                "INSERT INTO internal_events (id, raw_event_id, position, type, subject,"
                " envelope, created_at) SELECT 'x', raw_event_id, 1, type, subject, envelope,"
                " created_at FROM internal_events"
            )
        )
    assert not is_transient(refused.value)
    assert "pi_same" not in describe_refusal(refused.value)
    if is_sqlite(engine):
        path = engine.url.database
        assert path is not None
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            # A deferred transaction, so the write itself meets the lock, at once.
            with engine.connect().execution_options(read_only=True) as connection:
                connection.exec_driver_sql("PRAGMA busy_timeout=0")
                with pytest.raises(OperationalError) as locked:
                    connection.exec_driver_sql("DELETE FROM internal_events")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    else:
        with pytest.raises(OperationalError) as locked, engine.connect() as connection:
            connection.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
    assert is_transient(locked.value)


async def test_a_delivery_whose_object_id_does_not_fit_fails_alone_over_http(
    running_hub: RunningHub,
) -> None:
    poison = await _post(running_hub, *stripe_delivery(id=LONG_ID))
    detail = await _settled(running_hub, poison)
    assert detail["status"] == "failed"
    assert detail["last_error"] == "NormalizationError: subject is 303 characters; at most 255"
    good = await _post(running_hub, *stripe_delivery())
    assert (await _settled(running_hub, good))["status"] == "processed"


async def test_a_delivery_the_database_refuses_fails_alone_over_http(
    running_hub: RunningHub,
) -> None:
    """The normalizer workers of a running hub (two on PostgreSQL) against a row refused by
    the database itself; the deliveries after it are processed. With two workers either twin
    may be stored first: exactly one is processed and the other is refused alone."""
    _refuse_a_second_event_per_subject(running_hub.hub.engine)
    first = await _post(running_hub, *stripe_delivery(id="pi_twin"))
    twin = await _post(running_hub, *stripe_delivery(id="pi_twin"))
    settled = [await _settled(running_hub, first), await _settled(running_hub, twin)]
    assert sorted(detail["status"] for detail in settled) == ["failed", "processed"]
    [refused] = [detail for detail in settled if detail["status"] == "failed"]
    assert "the database refused to store it" in str(refused["last_error"])
    good = await _post(running_hub, *stripe_delivery())
    assert (await _settled(running_hub, good))["status"] == "processed"
