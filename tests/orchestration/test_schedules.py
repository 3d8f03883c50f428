"""The worker keeps the partners' upkeep schedules in place when it starts."""

from __future__ import annotations

from temporalio.client import ScheduleActionStartWorkflow, ScheduleDescription
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from integration_hub.connectors.google_maps.schedule import SCHEDULE_ID
from tests.helpers import RunningHub, wait_until


async def test_hub_start_points_the_maps_purge_schedule_at_its_task_queue(
    running_hub: RunningHub, temporal: WorkflowEnvironment
) -> None:
    handle = temporal.client.get_schedule_handle(SCHEDULE_ID)

    async def queue() -> str | None:
        try:
            description: ScheduleDescription = await handle.describe()
        except RPCError:  # not created yet
            return None
        action = description.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        return action.task_queue

    assert await wait_until(queue, lambda q: q == running_hub.hub.settings.task_queue)
