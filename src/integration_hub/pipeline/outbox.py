"""Sends what handlers queued in `workflow_outbox` (orchestration/outbox.py) to Temporal.

The dispatcher (dispatch.py) drains it beside the handler runs, in bounded batches. Exactly
once rests on Temporal, not on a lock between dispatchers, so several may drain at once and
one may die between sending and marking:
- a start uses the id reuse policy REJECT_DUPLICATE: an id started before, running or closed,
  is refused as already started, which counts as done;
- a signal, and a signal-with-start, carries a request id derived from its row
  (`outbox-<id>`); Temporal keeps the request ids a workflow has seen and drops a repeat.
  (The SDK's signal calls draw a random request id, hence the direct service calls.)
Rows of one workflow id are sent one after another in the order queued; different workflows
concurrently. A Temporal outage (unavailable, timed out, overloaded, or any error that is no
answer from Temporal) counts no attempt: the row stays due, what else the batch sent is
recorded, and the dispatcher backs off. Any other refusal (a signal's workflow not found
yet, or closed) counts one, waits out an exponential backoff, and after `max_attempts` leaves
the row dead-lettered (`failed`, its last error kept); a signal-with-start to an id whose run
has closed is dead-lettered at once. Per-row outcomes: hub_workflow_outbox_total.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Engine
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import WorkflowIdReusePolicy as ProtoReusePolicy
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    SignalWithStartWorkflowExecutionRequest,
    SignalWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from integration_hub import metrics
from integration_hub.errors import MAX_ERROR_CHARS
from integration_hub.storage import workflow_outbox
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import AnyRow, utcnow
from integration_hub.storage.tables import OutboxKind

log = structlog.get_logger(__name__)

# What says Temporal is away or overloaded, not that it refused this message.
_OUTAGE = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.CANCELLED,
    }
)
# One call may not hold the batch longer than this (the SDK retries inside it).
RPC_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class OutboxPolicy:
    """How often a refused row is tried again: after `first_backoff`, doubling up to
    `max_backoff`; the `max_attempts`-th refusal dead-letters it (about 20 minutes by default,
    long enough for a start queued by another event to arrive before its signal)."""

    max_attempts: int = 12
    first_backoff: timedelta = timedelta(seconds=1)
    max_backoff: timedelta = timedelta(minutes=5)

    def retry_at(self, now: datetime, attempts: int) -> datetime | None:
        """When to try a row again after its `attempts`-th refusal; None: dead-letter it."""
        if attempts >= self.max_attempts:
            return None
        backoff: timedelta = self.first_backoff * 2 ** min(attempts - 1, 30)
        return now + min(backoff, self.max_backoff)


class _Refused(Exception):
    """Temporal refused this row (not an outage): one attempt counted; `retry` False when no
    later attempt can succeed."""

    def __init__(self, error: str, *, retry: bool = True) -> None:
        super().__init__(error)
        self.error, self.retry = error, retry


@dataclass(frozen=True, slots=True)
class _Sent:
    """What sending one workflow's rows came to."""

    sent: list[int]  # row ids Temporal has
    refused: _Refusal | None  # the row that stopped it, counting an attempt
    outage: BaseException | None  # Temporal away: stopped there, no attempt counted


@dataclass(frozen=True, slots=True)
class _Refusal:
    row: AnyRow
    error: str
    retry: bool


class OutboxSender:
    def __init__(
        self,
        engine: Engine,
        *,
        task_queue: str,
        batch_size: int,
        policy: OutboxPolicy | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._task_queue = task_queue  # for rows that name none
        self._batch_size = batch_size
        self._policy = policy or OutboxPolicy()
        self._now = now

    def _due(self, now: datetime) -> Sequence[AnyRow]:
        with self._engine.connect().execution_options(read_only=True) as connection:
            return workflow_outbox.due_workflow_messages(
                connection, now=now, limit=self._batch_size
            )

    def _record(self, now: datetime, sent: list[int], refused: list[_Refusal]) -> None:
        with begin_write(self._engine) as connection:
            workflow_outbox.mark_workflow_messages_dispatched(connection, ids=sent, now=now)
            for refusal in refused:
                row = refusal.row
                retry_at = self._policy.retry_at(now, row.attempts + 1) if refusal.retry else None
                workflow_outbox.record_workflow_message_failure(
                    connection, id=row.id, error=refusal.error, retry_at=retry_at
                )
                if retry_at is None:
                    log.warning(
                        "outbox_dead_lettered",
                        workflow_id=row.workflow_id,
                        kind=row.kind,
                        error=refusal.error,
                    )
                    metrics.OUTBOX_SENT.labels(row.kind, "dead_lettered").inc()

    async def send_batch(self, client: Client) -> int:
        """Send one batch of due rows; returns how many Temporal now has. Raises the outage
        that stopped it, after recording what was sent and refused before it."""
        now = self._now()
        rows = await asyncio.to_thread(self._due, now)
        if not rows:
            return 0
        by_workflow: dict[str, list[AnyRow]] = {}
        for row in rows:  # in id order, so each list is in the order queued
            by_workflow.setdefault(row.workflow_id, []).append(row)
        results = await asyncio.gather(
            *(self._send_in_order(client, queued) for queued in by_workflow.values())
        )
        sent = [row_id for result in results for row_id in result.sent]
        refused = [result.refused for result in results if result.refused is not None]
        if sent or refused:
            await asyncio.to_thread(self._record, now, sent, refused)
        outages = [result.outage for result in results if result.outage is not None]
        if outages:
            raise outages[0]
        return len(sent)

    async def _send_in_order(self, client: Client, queued: list[AnyRow]) -> _Sent:
        """A workflow's rows one after another; the first that is not sent stops the rest
        (they wait for it, so a signal never overtakes the start it needs)."""
        sent: list[int] = []
        for row in queued:
            try:
                outcome = await self._send(client, row)
            except _Refused as err:
                metrics.OUTBOX_SENT.labels(row.kind, "refused").inc()
                return _Sent(sent, _Refusal(row, err.error, err.retry), None)
            except RPCError as err:
                if err.status in _OUTAGE:
                    return _Sent(sent, None, err)
                # A signal-with-start refused as already started: the id's run has closed,
                # and it is never started again.
                closed = row.kind == OutboxKind.SIGNAL_WITH_START and (
                    err.status == RPCStatusCode.ALREADY_EXISTS
                )
                refusal = _Refusal(row, f"{err.status.name}: {err.message}", retry=not closed)
                metrics.OUTBOX_SENT.labels(row.kind, "refused").inc()
                return _Sent(sent, refusal, None)
            except (RuntimeError, OSError, TimeoutError) as err:
                # No answer about this row: a client that cannot connect (temporalio raises
                # RuntimeError), a lost connection. An outage: nothing is counted.
                return _Sent(sent, None, err)
            except Exception as err:
                # This row cannot be sent as it is (its input does not encode, say): retried
                # with backoff, then dead-lettered like any refusal, so one bad row never
                # stalls the dispatcher and every handler run behind it.
                error = f"{type(err).__name__}: {err}"[:MAX_ERROR_CHARS]
                metrics.OUTBOX_SENT.labels(row.kind, "refused").inc()
                return _Sent(sent, _Refusal(row, error, retry=True), None)
            metrics.OUTBOX_SENT.labels(row.kind, outcome).inc()
            sent.append(row.id)
        return _Sent(sent, None, None)

    async def _send(self, client: Client, row: AnyRow) -> str:
        """Send one row; returns the outcome label (sent, already_started)."""
        with structlog.contextvars.bound_contextvars(workflow_id=row.workflow_id):
            if row.kind == OutboxKind.START:
                try:
                    await client.start_workflow(
                        row.workflow_type,
                        args=_args(row.input),
                        id=row.workflow_id,
                        task_queue=row.task_queue or self._task_queue,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        rpc_timeout=RPC_TIMEOUT,
                    )
                except WorkflowAlreadyStartedError:
                    return "already_started"
            elif row.kind == OutboxKind.SIGNAL:
                await _signal(client, row)
            elif row.kind == OutboxKind.SIGNAL_WITH_START:
                await _signal_with_start(client, row, row.task_queue or self._task_queue)
            else:  # a row from a later version of the hub
                raise _Refused(f"unknown outbox kind {row.kind!r}", retry=False)
            log.debug("outbox_sent", kind=row.kind, signal=row.signal or None)
            return "sent"


def _args(value: Any) -> list[Any]:
    return [] if value is None else [value]


def _request_id(row: AnyRow) -> str:
    """The same for every attempt of a row, by any dispatcher: Temporal drops a repeat."""
    return f"outbox-{row.id}"


async def _signal(client: Client, row: AnyRow) -> None:
    request = SignalWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_execution=WorkflowExecution(workflow_id=row.workflow_id),
        signal_name=row.signal,
        identity=client.identity,
        request_id=_request_id(row),
    )
    request.input.payloads.extend(await client.data_converter.encode(_args(row.signal_input)))
    await client.workflow_service.signal_workflow_execution(
        request, retry=True, timeout=RPC_TIMEOUT
    )


async def _signal_with_start(client: Client, row: AnyRow, task_queue: str) -> None:
    request = SignalWithStartWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_id=row.workflow_id,
        workflow_type=WorkflowType(name=row.workflow_type),
        task_queue=TaskQueue(name=task_queue),
        signal_name=row.signal,
        identity=client.identity,
        request_id=_request_id(row),
        # As for a start: a workflow id names one run; a closed one is not started again.
        workflow_id_reuse_policy=ProtoReusePolicy.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
    )
    request.input.payloads.extend(await client.data_converter.encode(_args(row.input)))
    request.signal_input.payloads.extend(
        await client.data_converter.encode(_args(row.signal_input))
    )
    await client.workflow_service.signal_with_start_workflow_execution(
        request, retry=True, timeout=RPC_TIMEOUT
    )
