"""`hostaway.fetch_reservation` (`pms.fetch_workflow("hostaway")`): the core starts it by that
name with `pms.FetchReservation`; it runs the fetch activity under the shared call policy."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors import pms
    from integration_hub.connectors.hostaway.calls import HostawayCalls
    from integration_hub.connectors.outbound import call_activity


@workflow.defn(name="hostaway.fetch_reservation")
class HostawayFetchReservationWorkflow:
    @workflow.run
    async def run(self, request: pms.FetchReservation) -> pms.FetchOutcome:
        return await call_activity(HostawayCalls.fetch_reservation, request)
