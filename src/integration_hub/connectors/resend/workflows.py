"""The Resend send workflow: one per message id (`email.send/{message_id}`, started by the
core route), running the send activity under the shared timeout and retry policy."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors.mail import SendEmailInput, SendEmailResult
    from integration_hub.connectors.outbound import call_activity
    from integration_hub.connectors.resend.calls import ResendEmail


@workflow.defn(name="resend.send_email")
class ResendSendEmailWorkflow:
    @workflow.run
    async def run(self, input: SendEmailInput) -> SendEmailResult:
        return await call_activity(ResendEmail.send_email, input)
