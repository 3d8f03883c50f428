"""Temporal Schedules for the hub's upkeep (cache purge, raw-body retention, secret ages,
token rotations): one way to declare them, created or brought up to date idempotently."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

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


def every(
    run: Callable[..., Any],
    input: object,
    *,
    schedule_id: str,
    task_queue: str,
    interval: timedelta,
) -> Schedule:
    """Start `run(input)` every `interval`; a run still going when the next is due is skipped.
    The workflow id is the schedule id, so two runs never overlap."""
    return Schedule(
        action=ScheduleActionStartWorkflow(run, input, id=schedule_id, task_queue=task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=interval)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create the schedule, or replace an existing one's definition; returns its id."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(replace)
    return schedule_id
