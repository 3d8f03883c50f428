"""The dispatch outbox: start the handler workflow for every pending handler run, and send
the workflow starts and signals handlers queued in `workflow_outbox` (outbox.py).

A run stays `pending` until Temporal has accepted its workflow, so an outage only delays
handling. The workflow id is deterministic; the database, not Temporal's id reuse policy,
says what still needs to run. Both are drained in bounded batches of `batch_size`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import structlog
from opentelemetry import context as otel_context
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from integration_hub import metrics, tracing
from integration_hub.orchestration.outcomes import HANDLER_WORKFLOW, HandlerInput
from integration_hub.pipeline.outbox import OutboxPolicy, OutboxSender
from integration_hub.storage import handler_runs
from integration_hub.storage.engine import begin_write

log = structlog.get_logger(__name__)

MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class PendingRun:
    event_id: str
    handler: str
    workflow_id: str
    envelope: dict[str, Any]  # partner, ids and the normalize span's traceparent


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        *,
        task_queue: str,
        batch_size: int,
        outbox_policy: OutboxPolicy | None = None,
    ) -> None:
        self._engine = engine
        self._task_queue = task_queue
        self._batch_size = batch_size
        self.outbox = OutboxSender(
            engine, task_queue=task_queue, batch_size=batch_size, policy=outbox_policy
        )
        self.client: Client | None = None  # set once Temporal is reachable
        self.wake = asyncio.Event()
        self.stopping = False  # set by the owner; run() returns after the batch in hand

    def _pending(self) -> list[PendingRun]:
        with self._engine.connect().execution_options(read_only=True) as connection:
            rows = handler_runs.pending_handler_runs(connection, limit=self._batch_size)
        return [PendingRun(r.event_id, r.handler, r.workflow_id, r.envelope) for r in rows]

    def _mark_started(self, keys: list[tuple[str, str]]) -> None:
        with begin_write(self._engine) as connection:
            handler_runs.mark_handlers_started(connection, keys=keys)

    async def _start(self, client: Client, run: PendingRun) -> None:
        """Start one workflow: its log lines carry the event's ids, and its StartWorkflow span
        (the client interceptor's) is a child of the event's normalize span."""
        envelope = run.envelope
        with structlog.contextvars.bound_contextvars(
            partner=envelope.get("partner"),
            partner_event_id=envelope.get("partnereventid"),
            event_id=run.event_id,
            workflow_id=run.workflow_id,
        ):
            parent = tracing.context_from(envelope.get("traceparent"))
            token = otel_context.attach(parent) if parent is not None else None
            try:
                await client.start_workflow(
                    HANDLER_WORKFLOW,
                    HandlerInput(event_id=run.event_id, handler=run.handler),
                    id=run.workflow_id,
                    task_queue=self._task_queue,
                )
                metrics.DISPATCHED.labels(run.handler, "started").inc()
                log.debug("workflow_started", handler=run.handler)
            except WorkflowAlreadyStartedError:
                metrics.DISPATCHED.labels(run.handler, "already_running").inc()
            finally:
                if token is not None:
                    otel_context.detach(token)

    async def dispatch_batch(self, client: Client) -> int:
        """Start the workflows of one batch of pending runs; returns how many were started."""
        pending = await asyncio.to_thread(self._pending)
        if not pending:
            return 0
        results = await asyncio.gather(
            *(self._start(client, run) for run in pending), return_exceptions=True
        )
        started = [
            (run.event_id, run.handler)
            for run, result in zip(pending, results, strict=True)
            if result is None
        ]
        if started:
            await asyncio.to_thread(self._mark_started, started)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            metrics.DISPATCHED.labels("*", "error").inc(len(errors))
            raise errors[0]
        return len(started)

    async def dispatch_once(self, client: Client) -> int:
        """One batch of handler runs and one of the workflow outbox; returns the larger count
        (a full batch: more may be waiting). Either one's failure is raised after both ran."""
        results = await asyncio.gather(
            self.dispatch_batch(client), self.outbox.send_batch(client), return_exceptions=True
        )
        counts = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            counts.append(result)
        return max(counts)

    async def run(self, *, poll_interval: float) -> None:
        backoff = poll_interval
        while not self.stopping:
            self.wake.clear()
            started = 0
            if self.client is not None:
                try:
                    started = await self.dispatch_once(self.client)
                    backoff = poll_interval
                except Exception as exc:  # Temporal or the database is away: retry later
                    log.warning("dispatch_failed", error=f"{type(exc).__name__}: {exc}")
                    with contextlib.suppress(TimeoutError):  # woken early only to stop
                        await asyncio.wait_for(self.wake.wait(), timeout=backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    continue
            if started < self._batch_size and not self.stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=poll_interval)
