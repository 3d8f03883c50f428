"""Property managers and their PMS connections: add and list (admins write, viewers read;
contact details only for admins), remove a connection, release a held iCal feed.

A connection's id is an instance id: its secrets are `<FAMILY>__<ID>` (set with `hub secrets
set`; the answer names them), its webhooks arrive on /webhooks/<partner>/<id> when the partner
verifies per connection, and each `per_connection` poll source of its partner gets a schedule
`poll.<partner>.<source>.<id>`, made here when the hub's Temporal is connected (else at the
next worker start) and deleted with the connection."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from datetime import datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from integration_hub.connectors.partner import Partner
from integration_hub.connectors.partners import PARTNERS
from integration_hub.orchestration.polls import (
    delete_connection_schedules,
    ensure_connection_schedules,
)
from integration_hub.runtime import Hub
from integration_hub.secrets.instances import INSTANCE_ID
from integration_hub.storage import managers as manager_rows
from integration_hub.storage import stays
from integration_hub.web.admin.deps import ADMIN, DatabaseDep, HubDep, api_router
from integration_hub.web.audit import PRINCIPAL, add_audit_detail
from integration_hub.web.auth import Principal, Role
from integration_hub.web.validation import Limit, StorableText

log = structlog.get_logger(__name__)
router = api_router()

ID_PATTERN = rf"^{INSTANCE_ID.pattern}$"
PARTNER_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"  # a partner's name, as PARTNERS spells them
InstanceId = Annotated[str, Path(pattern=ID_PATTERN)]
CursorId = Annotated[str | None, Query(pattern=ID_PATTERN)]


def reservation_partners() -> dict[str, Partner]:
    return {p.name: p for p in PARTNERS if "reservations" in p.capabilities}


def _refused(status: int, error: str, detail: str) -> HTTPException:
    return HTTPException(status, detail={"error": error, "detail": detail})


def is_admin(request: Request) -> bool:
    principal = getattr(request.state, PRINCIPAL, None)
    return (
        isinstance(principal, Principal)
        and principal.role is not None
        and principal.role >= Role.ADMIN
    )


class ManagerIn(BaseModel):
    id: str = Field(pattern=ID_PATTERN, description="A slug: [a-z0-9][a-z0-9_-]{0,62}.")
    name: StorableText = Field(min_length=1, max_length=200)
    contact_email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    contact_phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")
    stripe_customer_id: str | None = Field(default=None, pattern=r"^cus_[A-Za-z0-9]{1,60}$")
    billing_mode: Literal["per_job", "monthly"] = "per_job"


class ManagerOut(BaseModel):
    id: str
    name: str
    contact_email: str | None = Field(description="Admins only; null for others.")
    contact_phone: str | None = Field(description="Admins only; null for others.")
    stripe_customer_id: str | None
    billing_mode: str
    created_at: datetime
    updated_at: datetime


class ManagerPage(BaseModel):
    items: list[ManagerOut]
    next_cursor: str | None


def manager_out(manager: dict[str, Any], *, admin: bool) -> ManagerOut:
    shown = dict(manager)
    if not admin:  # personal data
        shown["contact_email"] = shown["contact_phone"] = None
    return ManagerOut(**shown)


@router.post("/managers", status_code=201, dependencies=ADMIN)
async def add_manager(body: ManagerIn, database: DatabaseDep, http: Request) -> ManagerOut:
    try:
        manager = await database.write(
            lambda c: manager_rows.add_manager(
                c, manager_id=body.id, name=body.name, contact_email=body.contact_email,
                contact_phone=body.contact_phone, stripe_customer_id=body.stripe_customer_id,
                billing_mode=body.billing_mode,
            )
        )  # fmt: skip
    except manager_rows.ManagerExists as exists:
        raise _refused(409, "manager_exists", exists.detail) from None
    add_audit_detail(http, f"manager_id={body.id}")
    return manager_out(manager, admin=True)


@router.get("/managers")
async def list_managers(
    database: DatabaseDep, http: Request, limit: Limit = 100, cursor: CursorId = None
) -> ManagerPage:
    rows = await database.read(
        lambda c: manager_rows.list_managers(c, limit=limit, after_id=cursor)
    )
    admin = is_admin(http)
    return ManagerPage(
        items=[manager_out(r, admin=admin) for r in rows],
        next_cursor=rows[-1]["id"] if len(rows) == limit else None,
    )


class ConnectionIn(BaseModel):
    id: str = Field(pattern=ID_PATTERN, description="The connection's instance id.")
    partner: str = Field(
        pattern=PARTNER_PATTERN, description="A partner with capability reservations."
    )
    manager_id: str = Field(pattern=ID_PATTERN)
    label: StorableText | None = Field(default=None, max_length=200)
    options: dict[str, str | int | bool | None] = Field(
        default_factory=dict, max_length=32, description="Per partner, never a secret."
    )


class ConnectionOut(BaseModel):
    id: str
    partner: str
    manager_id: str
    account_ref: str | None
    label: str | None
    status: str
    held_reason: str | None
    held_at: datetime | None
    options: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    secrets: list[str] = Field(description="The secret names this connection reads.")
    webhook_path: str | None = Field(description="Where the partner posts, when it does.")
    schedules: list[str] | None = Field(
        default=None, description="Poll schedules made or deleted now (null: Temporal away)."
    )


class ConnectionPage(BaseModel):
    items: list[ConnectionOut]
    next_cursor: str | None


def connection_out(
    hub: Hub, row: dict[str, Any], schedules: list[str] | None = None
) -> ConnectionOut:
    partner = reservation_partners().get(row["partner"])
    names = [
        s.for_instance(row["id"]) for s in (partner.secrets if partner else ()) if s.per_instance
    ]
    connector = hub.connectors.get(row["partner"])
    per_endpoint = connector is not None and connector.manifest.secret_per_endpoint
    path = f"/webhooks/{row['partner']}/{row['id']}" if per_endpoint else None
    return ConnectionOut(**row, secrets=names, webhook_path=path, schedules=schedules)


@router.post("/connections", status_code=201, dependencies=ADMIN)
async def add_connection(
    body: ConnectionIn, hub: HubDep, database: DatabaseDep, http: Request
) -> ConnectionOut:
    partner = reservation_partners().get(body.partner)
    if partner is None:
        known = ", ".join(sorted(reservation_partners())) or "none"
        raise _refused(422, "unknown_partner", f"not a reservations partner (known: {known})")
    try:
        row = await database.write(
            lambda c: manager_rows.add_connection(
                c, connection_id=body.id, partner=body.partner, manager_id=body.manager_id,
                label=body.label, options=body.options,
            )
        )  # fmt: skip
    except manager_rows.UnknownManager as unknown:
        raise _refused(422, "unknown_manager", unknown.detail) from None
    except manager_rows.ConnectionExists as exists:
        raise _refused(409, "connection_exists", exists.detail) from None
    add_audit_detail(http, f"connection_id={body.id}")
    schedules = None
    client = hub.temporal_client
    if client is not None:
        try:
            schedules = await ensure_connection_schedules(
                client, hub.settings.task_queue, partner, body.id
            )
        except Exception as error:  # the worker's next start makes them
            log.warning("connection_schedules_not_ensured", error=type(error).__name__)
    return connection_out(hub, row, schedules)


@router.get("/connections")
async def list_connections(
    hub: HubDep,
    database: DatabaseDep,
    limit: Limit = 100,
    cursor: CursorId = None,
    partner: Annotated[str | None, Query(pattern=PARTNER_PATTERN)] = None,
    manager: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> ConnectionPage:
    rows = await database.read(
        lambda c: manager_rows.list_connections(
            c, partner=partner, manager_id=manager, limit=limit, after_id=cursor
        )
    )
    return ConnectionPage(
        items=[connection_out(hub, r) for r in rows],
        next_cursor=rows[-1]["id"] if len(rows) == limit else None,
    )


@router.delete("/connections/{connection_id}", dependencies=ADMIN)
async def remove_connection(
    connection_id: InstanceId, hub: HubDep, database: DatabaseDep
) -> ConnectionOut:
    def remove(c: Any) -> dict[str, Any] | None:
        row = manager_rows.get_connection(c, connection_id=connection_id)
        if row is not None:
            manager_rows.remove_connection(c, connection_id=connection_id)
        return row

    try:
        row = await database.write(remove)
    except manager_rows.ConnectionInUse as in_use:
        raise _refused(409, "connection_in_use", in_use.detail) from None
    if row is None:
        raise _refused(404, "not_found", "no such connection")
    schedules = None
    partner = reservation_partners().get(row["partner"])
    if hub.temporal_client is not None and partner is not None:
        try:
            schedules = await delete_connection_schedules(hub.temporal_client, partner, row["id"])
        except Exception as error:
            log.warning("connection_schedules_not_deleted", error=type(error).__name__)
    return connection_out(hub, row, schedules)


@router.post("/connections/{connection_id}/release", dependencies=ADMIN)
async def release(connection_id: InstanceId, hub: HubDep, database: DatabaseDep) -> ConnectionOut:
    """Release a held iCal feed: its next calendar is applied (cancellations included)."""

    def write(c: Any) -> dict[str, Any] | None:
        if manager_rows.get_connection(c, connection_id=connection_id) is None:
            return None
        stays.release_hold(c, connection_id=connection_id)
        return manager_rows.get_connection(c, connection_id=connection_id)

    row = await database.write(write)
    if row is None:
        raise _refused(404, "not_found", "no such connection")
    return connection_out(hub, row)
