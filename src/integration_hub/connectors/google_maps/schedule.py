"""The daily Temporal Schedule that runs `MapsCachePurgeWorkflow`.

Reads already ignore expired rows, so the purge only has to delete them within a day of
expiry; `hub maps schedule-purge` creates (or updates) the schedule once per cluster.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client

from integration_hub.connectors.google_maps.calls import PurgeInput
from integration_hub.connectors.google_maps.workflows import MapsCachePurgeWorkflow
from integration_hub.schedules import ensure_schedule, every

SCHEDULE_ID = "google_maps.purge_cache"


async def ensure_purge_schedule(
    client: Client, task_queue: str, interval: timedelta = timedelta(days=1)
) -> str:
    """Create the schedule, or bring an existing one up to date; returns its id."""
    schedule = every(
        MapsCachePurgeWorkflow.run,
        PurgeInput(),
        schedule_id=SCHEDULE_ID,
        task_queue=task_queue,
        interval=interval,
    )
    return await ensure_schedule(client, SCHEDULE_ID, schedule)
