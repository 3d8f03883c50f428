"""DocuSign's call-out workflow: deterministic only, every call is an activity of
`DocuSignCalls`. Start it with `input.workflow_id()` (`docusign.send_contract/{contract id}`)
and `id_reuse_policy=REJECT_DUPLICATE`: one run per contract, ever."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors.docusign.calls import (
        DocuSignCalls,
        EnvelopeSent,
        SendContractInput,
    )
    from integration_hub.connectors.outbound import call_activity


@workflow.defn(name="docusign.send_contract")
class SendContractWorkflow:
    """Send the contract's envelope (once), then record it on the contract."""

    @workflow.run
    async def run(self, input: SendContractInput) -> EnvelopeSent:
        sent = await call_activity(DocuSignCalls.send_envelope, input)
        await call_activity(DocuSignCalls.record_envelope, sent)
        return sent


DOCUSIGN_WORKFLOWS: tuple[type, ...] = (SendContractWorkflow,)
