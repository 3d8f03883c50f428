"""Hostaway's polls and its fetch workflow on the real Temporal dev server, against the local
stand-in over HTTP, SQLite and PostgreSQL: the reservations walk by `afterId` (the initial sync,
then only newer ids), the listings walk that starts over (an unchanged listing is a
duplicate, a deleted one removed), the changes poll catching up a missed change, the real
normalizer taking what was stored, and one reservation fetched on demand."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors import pms
from integration_hub.connectors.hostaway import PARTNER, samples
from integration_hub.connectors.hostaway.calls import HostawayCalls
from integration_hub.connectors.hostaway.settings import HostawaySettings
from integration_hub.connectors.hostaway.webhook import HostawayConnector
from integration_hub.connectors.hostaway.workflows import HostawayFetchReservationWorkflow
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
from integration_hub.storage.tables import raw_events as raw_table
from tests.connectors.hostaway.conftest import keep_listings
from tests.connectors.hostaway.fake import FakeHostaway, credentials, listings, reservations
from tests.partner_server import PartnerServer
from tests.secrets.helpers import file_store

CONNECTION = "miami-homes"
FIRST_ID = 30_500_000


@pytest.fixture
def hostaway() -> FakeHostaway:
    return FakeHostaway(
        reservations=reservations(*range(FIRST_ID + 1, FIRST_ID + 106)),
        listings=listings(40160, 40161),
    )


@pytest.fixture
def server(hostaway: FakeHostaway) -> Iterator[PartnerServer]:
    with PartnerServer(hostaway) as running:
        yield running


@pytest.fixture
def context(
    hub_settings: Settings,
    engine: Engine,
    server: PartnerServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> CallsContext:
    # A poll builds its client from HUB_HOSTAWAY_*, as a worker does.
    monkeypatch.setenv("HUB_HOSTAWAY_API_BASE_URL", server.url)
    monkeypatch.setenv("HUB_HOSTAWAY_TOKEN_SETTLE_SECONDS", "0")
    settings = hub_settings
    store = file_store(tmp_path / "secrets", environ=credentials(CONNECTION))
    return CallsContext(settings=settings, secrets=store, engine=engine)


@asynccontextmanager
async def hostaway_worker(client: Client, context: CallsContext) -> AsyncIterator[str]:
    queue = f"hostaway-{uuid.uuid4().hex}"
    activities = [
        *PollActivities(context, [PARTNER]).activities(),
        *HostawayCalls(
            context.settings, context.secrets, context.engine, HostawaySettings()
        ).activities(),
    ]
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[PollWorkflow, HostawayFetchReservationWorkflow],
            activities=activities,
            activity_executor=executor,
            workflow_runner=workflow_runner(),
        ):
            yield queue


def stored(engine: Engine, event_type: str) -> list[str]:
    with engine.connect() as connection:
        query = select(raw_table.c.partner_event_id).where(
            raw_table.c.partner == "hostaway", raw_table.c.event_type == event_type
        )
        return sorted(connection.execute(query).scalars())


def cursor(engine: Engine, source: str) -> str | None:
    with engine.connect() as connection:
        return poll_cursors.get_cursor(
            connection, partner="hostaway", source=source, instance=CONNECTION
        )


def after_ids(server: PartnerServer, path: str) -> list[str]:
    return [r.query["afterId"][0] for r in server.requests if r.path == path]


async def test_reservations_sync_in_full_then_only_newer_ids_and_are_normalized(
    temporal: WorkflowEnvironment,
    context: CallsContext,
    engine: Engine,
    server: PartnerServer,
    hostaway: FakeHostaway,
) -> None:
    poll = PollInput("hostaway", "reservations", instance=CONNECTION)
    async with hostaway_worker(temporal.client, context) as queue:
        first = await run_poll(temporal.client, queue, poll)
        hostaway.reservations.append(samples.reservation(reservation_id=FIRST_ID + 200))
        again = await run_poll(temporal.client, queue, poll)

    assert first == PollResult(pages=2, stored=105, duplicates=0, more=False)
    assert again == PollResult(pages=1, stored=1, duplicates=0, more=False)
    assert after_ids(server, "/v1/reservations") == ["0", str(FIRST_ID + 100), str(FIRST_ID + 105)]
    assert {r.query["limit"][0] for r in server.requests if r.path == "/v1/reservations"} == {"100"}
    assert cursor(engine, "reservations") == str(FIRST_ID + 200)
    ids = stored(engine, "reservation.polled")
    assert len(ids) == 106
    assert all(i.startswith(f"{CONNECTION}:reservation:") for i in ids)
    assert len(hostaway.issued) == 1  # one token for every page of both runs

    normalizer = Normalizer(engine, {"hostaway": HostawayConnector()}, lambda _: [], batch_size=200)
    assert normalizer.drain_batch() == 106
    with engine.connect() as connection:
        envelopes = connection.execute(select(internal_events.c.envelope)).scalars().all()
    assert {e["type"] for e in envelopes} == {"pms.reservation_observed"}
    assert {e["data"]["connection"] for e in envelopes} == {CONNECTION}
    assert str(FIRST_ID + 200) in {e["data"]["source_reservation_id"] for e in envelopes}


async def test_listings_walk_again_each_run_and_only_changes_are_new(
    temporal: WorkflowEnvironment,
    context: CallsContext,
    engine: Engine,
    server: PartnerServer,
    hostaway: FakeHostaway,
) -> None:
    poll = PollInput("hostaway", "listings", instance=CONNECTION)
    async with hostaway_worker(temporal.client, context) as queue:
        first = await run_poll(temporal.client, queue, poll)
        unchanged = await run_poll(temporal.client, queue, poll)
        hostaway.listings[1]["name"] = "Little Havana casita"
        changed = await run_poll(temporal.client, queue, poll)

    assert first == PollResult(pages=1, stored=2, duplicates=0, more=False)
    assert unchanged == PollResult(pages=1, stored=0, duplicates=2, more=False)
    assert changed == PollResult(pages=1, stored=1, duplicates=1, more=False)
    assert after_ids(server, "/v1/listings") == ["0", "0", "0"]
    assert cursor(engine, "listings") == "0"
    assert len(stored(engine, "listing.polled")) == 3

    normalizer = Normalizer(engine, {"hostaway": HostawayConnector()}, lambda _: [], batch_size=50)
    assert normalizer.drain_batch() == 3
    with engine.connect() as connection:
        names = {
            e["data"]["name"]
            for e in connection.execute(select(internal_events.c.envelope)).scalars()
        }
    assert "Little Havana casita" in names


async def test_the_fetch_workflow_stores_a_reservation_once_and_knows_when_it_cannot(
    temporal: WorkflowEnvironment, context: CallsContext, engine: Engine, server: PartnerServer
) -> None:
    async def fetch(connection: str, reservation_id: str) -> pms.FetchOutcome:
        request = pms.FetchReservation(connection, reservation_id)
        outcome: pms.FetchOutcome = await temporal.client.execute_workflow(
            pms.fetch_workflow("hostaway"),
            request,
            id=pms.fetch_workflow_id("hostaway", request) + uuid.uuid4().hex,
            task_queue=queue,
            result_type=pms.FetchOutcome,
        )
        return outcome

    async with hostaway_worker(temporal.client, context) as queue:
        first = await fetch(CONNECTION, str(FIRST_ID + 7))
        again = await fetch(CONNECTION, str(FIRST_ID + 7))
        missing = await fetch(CONNECTION, "99999999")
        sent = len(server.requests)
        unknown = await fetch("brickell-stays", str(FIRST_ID + 7))

    assert (first, again, missing, unknown) == (
        pms.FetchOutcome("stored"), pms.FetchOutcome("duplicate"),
        pms.FetchOutcome("not_found"), pms.FetchOutcome("no_credentials"),
    )  # fmt: skip
    assert len(server.requests) == sent  # no credentials: Hostaway is not called
    [fetched] = stored(engine, "reservation.fetched")
    assert fetched.startswith(f"{CONNECTION}:fetched:{FIRST_ID + 7}:")
    normalizer = Normalizer(engine, {"hostaway": HostawayConnector()}, lambda _: [], batch_size=50)
    assert normalizer.drain_batch() == 1
    with engine.connect() as connection:
        [envelope] = connection.execute(select(internal_events.c.envelope)).scalars()
    assert envelope["data"]["source_reservation_id"] == str(FIRST_ID + 7)


async def test_changes_catch_up_a_change_no_webhook_brought(
    temporal: WorkflowEnvironment,
    context: CallsContext,
    engine: Engine,
    server: PartnerServer,
    hostaway: FakeHostaway,
) -> None:
    hostaway.reservations = [
        {**samples.reservation(reservation_id=FIRST_ID + 1), "updatedOn": "2026-11-21 09:00:00"},
        {**samples.reservation(reservation_id=FIRST_ID + 2), "updatedOn": "2026-11-20 11:30:00"},
    ]
    with engine.begin() as connection:  # where the last run stopped
        poll_cursors.advance(connection, partner="hostaway", source="changes",
                             instance=CONNECTION, expected=None, cursor="2026-11-20T12:00:00")  # fmt: skip
    poll = PollInput("hostaway", "changes", instance=CONNECTION)
    async with hostaway_worker(temporal.client, context) as queue:
        first = await run_poll(temporal.client, queue, poll)
        # Cancelled at Hostaway, and its webhook never came.
        cancelled = {**hostaway.reservations[1], "status": "cancelled",
                     "updatedOn": "2026-11-21 09:30:00"}  # fmt: skip
        hostaway.reservations[1] = cancelled
        again = await run_poll(temporal.client, queue, poll)

    assert first == PollResult(pages=1, stored=2, duplicates=0, more=False)
    assert again == PollResult(pages=1, stored=1, duplicates=1, more=False)
    starts = [r.query["latestActivityStart"][0] for r in server.requests if "sortOrder" in r.query]
    assert starts == ["2026-11-20", "2026-11-21"]  # the newest change minus the overlap
    assert cursor(engine, "changes") == "2026-11-21T09:30:00"

    normalizer = Normalizer(engine, {"hostaway": HostawayConnector()}, lambda _: [], batch_size=50)
    assert normalizer.drain_batch() == 3
    with engine.connect() as connection:
        envelopes = connection.execute(select(internal_events.c.envelope)).scalars().all()
    statuses = {(e["data"]["source_reservation_id"], e["data"]["status"]) for e in envelopes}
    assert (str(FIRST_ID + 2), "cancelled") in statuses


async def test_a_listing_deleted_at_hostaway_is_removed_once(
    temporal: WorkflowEnvironment, context: CallsContext, engine: Engine
) -> None:
    keep_listings(engine, CONNECTION, 40160, 40161, 40999)  # 40999 is gone at Hostaway
    poll = PollInput("hostaway", "listings", instance=CONNECTION)
    async with hostaway_worker(temporal.client, context) as queue:
        first = await run_poll(temporal.client, queue, poll)
        again = await run_poll(temporal.client, queue, poll)

    assert first == PollResult(pages=1, stored=3, duplicates=0, more=False)
    assert again == PollResult(pages=1, stored=0, duplicates=3, more=False)
    [vanished] = stored(engine, "listing.vanished")
    assert vanished.startswith(f"{CONNECTION}:vanished:40999:")
    normalizer = Normalizer(engine, {"hostaway": HostawayConnector()}, lambda _: [], batch_size=50)
    assert normalizer.drain_batch() == 3
    with engine.connect() as connection:
        envelopes = connection.execute(select(internal_events.c.envelope)).scalars().all()
    removed = [e["subject"] for e in envelopes if e["type"] == "pms.listing_removed"]
    assert removed == [f"{CONNECTION}/40999"]
