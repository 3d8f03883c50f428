"""A workflow that calls the support inbox's activities by their contract names, as the core's
escalation workflow does (it knows no inbox): for the Temporal round trip test."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors.outbound import CALL_RETRY, CALL_TIMEOUT
    from integration_hub.connectors.support_inbox import (
        ContactTagsRequest,
        EscalationRequest,
        InboxContact,
        InboxConversation,
        support_activity,
    )


@workflow.defn(name="test.support_probe")
class SupportProbeWorkflow:
    @workflow.run
    async def run(
        self, provider: str, escalation: EscalationRequest, tags: ContactTagsRequest
    ) -> tuple[InboxConversation, InboxContact]:
        opened = await workflow.execute_activity(
            support_activity(provider, "escalate"),
            escalation,
            result_type=InboxConversation,
            start_to_close_timeout=CALL_TIMEOUT,
            retry_policy=CALL_RETRY,
        )
        contact = await workflow.execute_activity(
            support_activity(provider, "sync_tags"),
            tags,
            result_type=InboxContact,
            start_to_close_timeout=CALL_TIMEOUT,
            retry_policy=CALL_RETRY,
        )
        return opened, contact
