"""What the admin routes depend on, as typed FastAPI dependencies.

`build_admin` keeps one `AdminState` (the hub, its authenticator, the database helpers) on the
app; routes ask for the parts they need (`HubDep`, `DatabaseDep`) and for the role they need
(`require(Role.X)`, or `OPERATOR`/`ADMIN`, which also write the request to the audit log).
Signing in runs once per request however many role checks ask for it (FastAPI caches
`signed_in`).
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, TypeVar

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ActivityError, ApplicationError

from integration_hub.errors import CallRefused
from integration_hub.runtime import Hub
from integration_hub.storage import identity
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import AnyRow
from integration_hub.web.audit import PRINCIPAL, client_address, mark_audited
from integration_hub.web.auth import (
    PANEL_PRINCIPAL_SCOPE_KEY,
    Authenticator,
    AuthError,
    Principal,
    Role,
    TokenVerifier,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")


class Database:
    """Runs blocking queries off the event loop: `read` on a read-only connection, `write` in
    one transaction (web handlers never block the loop on the database)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def read(self, work: Callable[[Connection], T]) -> T:
        def run() -> T:
            with self.engine.connect().execution_options(read_only=True) as connection:
                return work(connection)

        return await asyncio.to_thread(run)

    async def write(self, work: Callable[[Connection], T]) -> T:
        def run() -> T:
            with begin_write(self.engine) as connection:
                return work(connection)

        return await asyncio.to_thread(run)


@dataclass(frozen=True, slots=True)
class AdminState:
    hub: Hub
    authenticator: Authenticator
    database: Database


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
            return identity.mirrored_role(connection, provider=provider, user_id=subject)

    return Authenticator(
        local_token=hub.admin_token,
        local_token_allowed=settings.env != "production",
        verifier=verifier,
        mirror_role=mirror_role,
    )


def admin_state(request: Request) -> AdminState:
    state = getattr(request.app.state, "admin", None)
    if not isinstance(state, AdminState):  # a router mounted on an app build_admin did not make
        raise RuntimeError("the admin routes need the app build_admin makes")
    return state


def _hub(state: Annotated[AdminState, Depends(admin_state)]) -> Hub:
    return state.hub


def _database(state: Annotated[AdminState, Depends(admin_state)]) -> Database:
    return state.database


HubDep = Annotated[Hub, Depends(_hub)]
DatabaseDep = Annotated[Database, Depends(_database)]

bearer = HTTPBearer(auto_error=False)


async def signed_in(
    request: Request,
    state: Annotated[AdminState, Depends(admin_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    on_behalf = request.scope.get(PANEL_PRINCIPAL_SCOPE_KEY)
    if isinstance(on_behalf, Principal):  # the panel, in process, for a stored session
        setattr(request.state, PRINCIPAL, on_behalf)
        return on_behalf
    presented = credentials.credentials if credentials else ""
    try:
        principal = await asyncio.to_thread(state.authenticator.authenticate, presented)
    except AuthError as refused:
        log.info(
            "admin_auth_refused",
            reason=refused.reason,
            client=client_address(request.scope, state.hub.settings.trusted_proxies),
            path=request.url.path,
        )
        raise HTTPException(
            refused.status,
            detail={"error": refused.reason, "detail": refused.detail},
            headers={"WWW-Authenticate": "Bearer"} if refused.status == 401 else None,
        ) from None
    setattr(request.state, PRINCIPAL, principal)
    return principal


@cache  # one dependency per role: FastAPI keys its per-request cache on the callable
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


# Route dependencies for actions beyond reading: the role, and a line in the audit log.
OPERATOR: Sequence[params.Depends] = (Depends(mark_audited), Depends(require(Role.OPERATOR)))
ADMIN: Sequence[params.Depends] = (Depends(mark_audited), Depends(require(Role.ADMIN)))

API_PREFIX = "/api"


def api_router(*dependencies: params.Depends) -> APIRouter:
    """A router for routes under `/api`: signed in as a viewer at least, then `dependencies`.

    The prefix is part of each route's own path, not added when the router is included:
    FastAPI hands the route as declared to the middleware (`scope["route"]`), and the audit
    trail records its path."""
    return APIRouter(prefix=API_PREFIX, dependencies=[Depends(require(Role.VIEWER)), *dependencies])


async def connected_client(hub: Hub) -> Client:
    """The hub's Temporal client, or 503 while it is not connected."""
    client = hub.temporal_client
    if client is None:
        raise HTTPException(
            503, detail={"error": "temporal_unavailable", "detail": "Temporal is not connected"}
        )
    return client


def next_cursor(rows: Sequence[AnyRow], limit: int) -> str | None:
    """The cursor of the page after `rows`: the last row's id when the page is full."""
    return str(rows[-1].id) if len(rows) == limit else None


async def call_result(handle: WorkflowHandle[object, T], *, seconds: float, failed: str) -> T:
    """A call-out workflow's answer for an admin route (partners' routes get it through
    `RoutesContext.result`): a refusal the hub made itself (`CallRefused`) is 422
    `call_refused`, any other failure 502 with its error type (else `failed`), and an answer not
    in within `seconds` is 504 naming the workflow, which goes on running."""
    try:
        return await asyncio.wait_for(handle.result(), timeout=seconds)
    except TimeoutError:
        raise HTTPException(
            504,
            detail={"error": "still_running", "detail": f"workflow {handle.id} is still running"},
        ) from None
    except WorkflowFailureError as failure:
        cause = failure.cause.cause if isinstance(failure.cause, ActivityError) else failure.cause
        kind = cause.type if isinstance(cause, ApplicationError) else None
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        if kind == CallRefused.__name__:
            raise HTTPException(422, detail={"error": "call_refused", "detail": message}) from None
        raise HTTPException(502, detail={"error": kind or failed, "detail": message}) from None
