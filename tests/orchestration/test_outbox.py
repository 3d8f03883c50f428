"""Handlers queue workflow starts and signals in their own transaction (`context.outbox`), and
the dispatcher sends each exactly once: a handler declared here queues a start, a signal and a
signal-with-start; a real worker on a fresh task queue runs a tiny probe workflow that counts
what it got, also when two dispatchers send at once, when the handler's run is replayed and
when a dispatcher dies between sending and marking. A handler that raises after queueing
leaves no row. A signal whose workflow never comes is dead-lettered after its retries, a
Temporal outage only delays, and a row that names no task queue goes to the dispatcher's."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Connection, Engine, select, update
from temporalio import workflow
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.partners import PARTNERS, build_connectors
from integration_hub.errors import HubError
from integration_hub.orchestration.handlers import Handler, HandlerContext, names_by_event_type
from integration_hub.orchestration.outbox import Outbox
from integration_hub.orchestration.outcomes import HandlerOutcome
from integration_hub.orchestration.worker import build_worker
from integration_hub.pipeline.dispatch import Dispatcher
from integration_hub.pipeline.normalizer import Normalizer
from integration_hub.pipeline.outbox import OutboxPolicy, OutboxSender
from integration_hub.storage.engine import begin_write
from integration_hub.storage.raw_events import NewRawEvent, record_deliveries, request_replay
from integration_hub.storage.tables import handler_runs, workflow_outbox
from integration_hub.testing import connector
from tests.helpers import make_settings, wait_until

PROBE = "test-outbox-probe"


@dataclass(frozen=True)
class ProbeInput:
    booking: str


@dataclass(frozen=True)
class Note:
    text: str


@workflow.defn(name=PROBE)
class OutboxProbe:
    """Keeps its input and every signal it gets, until it is terminated."""

    def __init__(self) -> None:
        self.booking: str | None = None
        self.notes: list[str] = []

    @workflow.run
    async def run(self, input: ProbeInput) -> None:
        self.booking = input.booking
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name="note")
    def note(self, note: Note) -> None:
        self.notes.append(note.text)

    @workflow.query(name="seen")
    def seen(self) -> dict[str, Any]:
        return {"booking": self.booking, "notes": self.notes}


def _one_delivery() -> tuple[str, str, bytes, str]:
    """From the registry: a partner event type that normalizes to exactly one internal event."""
    for partner in PARTNERS:
        if partner.webhook is None:
            continue
        mapped = connector(partner.name)
        for partner_type, internal_type in sorted(mapped.manifest.event_map.items()):
            body = mapped.sample(partner_type)
            drafts = mapped.normalize(PartnerEvent("probe", partner_type, body))
            if [draft.type for draft in drafts] == [internal_type]:
                return partner.name, partner_type, body, internal_type
    raise AssertionError("no partner event type normalizes to one internal event")


def _handlers(internal_type: str, probe_queue: str, run_id: str) -> tuple[Handler, Handler]:
    def queue(connection: Connection, event: dict[str, Any], context: HandlerContext) -> str:
        key = event["id"]
        started = context.outbox.start(
            connection,
            workflow=PROBE,
            workflow_id=f"{run_id}/a",
            input=ProbeInput(booking=key),
            dedup=key,
            task_queue=probe_queue,
        )
        context.outbox.signal(
            connection, workflow_id=f"{run_id}/a", signal="note", input=Note("hello"), dedup=key
        )
        context.outbox.signal_with_start(
            connection,
            workflow=PROBE,
            workflow_id=f"{run_id}/b",
            signal="note",
            input=ProbeInput(booking=key),
            signal_input=Note("first"),
            dedup=key,
            task_queue=probe_queue,
        )
        return "queued" if started else "already queued"

    def refuse(
        connection: Connection, event: dict[str, Any], context: HandlerContext
    ) -> HandlerOutcome:
        context.outbox.start(connection, workflow=PROBE, workflow_id=f"{run_id}/c", dedup="x")
        raise HubError("refused after queueing", reason="test_refused")

    return (
        Handler("test.outbox", frozenset({internal_type}), queue),
        Handler("test.outbox_refuser", frozenset({internal_type}), refuse),
    )


def _probe_worker(client: Client, task_queue: str) -> Worker:
    # The probe's module (this test) is passed through: the sandbox need not re-import pytest.
    restrictions = SandboxRestrictions.default.with_passthrough_modules("integration_hub", "tests")
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[OutboxProbe],
        workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
    )


def _rows(engine: Engine, run_id: str) -> list[tuple[str, str, str, int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(workflow_outbox)
            .where(workflow_outbox.c.workflow_id.startswith(run_id))
            .order_by(workflow_outbox.c.id)
        ).all()
    return [(r.workflow_id.removeprefix(run_id), r.kind, r.status, r.attempts) for r in rows]


def _runs(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.execute(select(handler_runs.c.handler, handler_runs.c.status)).all()
    return {row.handler: row.status for row in rows}


async def _runs_finished(engine: Engine) -> dict[str, str]:
    return await wait_until(
        lambda: asyncio.to_thread(_runs, engine),
        lambda runs: len(runs) == 2 and all(s in {"completed", "failed"} for s in runs.values()),
        timeout=60,
    )


async def _seen(client: Client, workflow_id: str) -> dict[str, Any]:
    seen: dict[str, Any] = await client.get_workflow_handle(workflow_id).query("seen")
    return seen


async def _signals_in_history(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(
        1
        for event in history.events
        if event.HasField("workflow_execution_signaled_event_attributes")
    )


async def test_queued_starts_and_signals_arrive_exactly_once(
    engine: Engine,
    tmp_path: Path,
    database_url: str,
    temporal: WorkflowEnvironment,
    temporal_address: str,
) -> None:
    client = temporal.client
    settings = make_settings(tmp_path, database_url, temporal_address)  # a fresh task queue
    probe_queue, run_id = f"probe-{uuid.uuid4().hex}", f"test-outbox/{uuid.uuid4().hex}"
    partner, partner_type, body, internal_type = _one_delivery()
    handlers = _handlers(internal_type, probe_queue, run_id)
    partner_event_id = f"test-{uuid.uuid4()}"
    with begin_write(engine) as connection:
        delivery = NewRawEvent(partner, partner_event_id, partner_type, _now(), {}, body)
        record_deliveries(connection, events=[delivery])
    names = names_by_event_type(handlers)
    normalizer = Normalizer(engine, build_connectors(settings), names, batch_size=10)
    assert normalizer.drain_batch() == 1
    dispatchers = [
        Dispatcher(engine, task_queue=settings.task_queue, batch_size=10) for _ in range(2)
    ]

    async with (
        build_worker(client, settings, engine, handlers=handlers),
        _probe_worker(client, probe_queue),
    ):
        assert await dispatchers[0].dispatch_batch(client) == 2
        assert await _runs_finished(engine) == {
            "test.outbox": "completed",
            "test.outbox_refuser": "failed",
        }
        queued = [
            ("/a", "start", "pending", 0),
            ("/a", "signal", "pending", 0),
            ("/b", "signal_with_start", "pending", 0),
        ]
        # The refuser's start was rolled back with its run; nothing is sent until a dispatch.
        assert _rows(engine, run_id) == queued

        # Two dispatchers at once: every row is sent by both, and Temporal has each once.
        counts = await asyncio.gather(*(d.dispatch_once(client) for d in dispatchers))
        assert sum(counts) >= 3
        sent = [(w, k, "dispatched", a) for w, k, _, a in queued]
        rows = _rows(engine, run_id)
        assert [row[:3] for row in rows] == [row[:3] for row in sent]
        a = await wait_until(lambda: _seen(client, f"{run_id}/a"), lambda s: s["notes"])
        b = await wait_until(lambda: _seen(client, f"{run_id}/b"), lambda s: s["notes"])

        # The handler's run replayed: it queues the same messages again, and nothing is added.
        with begin_write(engine) as connection:
            assert request_replay(connection, partner=partner, partner_event_id=partner_event_id)
        assert normalizer.drain_batch() == 1
        assert await dispatchers[0].dispatch_batch(client) == 2
        await _runs_finished(engine)
        assert len(_rows(engine, run_id)) == 3
        assert await dispatchers[1].dispatch_once(client) == 0

        # A dispatcher died after sending, before marking: the rows are sent again, and
        # Temporal drops the repeats (the start as already started, the signals by request id).
        with begin_write(engine) as connection:
            connection.execute(
                update(workflow_outbox)
                .where(workflow_outbox.c.workflow_id.startswith(run_id))
                .values(status="pending", dispatched_at=None)
            )
        await asyncio.gather(*(d.dispatch_once(client) for d in dispatchers))
        assert [row[:3] for row in _rows(engine, run_id)] == [row[:3] for row in sent]
        await asyncio.sleep(1)  # room for a duplicate to arrive, were one sent

        assert (
            await _seen(client, f"{run_id}/a") == a == {"booking": a["booking"], "notes": ["hello"]}
        )
        assert (
            await _seen(client, f"{run_id}/b") == b == {"booking": b["booking"], "notes": ["first"]}
        )
        assert a["booking"] and a["booking"] == b["booking"]
        assert await _signals_in_history(client, f"{run_id}/a") == 1
        assert await _signals_in_history(client, f"{run_id}/b") == 1
        with pytest.raises(RPCError, match="not found"):  # the refuser's start never went
            await client.get_workflow_handle(f"{run_id}/c").describe()
        for suffix in ("a", "b"):
            await client.get_workflow_handle(f"{run_id}/{suffix}").terminate("test over")


async def test_unknown_workflow_is_dead_lettered_and_an_outage_only_delays(
    engine: Engine, temporal: WorkflowEnvironment
) -> None:
    client = temporal.client
    probe_queue, run_id = f"probe-{uuid.uuid4().hex}", f"test-outbox/{uuid.uuid4().hex}"
    clock = [_now() + timedelta(seconds=1)]  # the rows queued below are due by then
    policy = OutboxPolicy(max_attempts=2, first_backoff=timedelta(seconds=30))

    def sender() -> OutboxSender:
        # The rows name no task queue: they go to this one, the "hub's".
        return OutboxSender(
            engine, task_queue=probe_queue, batch_size=10, policy=policy, now=lambda: clock[0]
        )

    def dead_lettered() -> float:
        labels = {"kind": "signal", "outcome": "dead_lettered"}
        return REGISTRY.get_sample_value("hub_workflow_outbox_total", labels) or 0.0

    dead_before = dead_lettered()
    outbox = Outbox()
    with begin_write(engine) as connection:
        outbox.start(connection, workflow=PROBE, workflow_id=f"{run_id}/d", dedup="e1")
        outbox.signal(
            connection, workflow_id=f"{run_id}/missing", signal="note", input=Note("x"), dedup="e1"
        )

    # Temporal is away: nothing is counted against the rows.
    away = await Client.connect("127.0.0.1:1", lazy=True)
    with pytest.raises(Exception) as outage:  # raised to the dispatcher's backoff
        await sender().send_batch(away)
    assert not isinstance(outage.value, HubError)
    assert _rows(engine, run_id) == [
        ("/d", "start", "pending", 0),
        ("/missing", "signal", "pending", 0),
    ]

    assert await sender().send_batch(client) == 1  # the start; the signal is refused once
    [_, missing] = _rows(engine, run_id)
    assert missing == ("/missing", "signal", "pending", 1)
    assert await sender().send_batch(client) == 0  # waiting out its backoff
    assert _rows(engine, run_id)[1] == missing
    clock[0] += timedelta(seconds=31)
    assert await sender().send_batch(client) == 0
    assert _rows(engine, run_id) == [
        ("/d", "start", "dispatched", 1),
        ("/missing", "signal", "failed", 2),  # the bound: dead-lettered
    ]
    with engine.connect() as connection:
        error = connection.execute(
            select(workflow_outbox.c.last_error).where(
                workflow_outbox.c.workflow_id == f"{run_id}/missing"
            )
        ).scalar_one()
    assert error.startswith("NOT_FOUND")
    assert dead_lettered() == dead_before + 1

    d = client.get_workflow_handle(f"{run_id}/d")
    assert (await d.describe()).task_queue == probe_queue
    await d.terminate("test over")
    # A signal-with-start to an id whose run has closed: dead-lettered at once, not started.
    with begin_write(engine) as connection:
        outbox.signal_with_start(
            connection, workflow=PROBE, workflow_id=f"{run_id}/d", signal="note", dedup="e2"
        )
    assert await sender().send_batch(client) == 0
    assert _rows(engine, run_id)[2] == ("/d", "signal_with_start", "failed", 1)


def test_refused_queueing_fails_the_run(engine: Engine) -> None:
    """What the columns cannot hold, or Temporal would not take, is refused when queued: a
    HubError that is not retryable, so the handler's run fails at once with the reason."""
    outbox = Outbox()
    with begin_write(engine) as connection:
        for bad in (
            lambda: outbox.start(connection, workflow=PROBE, workflow_id="x" * 256, dedup="e"),
            lambda: outbox.start(connection, workflow=PROBE, workflow_id="w", dedup=""),
            lambda: outbox.signal(connection, workflow_id="w", signal="a\x00b", dedup="e"),
            lambda: outbox.signal(connection, workflow_id="w", signal="s", dedup="e", input={1, 2}),
            lambda: outbox.start(
                connection, workflow=PROBE, workflow_id="w", dedup="e", input="x" * 70_000
            ),
        ):
            with pytest.raises(HubError) as refused:
                bad()
            assert refused.value.reason == "outbox_refused" and not refused.value.retryable
        stamped = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert outbox.signal(
            connection, workflow_id="w", signal="s", dedup="e", input={"at": stamped}
        )
        row = connection.execute(select(workflow_outbox.c.signal_input)).scalar_one()
    assert row == {"at": "2027-01-02T03:04:05+00:00"}  # stored as the JSON it is sent as


def _now() -> datetime:
    return datetime.now(UTC)
