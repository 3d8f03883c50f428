"""The admin API's message sends: `POST /api/messages` (operators; audited).

Built by the hub from `RoutesContext` (connectors/partner.py) and mounted under `/api`, so this
module reaches the running hub only through that context: its Temporal client, its role checks
and its audit trail."""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field
from temporalio.exceptions import WorkflowAlreadyStartedError

from integration_hub.connectors.partner import RoutesContext
from integration_hub.connectors.text import StorableText
from integration_hub.connectors.twilio.messaging import SendMessageInput, SendMessageResult
from integration_hub.connectors.twilio.workflows import (
    SendMessageWorkflow,
    send_message_workflow_id,
    start_send_message,
)

if TYPE_CHECKING:
    from fastapi import APIRouter

# Template variables travel in the workflow's input: bounded so a request cannot exceed Temporal's
# payload limit (an unbounded map was a 500); Twilio's templates number theirs "1", "2", ...
MAX_VARIABLES = 50
MAX_VARIABLE_NAME = 64
MAX_VARIABLE_VALUE = 1024
VariableName = Annotated[StorableText, Field(min_length=1, max_length=MAX_VARIABLE_NAME)]
VariableValue = Annotated[StorableText, Field(max_length=MAX_VARIABLE_VALUE)]
# How long a request with `wait` waits for Twilio's answer before it is a 5xx.
WAIT_SECONDS = 60


class MessageRequest(BaseModel):
    message_id: StorableText = Field(
        min_length=1, max_length=128, description="Our own id; sent once."
    )
    to: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, no channel prefix.")
    channel: Literal["sms", "whatsapp"]
    body: StorableText | None = Field(default=None, max_length=1600)
    template: StorableText | None = Field(
        default=None, max_length=255, description="A name in HUB_WHATSAPP_TEMPLATES."
    )
    variables: dict[VariableName, VariableValue] = Field(
        default_factory=dict,
        max_length=MAX_VARIABLES,
        description=f"The template's variables: at most {MAX_VARIABLES}, names up to "
        f"{MAX_VARIABLE_NAME} characters, values up to {MAX_VARIABLE_VALUE}.",
    )
    wait: bool = Field(default=True, description="Wait for Twilio's answer (up to 60 s).")


class MessageOut(BaseModel):
    message_id: str
    workflow_id: str
    status: str
    message_sid: str | None = None


def message_routes(context: RoutesContext) -> "APIRouter":
    # FastAPI is imported only when the hub builds its web app: reading the declaration (the
    # worker, the CLI) does not pay for it.
    from fastapi import Request

    router = context.router()

    @router.post(
        "/messages",
        dependencies=context.operator,
        responses={422: {"description": "Refused: opted out, no template"}},
    )
    async def send_message(request: MessageRequest, http: Request) -> MessageOut:
        """Send an SMS or WhatsApp message through Twilio and wait for the outcome.

        The same `message_id` never sends twice: it is the workflow id and the send guard."""
        context.audit_detail(http, f"message_id={request.message_id} channel={request.channel}")
        client = await context.temporal()
        fields = request.model_dump(exclude={"wait"})
        try:
            handle = await start_send_message(
                client, SendMessageInput(**fields), task_queue=context.settings.task_queue
            )
        except WorkflowAlreadyStartedError:
            # Sent (or sending) already: report that run's outcome, typed like a fresh one.
            handle = client.get_workflow_handle_for(
                SendMessageWorkflow.run, send_message_workflow_id(request.message_id)
            )
        if not request.wait:
            return MessageOut(
                message_id=request.message_id, workflow_id=handle.id, status="started"
            )
        result: SendMessageResult = await context.result(
            handle, seconds=WAIT_SECONDS, failed="send_failed"
        )
        return MessageOut(
            message_id=result.message_id,
            workflow_id=handle.id,
            status="already_sent" if result.already_sent else result.status,
            message_sid=result.message_sid,
        )

    return router
