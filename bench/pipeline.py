"""Behind the edge: the normalizer draining a backlog, and handler workflows against a trivial one."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import orjson
from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.worker import Worker

from bench.common import UNHANDLED_TYPES, Database, signed_delivery
from bench.trivial import TrivialWorkflow
from integration_hub.connectors.partners import build_connectors
from integration_hub.orchestration.handlers import handler_names_for
from integration_hub.orchestration.worker import build_worker
from integration_hub.pipeline.dispatch import Dispatcher
from integration_hub.pipeline.normalizer import Normalizer
from integration_hub.settings import Settings
from integration_hub.storage import migrate, raw_events
from integration_hub.storage.engine import make_engine
from integration_hub.storage.tables import handler_runs


def _store_backlog(db: Database, count: int, event_types: tuple[str, ...]) -> None:
    engine = make_engine(db.url)
    migrate.upgrade(engine)
    now = datetime.now(UTC)
    rows = []
    for index in range(count):
        _, body = signed_delivery(event_types[index % len(event_types)])
        event = orjson.loads(body)
        rows.append(raw_events.NewRawEvent("stripe", event["id"], event["type"], now, {}, body))
    for start in range(0, count, 1000):
        with engine.begin() as connection:
            raw_events.record_deliveries(connection, events=rows[start : start + 1000])
    engine.dispose()


def normalizer_drain(db: Database, count: int) -> float:
    """Events per second for one normalizer draining `count` stored events."""
    _store_backlog(db, count, UNHANDLED_TYPES)
    settings = Settings.model_construct()
    engine = make_engine(db.url)
    normalizer = Normalizer(engine, build_connectors(settings), handler_names_for, batch_size=500)
    started = time.perf_counter()
    drained = 0
    while (taken := normalizer.drain_batch()) > 0:
        drained += taken
    elapsed = time.perf_counter() - started
    engine.dispose()
    assert drained == count, (drained, count)
    return count / elapsed


async def trivial_workflows(client: Client, count: int) -> float:
    """Completed per second: `count` do-nothing workflows on the same server and worker setup."""
    task_queue = f"bench-trivial-{uuid.uuid4().hex}"
    worker = Worker(client, task_queue=task_queue, workflows=[TrivialWorkflow])
    async with worker:
        semaphore = asyncio.Semaphore(200)

        async def one(index: int) -> None:
            async with semaphore:
                handle = await client.start_workflow(
                    TrivialWorkflow.run,
                    str(index),
                    id=f"{task_queue}/{index}",
                    task_queue=task_queue,
                )
            await handle.result()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return count / (time.perf_counter() - started)


async def handler_workflows(client: Client, db: Database, count: int) -> float:
    """Completed per second: ledger handler runs dispatched from the outbox to completion."""
    _store_backlog(db, count, ("payment_intent.succeeded",))
    settings = Settings.model_construct(task_queue=f"bench-handlers-{uuid.uuid4().hex}")
    engine = make_engine(db.url)
    normalizer = Normalizer(engine, build_connectors(settings), handler_names_for, batch_size=500)
    while normalizer.drain_batch() > 0:
        pass
    dispatcher = Dispatcher(engine, task_queue=settings.task_queue, batch_size=200)
    dispatcher.client = client

    def completed() -> int:
        with engine.connect() as connection:
            query = select(func.count()).where(handler_runs.c.status == "completed")
            return int(connection.execute(query).scalar_one())

    async with build_worker(client, settings, engine):
        started = time.perf_counter()
        dispatching = asyncio.create_task(dispatcher.run(poll_interval=0.05))
        while await asyncio.to_thread(completed) < count:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        dispatching.cancel()
    engine.dispose()
    return count / elapsed
