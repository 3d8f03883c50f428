"""E-mail sends: `POST /api/emails` (operators; audited), through the configured e-mail
provider (`HUB_EMAIL_PROVIDER`, or the only partner providing `email`).

Everything the hub can refuse is refused here, before anything starts or any request leaves:
no provider or sender configured, a bad address, an unknown template or a missing variable,
and a suppressed address (422 `suppressed`, like an opted-out phone number). Otherwise the
provider's send workflow starts under `email.send/{message_id}`: the same message id never
sends twice (it is the workflow id and the outbound guard), and the answer is 202 at once.
The address is personal data: neither the audit entry nor a log line carries it."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from datetime import datetime
from typing import Annotated, Literal

from fastapi import HTTPException, Path, Request
from pydantic import BaseModel, Field
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from integration_hub.connectors.mail import (
    MAX_ADDRESS,
    OPERATION,
    SendEmailInput,
    SendEmailResult,
    Unsendable,
    compose,
    send_workflow_id,
    send_workflow_name,
)
from integration_hub.connectors.outbound import refuse
from integration_hub.connectors.partners import provider_for
from integration_hub.storage import email_suppressions, outbound_messages
from integration_hub.storage.rows import as_utc
from integration_hub.web.admin.deps import (
    OPERATOR,
    DatabaseDep,
    HubDep,
    api_router,
    connected_client,
)
from integration_hub.web.audit import add_audit_detail
from integration_hub.web.validation import StorableText

router = api_router()

MAX_VARIABLES = 30
VariableName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,63}$")]
VariableValue = Annotated[StorableText, Field(max_length=1024)]
# Where a refusal is counted and logged when no provider is configured.
NO_PROVIDER = "email"


class EmailRequest(BaseModel):
    # Letters, digits, _ and -: what every provider carries back in its events (a Resend tag
    # value allows no more), so each delivery event names the message it is about.
    message_id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Our own id; sent once.",
    )
    to: StorableText = Field(min_length=3, max_length=MAX_ADDRESS)
    template: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="e.g. job_offer, welcome")
    language: Literal["es", "en"]
    variables: dict[VariableName, VariableValue] = Field(
        default_factory=dict,
        max_length=MAX_VARIABLES,
        description=f"The template's variables: at most {MAX_VARIABLES}, values up to 1024.",
    )


class EmailOut(BaseModel):
    message_id: str
    workflow_id: str
    provider: str
    status: Literal["started", "already_started"]


class EmailState(BaseModel):
    """What the hub knows of a send (never the address): `new`, `sending`, `sent`, `failed`,
    or `unknown` (an attempt's outcome was lost)."""

    message_id: str
    provider: str
    state: str
    provider_message_id: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime


def _refused(status: int, provider: str, reason: str, detail: str) -> HTTPException:
    refuse(provider, OPERATION, f"{reason}: {detail}")  # the log line and the metric
    return HTTPException(status, detail={"error": reason, "detail": detail})


@router.post(
    "/emails",
    status_code=202,
    dependencies=OPERATOR,
    responses={
        422: {
            "description": "Refused: suppressed, bad address, unknown template, a missing "
            "variable, no e-mail provider or sender configured (like the other sends, a refusal "
            "the hub makes itself is a 422 with its reason)"
        },
    },
)
async def send_email(
    body: EmailRequest, hub: HubDep, database: DatabaseDep, http: Request
) -> EmailOut:
    """Send one templated e-mail through the configured provider; answers once started."""
    add_audit_detail(
        http, f"message_id={body.message_id} template={body.template} language={body.language}"
    )
    provider = provider_for("email", hub.settings.email_provider)
    if provider is None:
        raise _refused(
            422,
            NO_PROVIDER,
            "email_not_configured",
            "set HUB_EMAIL_PROVIDER (several provide email)",
        )
    input = SendEmailInput(**body.model_dump())
    try:
        compose(hub.settings, input)
    except Unsendable as unsendable:
        raise _refused(422, provider.name, unsendable.reason, unsendable.detail) from None
    row = await database.read(lambda c: email_suppressions.get_suppression(c, address=body.to))
    if row is not None and row["suppressed"]:
        raise _refused(
            422,
            provider.name,
            "suppressed",
            f"the address is suppressed ({row['reason']}) since {row['since']:%Y-%m-%d}",
        )
    client = await connected_client(hub)
    workflow_id = send_workflow_id(body.message_id)
    outcome: Literal["started", "already_started"] = "started"
    try:
        await client.start_workflow(
            send_workflow_name(provider.name),
            input,
            id=workflow_id,
            task_queue=hub.settings.task_queue,
            result_type=SendEmailResult,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except WorkflowAlreadyStartedError:
        outcome = "already_started"
    return EmailOut(
        message_id=body.message_id, workflow_id=workflow_id, provider=provider.name, status=outcome
    )


@router.get("/emails/{message_id}", responses={404: {"description": "No such e-mail"}})
async def email_state(
    message_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$")], database: DatabaseDep
) -> EmailState:
    """Where a send stands: the outbound record of the message id."""
    row = await database.read(
        lambda c: outbound_messages.get_outbound_message(c, message_id=message_id)
    )
    if row is None or row["channel"] != "email":
        raise HTTPException(404, detail={"error": "not_found", "detail": "no such e-mail"})
    return EmailState(
        message_id=row["message_id"],
        provider=row["partner"],
        state=row["state"],
        provider_message_id=row["partner_message_id"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
    )
