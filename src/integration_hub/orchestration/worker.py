"""build_worker(client, settings, engine) with explicit lists of workflows and activities."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from integration_hub.orchestration.activities import HandlerActivities
from integration_hub.orchestration.handlers import HANDLERS
from integration_hub.settings import Settings


def build_worker(
    client: Client, settings: Settings, engine: Engine, executor: ThreadPoolExecutor | None = None
) -> Worker:
    """`executor` runs the (synchronous) activities; its owner waits for it before closing
    the engine they use."""
    activities = HandlerActivities(engine)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[handler.workflow for handler in HANDLERS],
        activities=[
            activities.post_ledger_entry,
            activities.apply_identity_event,
            activities.record_handler_outcome,
        ],
        activity_executor=executor or activity_executor(),
        max_concurrent_activities=16,
    )


def activity_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=16, thread_name_prefix="activity")
