"""Invitations (admins; audited): invite a user through the auth provider, list and read
invitations, revoke one.

`POST /api/invitations` makes the invitation row and queues its workflow's start in the same
transaction (the outbox: started once, `invitation/{id}`), answering 202 with both; the
provider is asked by the workflow (orchestration/invitations.py). One invitation is open per
(provider, e-mail): a second POST for an open e-mail answers 409 `invitation_open` naming the
open one, and the provider is not asked again. `DELETE` closes the row `revoked` and queues
the `revoke` signal in one transaction (after the start, in order): the invitation is closed
whether or not its workflow still runs, and the workflow revokes it at the provider (a revoke
the provider does not take turns it `failed`, `revoke_failed`). Each invite first expires, in
its own transaction, open rows past their expiry by more than `SWEEP_GRACE` (a workflow that
is gone never closes its row). E-mails are never logged: the audit entry names the id."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import structlog
from fastapi import Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field, field_validator

from integration_hub.connectors.partners import provider_for
from integration_hub.errors import UnknownPartner
from integration_hub.orchestration.invitations import (
    WORKFLOW,
    Closure,
    InvitationStart,
    workflow_id,
)
from integration_hub.orchestration.outbox import Outbox
from integration_hub.runtime import Hub
from integration_hub.storage import invitations as rows
from integration_hub.storage.rows import utcnow
from integration_hub.web.admin.deps import ADMIN, DatabaseDep, HubDep, api_router, require
from integration_hub.web.audit import add_audit_detail
from integration_hub.web.auth import Principal, Role
from integration_hub.web.validation import Limit

log = structlog.get_logger(__name__)
router = api_router()

INVITATION_ID_PATTERN = r"^inv_[0-9a-f]{32}$"
InvitationId = Annotated[str, Path(pattern=INVITATION_ID_PATTERN)]
# A deliberately plain address: dot-atom local part, a host name of labels (RFC 5321 sizes).
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
INVITER_NAME = "Integration Hub"  # shown in the provider's invitation e-mail (Auth0)
SIGN_IN_PATH = "/status/login"
AdminPrincipal = Annotated[Principal, Depends(require(Role.ADMIN))]
SWEEP_GRACE = timedelta(hours=1)  # the workflow's own timer closes a row first
SWEEP_LIMIT = 100


class InvitationIn(BaseModel):
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    role: Literal["viewer", "operator", "admin"]

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class InvitationOut(BaseModel):
    id: str
    provider: str
    email: str
    role: str
    status: str = Field(description="pending, sent, accepted, expired, revoked or failed.")
    provider_invitation_id: str | None
    invited_by: str
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    reason: str | None
    workflow_id: str


class InvitationPage(BaseModel):
    items: list[InvitationOut]
    next_cursor: str | None


def _out(invitation: dict[str, Any]) -> InvitationOut:
    return InvitationOut(**invitation, workflow_id=workflow_id(invitation["id"]))


def _refused(status: int, error: str, detail: str) -> HTTPException:
    return HTTPException(status, detail={"error": error, "detail": detail})


def _provider(hub: Hub) -> tuple[str, str]:
    """The active auth provider able to invite and the public base URL, or 422 saying what
    is missing (names of secrets, never values)."""
    try:
        partner = provider_for("auth", hub.settings.auth_provider)
    except UnknownPartner as error:
        raise _refused(422, "auth_provider_unknown", error.detail) from None
    if partner is None:
        raise _refused(422, "auth_provider_missing", "set HUB_AUTH_PROVIDER")
    if partner.identity is None:
        raise _refused(422, "invitations_unsupported", f"{partner.name} cannot invite users")
    missing = [n for n in partner.identity.invitation_secrets if not hub.secrets.versions(n)]
    if missing:
        raise _refused(422, "provider_secret_missing", f"set {', '.join(missing)}")
    base_url = hub.settings.public_base_url
    if not base_url:
        raise _refused(422, "public_base_url_missing", "set HUB_PUBLIC_BASE_URL")
    return partner.name, base_url


@router.post("/invitations", status_code=202, dependencies=ADMIN)
async def invite(
    body: InvitationIn, hub: HubDep, database: DatabaseDep, principal: AdminPrincipal, http: Request
) -> InvitationOut:
    """Invite a user with a role; the auth provider sends the invitation e-mail."""
    provider, base_url = _provider(hub)
    ttl = hub.settings.invitation_ttl_seconds
    redirect_url = base_url.rstrip("/") + SIGN_IN_PATH

    def sweep(connection: Any) -> list[str]:
        return rows.expire_overdue(connection, before=utcnow() - SWEEP_GRACE, limit=SWEEP_LIMIT)

    swept = await database.write(sweep)
    if swept:
        log.warning("invitations_swept", count=len(swept), invitation_ids=swept[:10])

    def write(connection: Any) -> dict[str, Any]:
        made = rows.create_invitation(
            connection,
            provider=provider,
            email=body.email,
            role=body.role,
            invited_by=principal.subject,
            expires_at=utcnow() + timedelta(seconds=ttl),
        )
        start = InvitationStart(
            invitation_id=made["id"], provider=provider, email=body.email, role=body.role,
            redirect_url=redirect_url, ttl_seconds=ttl, inviter=INVITER_NAME,
        )  # fmt: skip
        Outbox().start(
            connection, workflow=WORKFLOW, workflow_id=workflow_id(made["id"]),
            dedup=made["id"], input=start,
        )  # fmt: skip
        return made

    try:
        invitation = await database.write(write)
    except rows.InvitationOpen as held:
        add_audit_detail(http, f"invitation_id={held.invitation_id}")
        raise _refused(409, held.reason, f"{held.detail}: {held.invitation_id}") from None
    add_audit_detail(http, f"invitation_id={invitation['id']}")
    log.info(
        "invitation_created", invitation_id=invitation["id"], provider=provider, role=body.role
    )
    return _out(invitation)


@router.get("/invitations", dependencies=ADMIN)  # e-mails and roles: admins only
async def list_invitations(
    database: DatabaseDep,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(pattern=INVITATION_ID_PATTERN)] = None,
    status: Annotated[list[rows.InvitationStatus] | None, Query(max_length=6)] = None,
) -> InvitationPage:
    found = await database.read(
        lambda c: rows.list_invitations(c, limit=limit, after_id=cursor, statuses=status or ())
    )
    return InvitationPage(
        items=[_out(r) for r in found],
        next_cursor=found[-1]["id"] if len(found) == limit else None,
    )


@router.get("/invitations/{invitation_id}", dependencies=ADMIN)
async def get_invitation(invitation_id: InvitationId, database: DatabaseDep) -> InvitationOut:
    found = await database.read(lambda c: rows.get_invitation(c, invitation_id=invitation_id))
    if found is None:
        raise _refused(404, "not_found", "no such invitation")
    return _out(found)


@router.delete("/invitations/{invitation_id}", status_code=202, dependencies=ADMIN)
async def revoke(
    invitation_id: InvitationId, database: DatabaseDep, principal: AdminPrincipal, http: Request
) -> InvitationOut:
    """Revoke an open invitation at the provider (its workflow does it, then closes it)."""
    add_audit_detail(http, f"invitation_id={invitation_id}")

    def write(connection: Any) -> tuple[dict[str, Any] | None, bool]:
        found = rows.get_invitation(connection, invitation_id=invitation_id)
        if found is None or found["status"] not in rows.OPEN:
            return found, False
        reason = f"revoked by {principal.subject}"
        if not rows.close_invitation(
            connection, invitation_id=invitation_id, status=rows.InvitationStatus.REVOKED,
            reason=reason,
        ):  # fmt: skip
            return rows.get_invitation(connection, invitation_id=invitation_id), False
        Outbox().signal(
            connection, workflow_id=workflow_id(invitation_id), signal="revoke",
            dedup="revoke", input=Closure(reason=reason),
        )  # fmt: skip
        return rows.get_invitation(connection, invitation_id=invitation_id), True

    found, closed = await database.write(write)
    if found is None:
        raise _refused(404, "not_found", "no such invitation")
    if not closed:
        log.info("invitation_revoke_refused", invitation_id=invitation_id, reason="closed")
        raise _refused(409, "invitation_closed", f"the invitation is {found['status']}")
    log.info("invitation_revoked", invitation_id=invitation_id)
    return _out(found)
