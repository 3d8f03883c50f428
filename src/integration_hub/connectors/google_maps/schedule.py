"""The daily Temporal Schedule that runs `MapsCachePurgeWorkflow`.

Reads already ignore expired rows, so the purge only has to delete them within a day of
expiry; `hub maps schedule-purge` creates (or updates) the schedule once per cluster.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from integration_hub.connectors.google_maps.calls import PurgeInput
from integration_hub.connectors.google_maps.workflows import MapsCachePurgeWorkflow

SCHEDULE_ID = "google_maps.purge_cache"


def purge_schedule(task_queue: str, every: timedelta = timedelta(days=1)) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            MapsCachePurgeWorkflow.run, PurgeInput(), id=SCHEDULE_ID, task_queue=task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_purge_schedule(
    client: Client, task_queue: str, every: timedelta = timedelta(days=1)
) -> str:
    """Create the schedule, or bring an existing one up to date; returns its id."""
    schedule = purge_schedule(task_queue, every)
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SCHEDULE_ID).update(replace)
    return SCHEDULE_ID
