"""`ownerrez.fetch_reservation` (pms.fetch_workflow): the core starts it for a
`pms.reservation_hinted` of OwnerRez (id `pms.fetch_workflow_id`); its one activity fetches the
booking and stores it as a raw event, under the shared timeout and retry policy."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors import pms
    from integration_hub.connectors.outbound import call_activity
    from integration_hub.connectors.ownerrez import NAME
    from integration_hub.connectors.ownerrez.calls import OwnerRezCalls


@workflow.defn(name=pms.fetch_workflow(NAME))
class FetchReservationWorkflow:
    @workflow.run
    async def run(self, request: pms.FetchReservation) -> pms.FetchOutcome:
        return await call_activity(OwnerRezCalls.fetch_booking, request)
