"""Through a real Temporal worker: Temporal, not the client, retries; the purge runs as a workflow."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from integration_hub.connectors.google_maps.calls import GeocodeInput, GoogleMapsCalls, PurgeInput
from integration_hub.connectors.google_maps.schedule import SCHEDULE_ID, ensure_purge_schedule
from integration_hub.connectors.google_maps.workflows import (
    GeocodeWorkflow,
    MapsCachePurgeWorkflow,
)
from tests.connectors.google_maps.conftest import PLACE_ID, Clock, maps_worker
from tests.partner_server import PartnerServer, Reply

ADDRESS = "1000 Brickell Ave, Miami, FL 33131"


async def _geocode(temporal: WorkflowEnvironment, task_queue: str) -> object:
    return await temporal.client.execute_workflow(
        GeocodeWorkflow.run,
        GeocodeInput(address=ADDRESS),
        id=f"geocode-{uuid.uuid4().hex}",
        task_queue=task_queue,
    )


async def test_over_query_limit_is_retried_until_it_succeeds(
    temporal: WorkflowEnvironment, calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    maps_server.reply(Reply(body={"status": "OVER_QUERY_LIMIT", "results": []}))
    async with maps_worker(temporal.client, calls) as task_queue:
        result = await _geocode(temporal, task_queue)
    assert getattr(result, "place_id", None) == PLACE_ID
    assert len(maps_server.requests) == 2


async def test_http_429_is_retried_after_its_retry_after(
    temporal: WorkflowEnvironment, calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    maps_server.reply(Reply(status=429, body={}, headers={"Retry-After": "3"}))
    async with maps_worker(temporal.client, calls) as task_queue:
        await _geocode(temporal, task_queue)
    first, second = maps_server.requests
    assert second.at - first.at >= 3.0  # the policy alone would retry after 1 s


async def test_request_denied_fails_the_workflow_without_a_retry(
    temporal: WorkflowEnvironment, calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    maps_server.reply(Reply(body={"status": "REQUEST_DENIED", "results": []}))
    async with maps_worker(temporal.client, calls) as task_queue:
        with pytest.raises(WorkflowFailureError):
            await _geocode(temporal, task_queue)
    assert len(maps_server.requests) == 1


async def test_purge_workflow_deletes_expired_rows(
    temporal: WorkflowEnvironment, calls: GoogleMapsCalls, clock: Clock
) -> None:
    calls.geocode(GeocodeInput(address=ADDRESS))
    clock.advance(timedelta(days=31))
    async with maps_worker(temporal.client, calls) as task_queue:
        result = await temporal.client.execute_workflow(
            MapsCachePurgeWorkflow.run,
            PurgeInput(),
            id=f"purge-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )
    assert result.deleted == 1


async def test_purge_schedule_is_created_once_and_updated_after(
    temporal: WorkflowEnvironment,
) -> None:
    await ensure_purge_schedule(temporal.client, "queue-a")
    await ensure_purge_schedule(temporal.client, "queue-b", interval=timedelta(hours=12))
    handle = temporal.client.get_schedule_handle(SCHEDULE_ID)
    try:
        description = await handle.describe()
        action = description.schedule.action
        assert getattr(action, "task_queue", None) == "queue-b"
        assert description.schedule.spec.intervals[0].every == timedelta(hours=12)
    finally:
        await handle.delete()
