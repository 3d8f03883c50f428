"""The admin API: health, events, replay, ledger, messages, raw bodies, the audit log.

Bearer tokens (web/auth.py): OIDC access tokens from the auth provider, or `HUB_ADMIN_TOKEN`
locally. Viewers read; operators also replay and send messages; admins also read raw bodies and
the audit log. Changes and raw reads are written to the audit log (web/audit.py)."""

# No `from __future__ import annotations` here: FastAPI must evaluate the route signatures,
# which refer to closures (the bearer scheme) that string annotations cannot reach.

import asyncio
import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

import structlog
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import Connection
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

from integration_hub.connectors.base import MAX_KEY_LENGTH
from integration_hub.connectors.twilio.messaging import SendMessageInput
from integration_hub.connectors.twilio.workflows import (
    SendMessageWorkflow,
    send_message_workflow_id,
    start_send_message,
)
from integration_hub.doctor import diagnose
from integration_hub.errors import CallRefused
from integration_hub.orchestration.calls import partner_calls
from integration_hub.runtime import Hub
from integration_hub.status import partner_statuses
from integration_hub.storage import repo
from integration_hub.storage.engine import begin_write
from integration_hub.storage.repo import AnyRow
from integration_hub.web.audit import (
    PRINCIPAL,
    AuditMiddleware,
    add_audit_detail,
    client_address,
    mark_audited,
)
from integration_hub.web.auth import (
    PANEL_PRINCIPAL_SCOPE_KEY,
    Authenticator,
    AuthError,
    Principal,
    Role,
    TokenVerifier,
)
from integration_hub.web.event_ids import EventIdPaths
from integration_hub.web.validation import (
    PARTNER_PATTERN,
    Cursor,
    EventIdSegment,
    Limit,
    PartnerFilter,
    PartnerSegment,
    StorableText,
    TextFilter,
    install_error_handlers,
    parse_cursor,
    utc_bound,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")

Status = Literal["received", "processing", "processed", "ignored", "failed"]


class HandlerRunOut(BaseModel):
    handler: str
    workflow_id: str
    status: str
    attempts: int
    last_error: str | None = Field(
        description="The error of a failed run; for a `skipped` run, the reason it changed "
        "nothing (not an error)."
    )


class InternalEventOut(BaseModel):
    event: dict[str, Any] = Field(description="The CloudEvent as stored.")
    handlers: list[HandlerRunOut]


class RawEventSummary(BaseModel):
    partner: str
    partner_event_id: str
    type: str
    status: str
    attempts: int
    last_error: str | None
    received_at: datetime


class RawEventDetail(RawEventSummary):
    headers: dict[str, str]
    events: list[InternalEventOut]


class EventPage(BaseModel):
    items: list[RawEventSummary]
    next_cursor: str | None


class ReplayRequest(BaseModel):
    partner: str | None = Field(default=None, pattern=PARTNER_PATTERN)
    partner_event_id: StorableText | None = Field(
        default=None, min_length=1, max_length=MAX_KEY_LENGTH
    )
    status: Status | None = None


class ReplayResult(BaseModel):
    requeued: int


# Template variables travel in the workflow's input: bounded so a request cannot exceed Temporal's
# payload limit (an unbounded map was a 500); Twilio's templates number theirs "1", "2", ...
MAX_VARIABLES = 50
MAX_VARIABLE_NAME = 64
MAX_VARIABLE_VALUE = 1024
VariableName = Annotated[StorableText, Field(min_length=1, max_length=MAX_VARIABLE_NAME)]
VariableValue = Annotated[StorableText, Field(max_length=MAX_VARIABLE_VALUE)]


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


class LedgerEntryOut(BaseModel):
    event_id: str
    kind: str
    amount: int
    currency: str
    stripe_object_id: str
    account: str | None
    customer: str | None
    occurred_at: datetime
    created_at: datetime


class LedgerPage(BaseModel):
    items: list[LedgerEntryOut]
    next_cursor: str | None


class RawBodyOut(BaseModel):
    partner: str
    partner_event_id: str
    headers: dict[str, str]
    body: str = Field(description="The stored body; empty once purged by retention.")
    body_encoding: Literal["utf-8", "base64"]
    body_purged_at: datetime | None


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    method: str
    route: str
    target: str
    client: str | None
    status: int


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None


class StatusOut(BaseModel):
    generated_at: datetime
    hours: list[str] = Field(description="UTC hour of each `hourly` value, oldest first.")
    partners: list[dict[str, Any]] = Field(description="status.PartnerStatus, one per partner.")


class ConnectorOut(BaseModel):
    name: str
    webhook_secret: str
    configured: bool
    event_map: dict[str, str]


def _summary(row: AnyRow) -> RawEventSummary:
    return RawEventSummary(
        partner=row.partner,
        partner_event_id=row.partner_event_id,
        type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        received_at=repo.as_utc(row.received_at),
    )


def _cursor(rows: Any, limit: int) -> str | None:
    return str(rows[-1].id) if len(rows) == limit else None


def build_authenticator(hub: Hub) -> Authenticator:
    """OIDC sign-in when an issuer and an audience are configured; the static token unless
    HUB_ENV=production."""
    settings = hub.settings
    issuer = settings.auth_issuer or next(iter(hub.secrets.versions("AUTH_ISSUER")), None)
    verifier = (
        TokenVerifier(
            issuer=issuer,
            audience=settings.auth_audience,
            jwks_url=settings.auth_jwks_url,
            cooldown_seconds=settings.auth_jwks_cooldown_seconds,
            provider=settings.auth_provider,
        )
        if issuer and settings.auth_audience
        else None
    )

    def mirror_role(provider: str, subject: str) -> str | None:
        with hub.engine.connect().execution_options(read_only=True) as connection:
            return repo.mirrored_role(connection, provider=provider, user_id=subject)

    return Authenticator(
        local_token=hub.admin_token,
        local_token_allowed=settings.env != "production",
        verifier=verifier,
        mirror_role=mirror_role,
    )


def build_admin(hub: Hub) -> FastAPI:
    bearer = HTTPBearer(auto_error=False)
    authenticator = build_authenticator(hub)

    async def signed_in(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        on_behalf = request.scope.get(PANEL_PRINCIPAL_SCOPE_KEY)
        if isinstance(on_behalf, Principal):  # the panel, in process, for a stored session
            setattr(request.state, PRINCIPAL, on_behalf)
            return on_behalf
        presented = credentials.credentials if credentials else ""
        try:
            principal = await asyncio.to_thread(authenticator.authenticate, presented)
        except AuthError as refused:
            log.info(
                "admin_auth_refused",
                reason=refused.reason,
                client=client_address(request.scope, hub.settings.trusted_proxies),
                path=request.url.path,
            )
            raise HTTPException(
                refused.status,
                detail={"error": refused.reason, "detail": refused.detail},
                headers={"WWW-Authenticate": "Bearer"} if refused.status == 401 else None,
            ) from None
        setattr(request.state, PRINCIPAL, principal)
        return principal

    def require(role: Role) -> Callable[[Principal], Principal]:
        def check(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
            if principal.role is None or principal.role < role:
                held = principal.role.label if principal.role else "no role"
                raise HTTPException(
                    403,
                    detail={"error": "forbidden", "detail": f"needs {role.label}; you have {held}"},
                )
            return principal

        return check

    operator = [Depends(mark_audited), Depends(require(Role.OPERATOR))]
    admin = [Depends(mark_audited), Depends(require(Role.ADMIN))]

    async def read(work: Callable[[Connection], T]) -> T:
        def run() -> T:
            with hub.engine.connect().execution_options(read_only=True) as connection:
                return work(connection)

        return await asyncio.to_thread(run)

    async def write(work: Callable[[Connection], T]) -> T:
        def run() -> T:
            with begin_write(hub.engine) as connection:
                return work(connection)

        return await asyncio.to_thread(run)

    app = FastAPI(title="integration-hub", version="0.1.0")
    api = APIRouter(prefix="/api", dependencies=[Depends(require(Role.VIEWER))])

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        checks = await hub.readiness()
        return JSONResponse(
            {"ready": all(checks.values()), **checks},
            status_code=200 if all(checks.values()) else 503,
        )

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @api.get("/connectors")
    async def connectors() -> list[ConnectorOut]:
        return [
            ConnectorOut(
                name=name,
                webhook_secret=c.manifest.webhook_secret,
                configured=bool(hub.secrets.versions(c.manifest.webhook_secret)),
                event_map=dict(c.manifest.event_map),
            )
            for name, c in hub.connectors.items()
        ]

    calls = [c.manifest for c in partner_calls(hub.settings, hub.secrets, hub.engine)]

    @api.get("/status")
    async def partner_status() -> StatusOut:
        """Each partner's state and its reasons (rules in status.py), counts, latency, secrets
        set (never values), what remains of its checklist, and events per hour over 24 h."""
        now = datetime.now(UTC)

        def work(connection: Connection) -> list[dict[str, Any]]:
            reports = diagnose(
                connectors=hub.connectors, calls=calls, secrets=hub.secrets, engine=hub.engine
            )
            return [s.as_dict() for s in partner_statuses(connection, reports, now=now)]

        start = (now - timedelta(hours=23)).replace(minute=0, second=0, microsecond=0)
        hours = [(start + timedelta(hours=i)).strftime("%Y-%m-%dT%H:00Z") for i in range(24)]
        return StatusOut(generated_at=now, hours=hours, partners=await read(work))

    @api.get("/events")
    async def list_events(
        partner: PartnerFilter = None,
        status: Status | None = None,
        event_type: Annotated[TextFilter, Query(alias="type")] = None,
        event_id: TextFilter = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> EventPage:
        """Newest first. `since` (inclusive) and `until` (exclusive) bound the receipt time;
        a time without a zone is taken as UTC."""
        before = parse_cursor(cursor)
        rows = await read(
            lambda c: repo.find_raw_events(
                c,
                partner=partner,
                status=status,
                event_type=event_type,
                partner_event_id=event_id,
                since=utc_bound(since),
                until=utc_bound(until),
                limit=limit,
                before_id=before,
            )
        )
        return EventPage(items=[_summary(r) for r in rows], next_cursor=_cursor(rows, limit))

    # `:event_id`: the id is one percent-encoded segment, routed as received (web/event_ids.py).
    @api.get(
        "/events/{partner}/{partner_event_id:event_id}",
        responses={404: {"description": "unknown event"}},
    )
    async def show_event(
        partner: PartnerSegment, partner_event_id: EventIdSegment
    ) -> RawEventDetail:
        found = await read(
            lambda c: repo.get_raw_event(c, partner=partner, partner_event_id=partner_event_id)
        )
        if found is None:
            raise HTTPException(
                404,
                detail={"error": "not_found", "detail": f"no {partner} event {partner_event_id!r}"},
            )
        raw, events = found
        return RawEventDetail(
            **_summary(raw).model_dump(),
            headers=dict(raw.headers),
            events=[
                InternalEventOut(
                    event=envelope,
                    handlers=[
                        HandlerRunOut(
                            handler=r.handler,
                            workflow_id=r.workflow_id,
                            status=r.status,
                            attempts=r.attempts,
                            last_error=r.last_error,
                        )
                        for r in runs
                    ],
                )
                for envelope, runs in events
            ],
        )

    @api.get(
        "/events/{partner}/{partner_event_id:event_id}/raw",
        dependencies=admin,
        responses={404: {"description": "unknown event"}, 403: {"description": "admins only"}},
    )
    async def raw_event(partner: PartnerSegment, partner_event_id: EventIdSegment) -> RawBodyOut:
        """The body and kept headers exactly as received (admins only; audited)."""
        found = await read(
            lambda c: repo.get_raw_event(c, partner=partner, partner_event_id=partner_event_id)
        )
        if found is None:
            raise HTTPException(
                404,
                detail={"error": "not_found", "detail": f"no {partner} event {partner_event_id!r}"},
            )
        raw = found[0]
        body = bytes(raw.body)
        encoding: Literal["utf-8", "base64"] = "utf-8"
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(body).decode(), "base64"
        return RawBodyOut(
            partner=raw.partner,
            partner_event_id=raw.partner_event_id,
            headers=dict(raw.headers),
            body=text,
            body_encoding=encoding,
            body_purged_at=repo.as_utc(raw.body_purged_at) if raw.body_purged_at else None,
        )

    @api.post(
        "/events/{partner}/{partner_event_id:event_id}/replay",
        dependencies=operator,
        responses={404: {"description": "unknown event or purged body"}},
    )
    async def replay_event(
        partner: PartnerSegment, partner_event_id: EventIdSegment
    ) -> ReplayResult:
        count = await write(
            lambda c: repo.request_replay(c, partner=partner, partner_event_id=partner_event_id)
        )
        if count == 0:
            raise HTTPException(
                404,
                detail={"error": "not_found", "detail": f"no {partner} event {partner_event_id!r}"},
            )
        hub.normalizer.wake.set()
        return ReplayResult(requeued=count)

    @api.post("/replay", dependencies=operator)
    async def replay(request: ReplayRequest, http: Request) -> ReplayResult:
        add_audit_detail(http, request.model_dump_json(exclude_none=True))
        count = await write(lambda c: repo.request_replay(c, **request.model_dump()))
        hub.normalizer.wake.set()
        return ReplayResult(requeued=count)

    @api.get("/ledger")
    async def ledger(limit: Limit = 50, cursor: Cursor = None) -> LedgerPage:
        before = parse_cursor(cursor)
        rows = await read(lambda c: repo.list_ledger(c, limit=limit, before_id=before))
        items = [
            LedgerEntryOut(
                **{
                    k: v
                    for k, v in r._mapping.items()
                    if k not in {"id", "occurred_at", "created_at"}
                },
                occurred_at=repo.as_utc(r.occurred_at),
                created_at=repo.as_utc(r.created_at),
            )
            for r in rows
        ]
        return LedgerPage(items=items, next_cursor=_cursor(rows, limit))

    @api.post(
        "/messages",
        dependencies=operator,
        responses={422: {"description": "Refused: opted out, no template"}},
    )
    async def send_message(request: MessageRequest, http: Request) -> MessageOut:
        """Send an SMS or WhatsApp message through Twilio and wait for the outcome.

        The same `message_id` never sends twice: it is the workflow id and the send guard."""
        add_audit_detail(http, f"message_id={request.message_id} channel={request.channel}")
        client = hub.temporal_client
        if client is None:
            raise HTTPException(
                503, detail={"error": "temporal_unavailable", "detail": "Temporal is not connected"}
            )
        fields = request.model_dump(exclude={"wait"})
        try:
            handle = await start_send_message(
                client, SendMessageInput(**fields), task_queue=hub.settings.task_queue
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
        try:
            result = await asyncio.wait_for(handle.result(), timeout=60)
        except WorkflowFailureError as failure:
            cause = (
                failure.cause.cause if isinstance(failure.cause, ActivityError) else failure.cause
            )
            kind = cause.type if isinstance(cause, ApplicationError) else None
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            refused = kind == CallRefused.__name__
            raise HTTPException(
                422 if refused else 502,
                detail={
                    "error": "call_refused" if refused else kind or "send_failed",
                    "detail": message,
                },
            ) from None
        return MessageOut(
            message_id=result.message_id,
            workflow_id=handle.id,
            status="already_sent" if result.already_sent else result.status,
            message_sid=result.message_sid,
        )

    @api.get("/audit", dependencies=[Depends(require(Role.ADMIN))])
    async def audit(
        actor: TextFilter = None, limit: Limit = 50, cursor: Cursor = None
    ) -> AuditPage:
        """Admin actions, newest first (admins only)."""
        before = parse_cursor(cursor)
        rows = await read(lambda c: repo.list_audit(c, actor=actor, limit=limit, before_id=before))
        items = [AuditEntryOut(**{**r._mapping, "at": repo.as_utc(r.at)}) for r in rows]
        return AuditPage(items=items, next_cursor=_cursor(rows, limit))

    async def record_audit(entry: dict[str, Any]) -> None:
        await write(lambda c: repo.record_audit(c, entry=entry))

    app.add_middleware(
        AuditMiddleware, record=record_audit, trusted_proxies=hub.settings.trusted_proxies
    )
    # Outermost, so the audit trail records the path as routed (the id segment still encoded).
    app.add_middleware(EventIdPaths)
    install_error_handlers(app)

    app.include_router(api)
    return app
