"""A stand-in for the core's escalation workflow (built elsewhere): it runs Intercom's escalate
activity by its method under the shared call policy, as a worker would, so the tests see
Temporal's retries reach the activity's guard. Imports only what the sandbox passes through."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors.intercom.calls import IntercomCalls
    from integration_hub.connectors.outbound import call_activity
    from integration_hub.connectors.support_inbox import EscalationRequest, InboxConversation


@workflow.defn(name="test.intercom_escalate")
class EscalateWorkflow:
    @workflow.run
    async def run(self, request: EscalationRequest) -> InboxConversation:
        return await call_activity(IntercomCalls.escalate, request)
