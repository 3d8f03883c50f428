"""OwnerRez on the real Temporal dev server: a bookings poll of one connection stores its page
and moves that connection's cursor, and the normalizer makes `pms.reservation_observed` of it;
`ownerrez.fetch_reservation` stores a fetched booking, and answers `no_credentials` at once for
a connection without them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import Engine, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors import pms
from integration_hub.connectors.ownerrez import BOOKINGS_SOURCE, NAME, PARTNER, samples
from integration_hub.connectors.ownerrez.calls import OwnerRezCalls
from integration_hub.connectors.ownerrez.settings import OwnerRezSettings
from integration_hub.connectors.ownerrez.webhook import OwnerRezConnector
from integration_hub.connectors.ownerrez.workflows import FetchReservationWorkflow
from integration_hub.connectors.partner import CallsContext
from integration_hub.orchestration.polls import (
    PollActivities,
    PollInput,
    PollResult,
    PollWorkflow,
    run_poll,
)
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.pipeline.normalizer import Normalizer
from integration_hub.settings import Settings
from integration_hub.storage import poll_cursors
from integration_hub.storage.tables import internal_events
from tests.connectors.ownerrez.test_calls import CONNECTION, secrets
from tests.partner_server import PartnerServer, Reply


@pytest.fixture
def server() -> Iterator[PartnerServer]:
    with PartnerServer(Reply(200, {"items": [], "next_page_url": None})) as running:
        yield running


@pytest.fixture
def settings(
    hub_settings: Settings, server: PartnerServer, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    # A poll builds its client from HUB_OWNERREZ_*, as a worker does.
    monkeypatch.setenv("HUB_OWNERREZ_API_BASE_URL", server.url)
    return hub_settings


@asynccontextmanager
async def worker(client: Client, settings: Settings, engine: Engine) -> AsyncIterator[str]:
    queue = f"ownerrez-{uuid.uuid4().hex}"
    context = CallsContext(settings=settings, secrets=secrets(), engine=engine)
    calls = OwnerRezCalls(settings, secrets(), engine, OwnerRezSettings())
    activities = [*PollActivities(context, [PARTNER]).activities(), *calls.activities()]
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[PollWorkflow, FetchReservationWorkflow],
            activities=activities,
            activity_executor=executor,
            workflow_runner=workflow_runner(),
        ):
            yield queue
    calls.close()


async def test_a_connections_bookings_poll_is_stored_and_normalized(
    temporal: WorkflowEnvironment, settings: Settings, engine: Engine, server: PartnerServer
) -> None:
    booking = samples.booking(51873349, updated_utc="2026-12-01T12:30:00Z")
    server.reply(Reply(200, {"items": [booking], "next_page_url": None}))
    request = PollInput(NAME, BOOKINGS_SOURCE, instance=CONNECTION)
    async with worker(temporal.client, settings, engine) as queue:
        result = await run_poll(temporal.client, queue, request)

    assert result == PollResult(pages=1, stored=1, duplicates=0, more=False)
    with engine.connect() as connection:
        [state] = poll_cursors.states(connection, partner=NAME)
    assert (state.source, state.instance) == (BOOKINGS_SOURCE, CONNECTION)
    assert state.cursor == '{"since":"2026-12-01T12:25:00Z"}'  # the newest change, 5 min back
    assert server.requests[0].query["include_guest"] == ["true"]

    normalizer = Normalizer(engine, {NAME: OwnerRezConnector()}, lambda _: [], batch_size=50)
    assert normalizer.drain_batch() == 1
    with engine.connect() as connection:
        [envelope] = connection.execute(select(internal_events.c.envelope)).scalars()
    assert envelope["type"] == pms.RESERVATION_OBSERVED
    assert envelope["data"]["connection"] == CONNECTION
    assert envelope["data"]["source_reservation_id"] == "51873349"


async def test_the_fetch_workflow_stores_the_booking_or_says_no_credentials(
    temporal: WorkflowEnvironment, settings: Settings, engine: Engine, server: PartnerServer
) -> None:
    server.reply(Reply(200, samples.booking(51873349)))
    client = temporal.client
    async with worker(client, settings, engine) as queue:
        outcomes = []
        for connection_id in (CONNECTION, "casa-coral"):
            request = pms.FetchReservation(connection_id, "51873349")
            outcomes.append(
                await client.execute_workflow(
                    pms.fetch_workflow(NAME),
                    request,
                    id=pms.fetch_workflow_id(NAME, request),
                    task_queue=queue,
                    result_type=pms.FetchOutcome,
                )
            )

    assert outcomes == [pms.FetchOutcome("stored"), pms.FetchOutcome("no_credentials")]
    assert [r.path for r in server.requests] == ["/v2/bookings/51873349"]
    normalizer = Normalizer(engine, {NAME: OwnerRezConnector()}, lambda _: [], batch_size=50)
    assert normalizer.drain_batch() == 1
    with engine.connect() as connection:
        [envelope] = connection.execute(select(internal_events.c.envelope)).scalars()
    assert (envelope["type"], envelope["data"]["status"]) == (pms.RESERVATION_OBSERVED, "confirmed")
