"""Raw body retention: bodies are emptied `HUB_RAW_RETENTION_DAYS` (30) days after receipt.

The row stays (partner, partner event id, type, status, kept headers, `body_purged_at`), so a
redelivery is still recognised as a duplicate, and the normalized internal events stay too. A
purged event cannot be replayed (there is nothing to normalize). A Temporal Schedule, created
when a pipeline worker connects (`orchestration/calls.ensure_schedules`), runs the purge daily;
the same run deletes status panel sessions past their expiry (storage/sessions.py) and empties
the arguments of workflow starts the handlers' outbox dispatched before the same cutoff (they
may carry what the bodies did; the rows stay as dedup keys: storage/workflow_outbox.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import structlog
    from sqlalchemy import Connection, Engine

    from integration_hub.schedules import ensure_schedule, every
    from integration_hub.storage import raw_events, sessions, workflow_outbox
    from integration_hub.storage.engine import begin_write
    from integration_hub.storage.rows import utcnow

SCHEDULE_ID = "retention.purge_raw_bodies"
BATCH_SIZE = 1000  # rows per transaction: short locks, even on a large backlog
PURGE_TIMEOUT = timedelta(minutes=30)
PURGE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=5)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PurgeRawBodiesInput:
    older_than_days: int | None = None  # default: the worker's HUB_RAW_RETENTION_DAYS


@dataclass(frozen=True)
class PurgeRawBodiesResult:
    purged: int
    older_than_days: int
    outbox_inputs_purged: int = 0


class RetentionActivities:
    def __init__(self, engine: Engine, *, retention_days: int) -> None:
        self._engine = engine
        self._retention_days = retention_days

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.purge_raw_bodies, self.purge_expired_sessions]

    @activity.defn(name="retention.purge_raw_bodies")
    def purge_raw_bodies(self, input: PurgeRawBodiesInput) -> PurgeRawBodiesResult:
        days = input.older_than_days or self._retention_days
        cutoff = utcnow() - timedelta(days=days)
        purged = self._in_batches(
            lambda c: raw_events.purge_raw_bodies(c, received_before=cutoff, limit=BATCH_SIZE)
        )
        outbox = self._in_batches(
            lambda c: workflow_outbox.purge_dispatched_inputs(
                c, dispatched_before=cutoff, limit=BATCH_SIZE
            )
        )
        log.info("raw_bodies_purged", purged=purged, outbox_inputs=outbox, older_than_days=days)
        return PurgeRawBodiesResult(purged, days, outbox)

    def _in_batches(self, purge_batch: Callable[[Connection], int]) -> int:
        """Run `purge_batch` one transaction at a time until a batch is short."""
        total = 0
        while True:
            with begin_write(self._engine) as connection:
                purged = purge_batch(connection)
            total += purged
            if purged < BATCH_SIZE:
                return total
            activity.heartbeat(total)

    @activity.defn(name="retention.purge_expired_sessions")
    def purge_expired_sessions(self) -> int:
        with begin_write(self._engine) as connection:
            purged = sessions.purge_expired(connection)
        log.info("panel_sessions_purged", purged=purged)
        return purged


@workflow.defn(name="retention.purge_raw_bodies")
class PurgeRawBodiesWorkflow:
    @workflow.run
    async def run(self, input: PurgeRawBodiesInput) -> PurgeRawBodiesResult:
        result = await workflow.execute_activity_method(
            RetentionActivities.purge_raw_bodies,
            input,
            start_to_close_timeout=PURGE_TIMEOUT,
            heartbeat_timeout=timedelta(minutes=5),
            retry_policy=PURGE_RETRY,
        )
        await workflow.execute_activity_method(
            RetentionActivities.purge_expired_sessions,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=PURGE_RETRY,
        )
        return result


RETENTION_WORKFLOWS: tuple[type, ...] = (PurgeRawBodiesWorkflow,)


async def ensure_retention_schedule(
    client: Client, task_queue: str, interval: timedelta = timedelta(days=1)
) -> str:
    """Create the daily purge schedule, or bring an existing one up to date; returns its id."""
    schedule = every(
        PurgeRawBodiesWorkflow.run,
        PurgeRawBodiesInput(),
        schedule_id=SCHEDULE_ID,
        task_queue=task_queue,
        interval=interval,
    )
    return await ensure_schedule(client, SCHEDULE_ID, schedule)
