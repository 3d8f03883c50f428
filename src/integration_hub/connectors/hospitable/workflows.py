"""`hospitable.fetch_reservation`: fetch one reservation of one connection and store it as a
raw event, under the shared call timeout and retry policy. Hospitable's webhooks are whole, so
the core seldom asks; replays and backfills do."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors import pms
    from integration_hub.connectors.hospitable import NAME
    from integration_hub.connectors.hospitable.calls import HospitableCalls
    from integration_hub.connectors.outbound import call_activity


@workflow.defn(name=pms.fetch_workflow(NAME))
class FetchReservationWorkflow:
    @workflow.run
    async def run(self, request: pms.FetchReservation) -> pms.FetchOutcome:
        return await call_activity(HospitableCalls.fetch_reservation, request)
