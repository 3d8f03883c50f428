"""`POST /api/contracts` (operators; audited): a contract sent for signature from a configured
template in the signer's language; `GET /api/contracts?subject_ref=` lists a subject's.

Built by the hub from `RoutesContext` and mounted under `/api`. The contract row is made here
(status created); the `docusign.send_contract/{contract id}` workflow sends its envelope once
and records it, and Connect's events move it on (the contracts handler). The answer never
carries the signer's email."""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field
from temporalio.common import WorkflowIDReusePolicy

from integration_hub.connectors.docusign.auth import PARTNER
from integration_hub.connectors.docusign.calls import EnvelopeSent, SendContractInput
from integration_hub.connectors.docusign.settings import TEMPLATE_KEY, DocuSignSettings
from integration_hub.connectors.docusign.workflows import SendContractWorkflow
from integration_hub.connectors.partner import RoutesContext
from integration_hub.connectors.text import StorableText
from integration_hub.storage import contracts
from integration_hub.storage.contracts import SUBJECT_REF_PATTERN
from integration_hub.storage.engine import begin_write

if TYPE_CHECKING:
    from fastapi import APIRouter, HTTPException

WAIT_SECONDS = 60  # for DocuSign's answer before the request is a 5xx
MAX_FIELDS = 50
MAX_FIELD_LABEL = 100
MAX_FIELD_VALUE = 1000
MAX_LISTED = 100
FieldLabel = Annotated[StorableText, Field(min_length=1, max_length=MAX_FIELD_LABEL)]
FieldValue = Annotated[StorableText, Field(max_length=MAX_FIELD_VALUE)]


class Signer(BaseModel):
    name: StorableText = Field(min_length=1, max_length=255)
    email: str = Field(
        max_length=254, pattern=r"^[^@\s\x00]{1,64}@[^@\s\x00]{1,189}\.[^@\s\x00]{1,63}$"
    )


class ContractRequest(BaseModel):
    subject_ref: str = Field(
        pattern=SUBJECT_REF_PATTERN, description="Whom it binds, e.g. cleaner:cln_<hex>."
    )
    template: str = Field(pattern=TEMPLATE_KEY, description="A key of HUB_DOCUSIGN_TEMPLATES.")
    language: Literal["es", "en"]
    signer: Signer
    fields: dict[FieldLabel, FieldValue] = Field(
        default_factory=dict,
        max_length=MAX_FIELDS,
        description=f"Prefilled text tabs by label: at most {MAX_FIELDS}, labels up to "
        f"{MAX_FIELD_LABEL} characters, values up to {MAX_FIELD_VALUE}.",
    )


class ContractOut(BaseModel):
    id: str
    subject_ref: str
    template: str
    language: str
    provider: str
    status: str
    envelope_id: str | None
    sent_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None
    created_at: datetime


class SentContractOut(ContractOut):
    workflow_id: str


def _out(contract: dict[str, Any]) -> dict[str, Any]:
    return {name: contract[name] for name in ContractOut.model_fields}


def refused(status: int, error: str, detail: str) -> "HTTPException":
    from fastapi import HTTPException

    return HTTPException(status, detail={"error": error, "detail": detail})


def contract_routes(context: RoutesContext) -> "APIRouter":
    from fastapi import Query, Request

    router = context.router()
    templates = DocuSignSettings().templates

    def create(request: ContractRequest, valid_days: int | None) -> dict[str, Any]:
        with begin_write(context.engine) as connection:
            return contracts.create_contract(
                connection,
                subject_ref=request.subject_ref,
                template=request.template,
                language=request.language,
                signer_name=request.signer.name,
                signer_email=request.signer.email,
                provider=PARTNER,
                valid_days=valid_days,
            )

    def read(contract_id: str) -> dict[str, Any]:
        with context.engine.connect() as connection:
            contract = contracts.get_contract(connection, contract_id=contract_id)
        assert contract is not None  # made by this request
        return contract

    @router.post(
        "/contracts",
        status_code=201,
        dependencies=context.operator,
        responses={422: {"description": "Unknown template, or DocuSign refused the send"}},
    )
    async def send_contract(request: ContractRequest, http: Request) -> SentContractOut:
        """Make a contract and send it for signature (DocuSign envelope from the template)."""
        template = templates.get(request.template)
        if template is None:
            raise refused(
                422,
                "unknown_template",
                f"no template {request.template!r} in HUB_DOCUSIGN_TEMPLATES",
            )
        contract = await asyncio.to_thread(create, request, template.valid_days)
        context.audit_detail(http, f"contract_id={contract['id']}")
        input = SendContractInput(contract_id=contract["id"], fields=dict(request.fields))
        client = await context.temporal()
        handle = await client.start_workflow(
            SendContractWorkflow.run,
            input,
            id=input.workflow_id(),
            task_queue=context.settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        sent: EnvelopeSent = await context.result(
            handle, seconds=WAIT_SECONDS, failed="contract_send_failed"
        )
        shown = await asyncio.to_thread(read, sent.contract_id)
        return SentContractOut(**_out(shown), workflow_id=handle.id)

    @router.get("/contracts")
    async def list_contracts(
        subject_ref: Annotated[str, Query(pattern=SUBJECT_REF_PATTERN)],
        limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 20,
    ) -> list[ContractOut]:
        """A subject's contracts, newest first."""

        def listed() -> list[dict[str, Any]]:
            with context.engine.connect() as connection:
                return contracts.list_contracts(connection, subject_ref=subject_ref, limit=limit)

        return [ContractOut(**_out(c)) for c in await asyncio.to_thread(listed)]

    return router
