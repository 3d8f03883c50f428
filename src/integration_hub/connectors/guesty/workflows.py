"""`guesty.fetch_reservation` (pms.fetch_workflow): the core starts it for an incomplete
reservation (a lean v2 webhook); its activity fetches the reservation and stores it as a raw
event under the shared timeout and retry policy."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors import pms
    from integration_hub.connectors.guesty import NAME
    from integration_hub.connectors.guesty.calls import GuestyCalls
    from integration_hub.connectors.outbound import call_activity


@workflow.defn(name=pms.fetch_workflow(NAME))
class GuestyFetchReservationWorkflow:
    @workflow.run
    async def run(self, request: pms.FetchReservation) -> pms.FetchOutcome:
        return await call_activity(GuestyCalls.fetch_reservation, request)
