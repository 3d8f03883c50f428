"""Cleaners: register one (operators; audited), list them with their payout readiness.

`payable` is the cleaners handler's rule (orchestration/cleaners.py): the payout account can
receive payouts and is not restricted. A partner's onboarding route (a payout account for a
cleaner) is contributed by that partner (`Partner.routes`)."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from integration_hub.orchestration.cleaners import payable
from integration_hub.orchestration.escalation import CLEANER_TAG
from integration_hub.orchestration.handlers import support_provider
from integration_hub.orchestration.outbox import Outbox
from integration_hub.orchestration.support_tags import tag_contact
from integration_hub.storage import cleaners as cleaner_rows
from integration_hub.storage import contracts
from integration_hub.storage.rows import utcnow
from integration_hub.web.admin.deps import OPERATOR, DatabaseDep, HubDep, api_router
from integration_hub.web.audit import add_audit_detail
from integration_hub.web.validation import Limit, StorableText

router = api_router()

CLEANER_ID_PATTERN = r"^cln_[0-9a-f]{32}$"
CleanerId = Annotated[str, Path(pattern=CLEANER_ID_PATTERN)]


class CleanerIn(BaseModel):
    name: StorableText = Field(min_length=1, max_length=255)
    phone: str = Field(
        pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164; also the cleaner's contact."
    )
    language: Literal["es", "en"] = "es"


class CleanerOut(BaseModel):
    id: str
    name: str
    phone: str
    language: str
    payout_partner: str | None
    payout_account_id: str | None
    charges_enabled: bool
    payouts_enabled: bool
    disabled_reason: str | None = Field(description="Why the payout account is restricted.")
    requirements_due: list[str] = Field(description="What the cleaner must still provide.")
    payable: bool = Field(description="Payouts may be planned to this cleaner now.")
    contract_signed: bool | None = Field(
        default=None,
        description="Whether the cleaner holds a signed, unexpired contract (subject "
        "`cleaner:<id>`); shown by GET /api/cleaners/{id} only, null in lists.",
    )
    readiness_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CleanerPage(BaseModel):
    items: list[CleanerOut]
    next_cursor: str | None


def cleaner_out(cleaner: dict[str, Any], contract_signed: bool | None = None) -> CleanerOut:
    return CleanerOut(**cleaner, payable=payable(cleaner), contract_signed=contract_signed)


@router.post("/cleaners", status_code=201, dependencies=OPERATOR)
async def add_cleaner(
    body: CleanerIn, hub: HubDep, database: DatabaseDep, http: Request
) -> CleanerOut:
    """Register a cleaner; its phone becomes a messaging contact in its language, tagged
    "cleaner" (pushed to the support inbox's contact when one is configured)."""
    inbox = support_provider(hub.settings)

    def write(connection: Any) -> dict[str, Any]:
        cleaner = cleaner_rows.add_cleaner(
            connection, name=body.name, phone=body.phone, language=body.language
        )
        tag_contact(connection, Outbox(), phone=body.phone, tag=CLEANER_TAG, name=body.name,
                    provider=inbox, locale=body.language)  # fmt: skip
        return cleaner

    try:
        cleaner = await database.write(write)
    except cleaner_rows.CleanerExists as exists:
        raise HTTPException(
            409, detail={"error": "cleaner_exists", "detail": exists.detail}
        ) from None
    add_audit_detail(http, f"cleaner_id={cleaner['id']}")
    # A new id: no contract names it yet (GET answers the same).
    return cleaner_out(cleaner, contract_signed=False)


@router.get("/cleaners")
async def list_cleaners(
    database: DatabaseDep,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(pattern=CLEANER_ID_PATTERN)] = None,
) -> CleanerPage:
    rows = await database.read(
        lambda c: cleaner_rows.list_cleaners(c, limit=limit, after_id=cursor)
    )
    return CleanerPage(
        items=[cleaner_out(r) for r in rows],
        next_cursor=rows[-1]["id"] if len(rows) == limit else None,
    )


@router.get("/cleaners/{cleaner_id}")
async def get_cleaner(cleaner_id: CleanerId, database: DatabaseDep) -> CleanerOut:
    def read(c: Any) -> tuple[dict[str, Any] | None, bool]:
        subject = contracts.cleaner_ref(cleaner_id)
        signed = contracts.signed_contract(c, subject_ref=subject, now=utcnow())
        return cleaner_rows.get_cleaner(c, cleaner_id=cleaner_id), signed is not None

    cleaner, signed = await database.read(read)
    if cleaner is None:
        raise HTTPException(404, detail={"error": "not_found", "detail": "no such cleaner"})
    return cleaner_out(cleaner, contract_signed=signed)
