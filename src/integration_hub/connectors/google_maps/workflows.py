"""Maps workflows. Deterministic only: every call and every database write is an activity.

`GeocodeWorkflow`, `DirectionsWorkflow` and `DistanceMatrixWorkflow` run one call each with
the shared call-out retry policy (`OVER_QUERY_LIMIT`, 429 and 5xx are retried with backoff or
after `Retry-After`; `REQUEST_DENIED` and `INVALID_REQUEST` fail at once). Other workflows can
call the activities the same way. `MapsCachePurgeWorkflow` deletes expired cache rows; a
Temporal Schedule runs it daily (`schedule.py`), and `hub maps purge` does the same directly.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors.google_maps.calls import (
        DirectionsInput,
        DirectionsResult,
        DistanceMatrixInput,
        DistanceMatrixResult,
        GeocodeInput,
        GeocodeResult,
        GoogleMapsCalls,
        PurgeInput,
        PurgeResult,
    )
    from integration_hub.connectors.outbound import call_activity

PURGE_TIMEOUT = timedelta(minutes=5)
PURGE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=5)


@workflow.defn(name="google_maps.geocode")
class GeocodeWorkflow:
    @workflow.run
    async def run(self, input: GeocodeInput) -> GeocodeResult:
        return await call_activity(GoogleMapsCalls.geocode, input)


@workflow.defn(name="google_maps.directions")
class DirectionsWorkflow:
    @workflow.run
    async def run(self, input: DirectionsInput) -> DirectionsResult:
        return await call_activity(GoogleMapsCalls.directions, input)


@workflow.defn(name="google_maps.distance_matrix")
class DistanceMatrixWorkflow:
    @workflow.run
    async def run(self, input: DistanceMatrixInput) -> DistanceMatrixResult:
        return await call_activity(GoogleMapsCalls.distance_matrix, input)


@workflow.defn(name="google_maps.purge_cache")
class MapsCachePurgeWorkflow:
    @workflow.run
    async def run(self, input: PurgeInput) -> PurgeResult:
        return await workflow.execute_activity_method(
            GoogleMapsCalls.purge_cache,
            input,
            start_to_close_timeout=PURGE_TIMEOUT,
            retry_policy=PURGE_RETRY,
        )


MAPS_WORKFLOWS: tuple[type, ...] = (
    GeocodeWorkflow,
    DirectionsWorkflow,
    DistanceMatrixWorkflow,
    MapsCachePurgeWorkflow,
)
