"""What a handler uses to start or signal a workflow: `context.outbox` in its `apply`.

    context.outbox.start(connection, workflow="cleaning", workflow_id=f"cleaning/{booking}",
                         input={"booking": booking}, dedup=event["id"])
    context.outbox.signal(connection, workflow_id=f"cleaning/{booking}", signal="changed",
                          input={"checkout": ...}, dedup=event["id"])

Each call writes one `workflow_outbox` row on the handler's connection, in the transaction
that also completes its run: if `apply` raises, or the run's transaction is rolled back for
any reason, nothing was queued, and nothing is sent before that transaction commits. The
dispatcher (pipeline/outbox.py) then sends each row once:

- the workflow id is the handler's choice and must be deterministic (from the event, never a
  random value or the clock), and it names one run ever: a start whose id was started before,
  running or closed, counts as done;
- `dedup` says which queueing this is (typically the event id): the same (workflow id, kind,
  signal, dedup) queued again, by a retried or replayed run, adds nothing. Two signals of one
  name to one workflow from one event need two dedup keys;
- rows of one workflow id go out in the order they were queued;
- a signal whose workflow is not found (yet) is retried with backoff up to a bound, then
  dead-lettered (`status` failed, `last_error` kept); a Temporal outage only delays;
- a row is sent once the dispatcher next polls (HUB_POLL_INTERVAL_SECONDS), not at commit.

Inputs are JSON (a dataclass is sent as its fields); a workflow or signal parameter typed as a
dataclass receives it as that dataclass. Sizes are bounded: a refusal is a HubError that is
not retryable, so the run fails at once with the reason kept.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from sqlalchemy import Connection

from integration_hub.errors import HubError
from integration_hub.storage import workflow_outbox
from integration_hub.storage.tables import OutboxKind

# The column widths (storage/tables.py), and a bound on one input well under Temporal's 2 MB
# payload limit: an input is a reference and a few facts, not a document.
MAX_WORKFLOW_TYPE = 128
MAX_WORKFLOW_ID = 255
MAX_SIGNAL = 128
MAX_DEDUP = 255
MAX_TASK_QUEUE = 255
MAX_INPUT_BYTES = 64 * 1024


class Outbox:
    """Queues workflow starts and signals in the caller's transaction. Every method returns
    False when that very message was queued before (nothing is added)."""

    def start(
        self,
        connection: Connection,
        *,
        workflow: str,
        workflow_id: str,
        dedup: str,
        input: object = None,
        task_queue: str | None = None,
    ) -> bool:
        """Start workflow type `workflow` as `workflow_id` (on the hub's task queue unless
        `task_queue` names another)."""
        return workflow_outbox.queue_workflow_message(
            connection,
            kind=OutboxKind.START,
            workflow_type=_bounded("workflow", workflow, MAX_WORKFLOW_TYPE),
            workflow_id=_bounded("workflow_id", workflow_id, MAX_WORKFLOW_ID),
            dedup=_bounded("dedup", dedup, MAX_DEDUP),
            input=_as_json("input", input),
            task_queue=_queue(task_queue),
        )

    def signal(
        self,
        connection: Connection,
        *,
        workflow_id: str,
        signal: str,
        dedup: str,
        input: object = None,
    ) -> bool:
        """Send `signal` with `input` to the running workflow `workflow_id`."""
        return workflow_outbox.queue_workflow_message(
            connection,
            kind=OutboxKind.SIGNAL,
            workflow_id=_bounded("workflow_id", workflow_id, MAX_WORKFLOW_ID),
            signal=_bounded("signal", signal, MAX_SIGNAL),
            dedup=_bounded("dedup", dedup, MAX_DEDUP),
            signal_input=_as_json("input", input),
        )

    def signal_with_start(
        self,
        connection: Connection,
        *,
        workflow: str,
        workflow_id: str,
        signal: str,
        dedup: str,
        input: object = None,
        signal_input: object = None,
        task_queue: str | None = None,
    ) -> bool:
        """Signal `workflow_id`, starting it first (with `input`) when it is not running. A
        workflow id whose run has closed is not started again: that row is dead-lettered."""
        return workflow_outbox.queue_workflow_message(
            connection,
            kind=OutboxKind.SIGNAL_WITH_START,
            workflow_type=_bounded("workflow", workflow, MAX_WORKFLOW_TYPE),
            workflow_id=_bounded("workflow_id", workflow_id, MAX_WORKFLOW_ID),
            signal=_bounded("signal", signal, MAX_SIGNAL),
            dedup=_bounded("dedup", dedup, MAX_DEDUP),
            input=_as_json("input", input),
            signal_input=_as_json("signal_input", signal_input),
            task_queue=_queue(task_queue),
        )


def _refused(detail: str) -> HubError:
    return HubError(detail, reason="outbox_refused")


def _bounded(name: str, value: str, limit: int) -> str:
    if not value or len(value) > limit or "\x00" in value:
        raise _refused(f"outbox {name} must be 1 to {limit} characters without NUL")
    return value


def _queue(task_queue: str | None) -> str | None:
    return None if task_queue is None else _bounded("task_queue", task_queue, MAX_TASK_QUEUE)


def _as_json(name: str, value: object) -> Any:
    """`value` as the JSON it is stored and sent as (a dataclass as its fields, a datetime as
    ISO 8601), refused when it is not JSON or larger than MAX_INPUT_BYTES."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    try:
        encoded = orjson.dumps(value)
    except TypeError as err:
        raise _refused(f"outbox {name} is not JSON: {err}") from None
    if len(encoded) > MAX_INPUT_BYTES:
        raise _refused(f"outbox {name} is {len(encoded)} bytes, more than {MAX_INPUT_BYTES}")
    return orjson.loads(encoded)
