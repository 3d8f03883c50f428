"""The send-message workflow: one per message of ours, its id derived from our message id, so
asking twice to send the same message starts nothing new (and the activity's guard covers
retries). Deterministic only: the call is the activity.

Its name, its id and its input's first fields are the core's messaging contract
(connectors/messaging.py: `send_workflow`, `send_workflow_id`, `OutboundMessage`): the core
starts it through the outbox by that name, e.g. to relay an agent's reply from the support
inbox."""

from __future__ import annotations

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors.outbound import call_activity
    from integration_hub.connectors.twilio.messaging import (
        SendMessageInput,
        SendMessageResult,
        TwilioMessaging,
    )


def send_message_workflow_id(message_id: str) -> str:
    return f"twilio.send_message/{message_id}"


@workflow.defn(name="twilio.send_message")
class SendMessageWorkflow:
    @workflow.run
    async def run(self, input: SendMessageInput) -> SendMessageResult:
        return await call_activity(TwilioMessaging.send_message, input)


async def start_send_message(
    client: Client, input: SendMessageInput, *, task_queue: str
) -> WorkflowHandle[SendMessageWorkflow, SendMessageResult]:
    """Start sending; a message already sent (or being sent) is not started again. One whose
    workflow failed may be asked for again: the stored record decides whether that is safe."""
    return await client.start_workflow(
        SendMessageWorkflow.run,
        input,
        id=send_message_workflow_id(input.message_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )


TWILIO_WORKFLOWS: tuple[type, ...] = (SendMessageWorkflow,)
