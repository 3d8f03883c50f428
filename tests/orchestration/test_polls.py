"""Poll sources on the real Temporal dev server, a local feed over HTTP, SQLite and PostgreSQL:
events land in raw_events once (a duplicate across pages too), the real normalizer takes
them, the cursor advances only with committed rows, a failing page is retried, a refused one
is recorded, replay works as for webhooks, and the schedule exists per declared source."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    WorkflowFailureError,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors.partner import CallsContext, Partner
from integration_hub.orchestration.polls import (
    PollActivities,
    PollInput,
    PollResult,
    PollWorkflow,
    ensure_poll_schedules,
    run_poll,
    schedule_id,
)
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.pipeline.normalizer import Normalizer
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage import poll_cursors, raw_events
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import internal_events
from integration_hub.storage.tables import raw_events as raw_table
from tests.orchestration.poll_partner import NAME, SOURCE, GuestConnector, GuestFeed, guest
from tests.orchestration.poll_partner import guest_partner as declare
from tests.partner_server import PartnerServer


def two_pages() -> GuestFeed:
    """Page 1: guests 1, 2 (more); page 2: guest 2 again and 3 (no more); then nothing new."""
    return GuestFeed(
        {
            "": ([guest(1), guest(2)], "c1", True),
            "c1": ([guest(2), guest(3)], "c2", False),
        }
    )


@pytest.fixture
def feed() -> GuestFeed:
    return two_pages()


@pytest.fixture
def server(feed: GuestFeed) -> Iterator[PartnerServer]:
    with PartnerServer(feed) as running:
        yield running


@pytest.fixture
def partner(server: PartnerServer) -> Partner:
    return declare(server.url)


def calls_context(settings: Settings, engine: Engine) -> CallsContext:
    return CallsContext(settings=settings, secrets=EnvSecretSource(environ={}), engine=engine)


@asynccontextmanager
async def poll_worker(
    client: Client, settings: Settings, engine: Engine, partner: Partner
) -> AsyncIterator[str]:
    """A worker on a fresh task queue running the poll workflow for `partner`'s sources."""
    queue = f"polls-{uuid.uuid4().hex}"
    activities = PollActivities(calls_context(settings, engine), [partner])
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[PollWorkflow],
            activities=activities.activities(),
            activity_executor=executor,
            workflow_runner=workflow_runner(),
        ):
            yield queue


def stored_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        query = select(raw_table.c.partner_event_id).where(raw_table.c.partner == NAME)
        return sorted(connection.execute(query).scalars())


def state(engine: Engine) -> poll_cursors.PollState:
    with engine.connect() as connection:
        [found] = poll_cursors.states(connection, partner=NAME)
    return found


def cursors_asked(server: PartnerServer) -> list[str]:
    return [request.query["cursor"][0] for request in server.requests]


async def test_a_run_stores_every_event_once_and_the_normalizer_takes_them(
    temporal: WorkflowEnvironment,
    hub_settings: Settings,
    engine: Engine,
    partner: Partner,
    server: PartnerServer,
) -> None:
    async with poll_worker(temporal.client, hub_settings, engine, partner) as queue:
        first = await run_poll(temporal.client, queue, PollInput(NAME, SOURCE))
        again = await run_poll(temporal.client, queue, PollInput(NAME, SOURCE))

    assert first == PollResult(pages=2, stored=3, duplicates=1, more=False)
    # The second run starts from the stored cursor, finds nothing new and keeps it.
    assert again == PollResult(pages=1, stored=0, duplicates=0, more=False)
    assert cursors_asked(server) == ["", "c1", "c2"]
    assert server.requests[0].query["limit"] == ["10"]  # the page bound reaches the partner
    assert stored_ids(engine) == ["guest_1", "guest_2", "guest_3"]
    polled = state(engine)
    assert (polled.cursor, polled.last_error) == ("c2", None)
    assert polled.last_success_at is not None
    with engine.connect() as connection:
        headers = connection.execute(select(raw_table.c.headers).limit(1)).scalar_one()
    assert headers == {"poll-source": SOURCE}

    normalizer = Normalizer(engine, {NAME: GuestConnector()}, lambda _: [], batch_size=50)
    assert normalizer.drain_batch() == 3
    with engine.connect() as connection:
        statuses = connection.execute(select(raw_table.c.status).distinct()).scalars().all()
        events = connection.execute(select(internal_events.c.type)).scalars().all()
    assert statuses == ["processed"]
    assert sorted(events) == ["contact.opted_in"] * 3

    # Replay works as for a delivered event: back to the normalizer, the same events again.
    with begin_write(engine) as connection:
        replayed = raw_events.request_replay(connection, partner=NAME, partner_event_id="guest_2")
    assert replayed == 1
    assert normalizer.drain_batch() == 1
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(internal_events)).scalar()
    assert count == 3


async def test_a_failing_page_is_retried_and_the_cursor_waits_for_its_rows(
    temporal: WorkflowEnvironment,
    hub_settings: Settings,
    engine: Engine,
    partner: Partner,
    feed: GuestFeed,
    server: PartnerServer,
) -> None:
    feed.failures["c1"] = 1  # page 2 answers 503 once, then its page
    async with poll_worker(temporal.client, hub_settings, engine, partner) as queue:
        result = await run_poll(temporal.client, queue, PollInput(NAME, SOURCE))

    assert result == PollResult(pages=2, stored=3, duplicates=1, more=False)
    assert cursors_asked(server) == ["", "c1", "c1"]
    assert stored_ids(engine) == ["guest_1", "guest_2", "guest_3"]
    assert (state(engine).cursor, state(engine).last_error) == ("c2", None)  # cleared by success


async def test_a_refused_page_stops_the_run_and_keeps_the_cursor_before_it(
    temporal: WorkflowEnvironment,
    hub_settings: Settings,
    engine: Engine,
    partner: Partner,
    feed: GuestFeed,
    server: PartnerServer,
) -> None:
    feed.failures["c1"], feed.status = 1, 401  # a 4xx: no retry can help
    async with poll_worker(temporal.client, hub_settings, engine, partner) as queue:
        with pytest.raises(WorkflowFailureError):
            await run_poll(temporal.client, queue, PollInput(NAME, SOURCE))
        failed = state(engine)
        # Page 1 committed with its cursor; page 2 stored nothing and moved nothing.
        assert stored_ids(engine) == ["guest_1", "guest_2"]
        assert failed.cursor == "c1"
        assert failed.last_error is not None and "401" in failed.last_error
        assert failed.last_success_at is not None

        resumed = await run_poll(temporal.client, queue, PollInput(NAME, SOURCE))

    assert resumed == PollResult(pages=1, stored=1, duplicates=1, more=False)
    assert cursors_asked(server) == ["", "c1", "c1"]
    assert stored_ids(engine) == ["guest_1", "guest_2", "guest_3"]
    assert (state(engine).cursor, state(engine).last_error) == ("c2", None)


async def test_a_run_stops_at_the_sources_page_bound_and_the_next_goes_on(
    temporal: WorkflowEnvironment, hub_settings: Settings, engine: Engine, server: PartnerServer
) -> None:
    bounded = declare(server.url, max_pages=1)
    async with poll_worker(temporal.client, hub_settings, engine, bounded) as queue:
        first = await run_poll(temporal.client, queue, PollInput(NAME, SOURCE))
        second = await run_poll(temporal.client, queue, PollInput(NAME, SOURCE))

    assert first == PollResult(pages=1, stored=2, duplicates=0, more=True)
    assert second == PollResult(pages=1, stored=1, duplicates=1, more=False)
    assert stored_ids(engine) == ["guest_1", "guest_2", "guest_3"]


async def test_the_worker_start_ensures_one_schedule_per_declared_source(
    temporal: WorkflowEnvironment, partner: Partner
) -> None:
    queue = f"polls-{uuid.uuid4().hex}"
    assert await ensure_poll_schedules(temporal.client, queue, [partner]) == [
        schedule_id(NAME, SOURCE)
    ]
    # Idempotent: a second start updates the same schedule.
    await ensure_poll_schedules(temporal.client, queue, [partner])
    handle = temporal.client.get_schedule_handle(schedule_id(NAME, SOURCE))
    description: ScheduleDescription = await handle.describe()
    action = description.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == ("hub.poll", queue)
    [interval] = description.schedule.spec.intervals
    assert interval.every == timedelta(minutes=15)
    await handle.delete()
