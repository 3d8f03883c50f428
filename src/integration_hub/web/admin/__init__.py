"""The admin API: health, events, replay, ledger, the audit log, partners' status, and the
routes partners contribute (message sends, ...).

Bearer tokens (web/auth.py): OIDC access tokens from the auth provider, or `HUB_ADMIN_TOKEN`
locally. Viewers read; operators also replay and send messages; admins also read raw bodies and
the audit log. Changes and raw reads are written to the audit log (web/audit.py).

One router per concern (this package's modules), each reaching the hub through the typed
dependencies in `deps.py`. A partner adds routes by declaring `routes=` on its `Partner`: they
are built here with a `RoutesContext`, on a router it hands them (under `/api`, behind the same
sign-in, plus the role checks they declare), and mounted after the core routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from integration_hub.connectors.partner import Partner, RoutesContext
from integration_hub.connectors.partners import PARTNERS
from integration_hub.runtime import Hub
from integration_hub.storage import audit as audit_rows
from integration_hub.web.admin import (
    audit,
    cleaners,
    contact_tags,
    emails,
    events,
    health,
    invitations,
    ledger,
    managers,
    properties,
    replay,
    reservations,
    status,
)
from integration_hub.web.admin.deps import (
    ADMIN,
    API_PREFIX,
    OPERATOR,
    AdminState,
    Database,
    api_router,
    build_authenticator,
    call_result,
    connected_client,
    require,
)
from integration_hub.web.audit import AuditMiddleware, add_audit_detail
from integration_hub.web.auth import Role
from integration_hub.web.event_ids import EventIdPaths
from integration_hub.web.validation import install_error_handlers

__all__ = ["build_admin", "build_authenticator", "routes_context"]

CORE_ROUTERS = (
    status.router,
    events.router,
    replay.router,
    ledger.router,
    audit.router,
    cleaners.router,
    invitations.router,
    emails.router,
    contact_tags.router,
    managers.router,
    properties.router,
    reservations.router,
)


def routes_context(hub: Hub) -> RoutesContext:
    """What partners' routes reach the running hub through (connectors/partner.py)."""
    return RoutesContext(
        settings=hub.settings,
        secrets=hub.secrets,
        engine=hub.engine,
        temporal=lambda: connected_client(hub),
        router=api_router,
        operator=OPERATOR,
        admin=ADMIN,
        audit_detail=add_audit_detail,
        result=call_result,
    )


def build_admin(hub: Hub, partners: Sequence[Partner] = PARTNERS) -> FastAPI:
    database = Database(hub.engine)
    app = FastAPI(title="integration-hub", version="0.1.0")
    app.state.admin = AdminState(hub=hub, authenticator=build_authenticator(hub), database=database)
    app.include_router(health.router)

    for router in CORE_ROUTERS:
        app.include_router(router)
    context = routes_context(hub)
    for partner in partners:
        if partner.routes is not None:
            app.include_router(_under_api(partner, partner.routes(context)))
        if partner.pages is not None:
            app.include_router(_own_pages(partner, partner.pages(context)))

    async def record_audit(entry: dict[str, Any]) -> None:
        await database.write(lambda c: audit_rows.record_audit(c, entry=entry))

    app.add_middleware(
        AuditMiddleware, record=record_audit, trusted_proxies=hub.settings.trusted_proxies
    )
    # Outermost, so the audit trail records the path as routed (the id segment still encoded).
    app.add_middleware(EventIdPaths)
    install_error_handlers(app)
    return app


def _under_api(partner: Partner, router: APIRouter) -> APIRouter:
    """A partner's router, refused unless every route is one `context.router()` made: under
    `/api`, behind sign-in. A route declared elsewhere would skip both, so it stops the start."""
    viewer = require(Role.VIEWER)
    for route in router.routes:
        if not (
            isinstance(route, APIRoute)
            and route.path.startswith(API_PREFIX + "/")
            and any(d.dependency is viewer for d in route.dependencies)
        ):
            path = getattr(route, "path", route)
            raise ValueError(f"{partner.name}: route {path} is not on the router its context made")
    return router


def _own_pages(partner: Partner, router: APIRouter) -> APIRouter:
    """A partner's public pages, refused unless every path is under /{partner}/: a page
    elsewhere could shadow the admin API, the panel or another partner's pages."""
    prefix = f"/{partner.name}/"
    for route in router.routes:
        path = getattr(route, "path", "")
        if not (isinstance(route, APIRoute) and path.startswith(prefix)):
            raise ValueError(f"{partner.name}: page {path or route} is not under {prefix}")
    return router
