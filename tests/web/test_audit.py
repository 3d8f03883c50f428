"""The audit log: admin actions that change something or read raw bodies leave one append-only
row each (who, what, when, from where, outcome), readable by admins only. Routes a partner
contributes (its `Partner.routes`) sit behind the same sign-in, role checks and trail."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from sqlalchemy import delete, update
from sqlalchemy.exc import DatabaseError

from integration_hub.connectors.partner import Partner, RoutesContext
from integration_hub.connectors.partners import PARTNERS
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import audit_log
from integration_hub.web.admin import build_admin, routes_context
from tests.helpers import ADMIN_TOKEN, RunningHub, stripe_delivery
from tests.web.issuer import Issuer, bearer, issuer, oidc_hub, twilio_api

__all__ = ["issuer", "oidc_hub", "twilio_api"]  # fixtures


async def audit_items(hub: RunningHub, **params: str) -> list[dict[str, object]]:
    answer = await hub.http.get("/api/audit", params=params, headers=bearer(ADMIN_TOKEN))
    assert answer.status_code == 200, answer.text
    items: list[dict[str, object]] = answer.json()["items"]
    return items


async def delivered_event(hub: RunningHub) -> str:
    body, headers = stripe_delivery()
    answer = await hub.http.post("/webhooks/stripe", content=body, headers=headers)
    return str(answer.json()["events"][0]["id"])


async def test_replay_is_audited_with_who_what_where_and_outcome(
    oidc_hub: RunningHub, issuer: Issuer
) -> None:
    event_id = await delivered_event(oidc_hub)
    token = issuer.token("operator", subject="user_ops")
    await oidc_hub.http.post(f"/api/events/stripe/{event_id}/replay", headers=bearer(token))

    [entry] = await audit_items(oidc_hub)

    assert entry["actor"] == "user_ops" and entry["role"] == "operator"
    assert entry["method"] == "POST"
    assert entry["route"] == "/api/events/{partner}/{partner_event_id}/replay"
    assert entry["target"] == f"/api/events/stripe/{event_id}/replay"
    assert (entry["client"], entry["status"]) == ("127.0.0.1", 200)
    assert entry["at"]


async def test_bulk_replay_is_audited_with_its_filter(oidc_hub: RunningHub) -> None:
    await oidc_hub.http.post(
        "/api/replay", json={"partner": "stripe", "status": "failed"}, headers=bearer(ADMIN_TOKEN)
    )

    [entry] = await audit_items(oidc_hub)

    assert entry["actor"] == "local-admin-token" and entry["role"] == "admin"
    assert entry["target"] == '/api/replay {"partner":"stripe","status":"failed"}'


async def test_message_send_is_audited_without_the_phone_number(
    oidc_hub: RunningHub, issuer: Issuer
) -> None:
    await oidc_hub.http.post(
        "/api/messages",
        json={"message_id": "job-9", "to": "+13055550142", "channel": "sms", "body": "Hola"},
        headers=bearer(issuer.token("operator")),
    )

    [entry] = await audit_items(oidc_hub)

    assert entry["route"] == "/api/messages" and entry["status"] == 200
    assert entry["target"] == "/api/messages message_id=job-9 channel=sms"


async def test_raw_body_read_is_audited(oidc_hub: RunningHub, issuer: Issuer) -> None:
    event_id = await delivered_event(oidc_hub)
    await oidc_hub.http.get(
        f"/api/events/stripe/{event_id}/raw", headers=bearer(issuer.token("admin", subject="u_a"))
    )

    [entry] = await audit_items(oidc_hub)

    assert (entry["actor"], entry["method"], entry["status"]) == ("u_a", "GET", 200)
    assert entry["route"] == "/api/events/{partner}/{partner_event_id}/raw"


async def test_refused_action_is_audited_with_its_403(oidc_hub: RunningHub, issuer: Issuer) -> None:
    await oidc_hub.http.post(
        "/api/replay", json={}, headers=bearer(issuer.token("viewer", subject="u_v"))
    )

    [entry] = await audit_items(oidc_hub)

    assert (entry["actor"], entry["role"], entry["status"]) == ("u_v", "viewer", 403)


async def test_plain_reads_are_not_audited(oidc_hub: RunningHub, issuer: Issuer) -> None:
    headers = bearer(issuer.token("viewer"))
    for path in ("/api/events", "/api/ledger", "/api/connectors"):
        await oidc_hub.http.get(path, headers=headers)

    assert await audit_items(oidc_hub) == []


async def test_audit_log_is_readable_by_admins_only(oidc_hub: RunningHub, issuer: Issuer) -> None:
    answers = {
        role: (await oidc_hub.http.get("/api/audit", headers=bearer(issuer.token(role))))
        for role in ("viewer", "operator", "admin")
    }
    assert {role: a.status_code for role, a in answers.items()} == {
        "viewer": 403,
        "operator": 403,
        "admin": 200,
    }


async def test_audit_rows_cannot_be_changed_or_deleted(oidc_hub: RunningHub) -> None:
    await oidc_hub.http.post("/api/replay", json={}, headers=bearer(ADMIN_TOKEN))
    engine = oidc_hub.hub.engine

    with pytest.raises(DatabaseError, match="append-only"), begin_write(engine) as connection:
        connection.execute(update(audit_log).values(actor="someone-else"))
    with pytest.raises(DatabaseError, match="append-only"), begin_write(engine) as connection:
        connection.execute(delete(audit_log))

    assert [e["actor"] for e in await audit_items(oidc_hub)] == ["local-admin-token"]


def probe_routes(context: RoutesContext) -> APIRouter:
    """A partner's contributed route, built only from what the context offers."""
    router = context.router()

    @router.post("/probe", dependencies=context.operator)
    async def probe(http: Request) -> dict[str, str]:
        context.audit_detail(http, "probe_id=p-1")
        return {"probed": "yes"}

    return router


PROBE = Partner(name="probe", priority="P3", summary="Adds one admin route.", routes=probe_routes)


async def test_partner_routes_mount_under_api_behind_their_roles_and_audited(
    oidc_hub: RunningHub, issuer: Issuer
) -> None:
    admin = build_admin(oidc_hub.hub, partners=(PROBE,))
    transport = httpx.ASGITransport(app=admin, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        anonymous = await client.post("/api/probe")
        viewer = await client.post("/api/probe", headers=bearer(issuer.token("viewer")))
        operator = await client.post(
            "/api/probe", headers=bearer(issuer.token("operator", subject="u_o"))
        )
        paths = (await client.get("/openapi.json")).json()["paths"]

    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "unauthorized")
    assert (viewer.status_code, viewer.json()["error"]) == (403, "forbidden")
    assert (operator.status_code, operator.json()) == (200, {"probed": "yes"})
    assert "post" in paths["/api/probe"]
    allowed, refused = sorted(await audit_items(oidc_hub), key=lambda e: str(e["status"]))
    assert (allowed["actor"], allowed["route"], allowed["status"]) == ("u_o", "/api/probe", 200)
    assert allowed["target"] == "/api/probe probe_id=p-1"
    assert (refused["role"], refused["status"]) == ("viewer", 403)


async def test_the_served_api_mounts_every_declared_partners_routes(oidc_hub: RunningHub) -> None:
    paths = set((await oidc_hub.http.get("/openapi.json")).json()["paths"])
    context = routes_context(oidc_hub.hub)
    declared = {
        route.path
        for partner in PARTNERS
        if partner.routes is not None
        for route in partner.routes(context).routes
        if isinstance(route, APIRoute)
    }
    assert declared, "no partner declares routes: this test checks nothing"
    assert declared <= paths


def test_a_partner_route_outside_its_context_router_is_refused(oidc_hub: RunningHub) -> None:
    """A route on a router of its own would skip `/api`, the sign-in and the audit trail."""

    def stray_routes(context: RoutesContext) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/stray", lambda: {}, methods=["POST"])
        return router

    stray = Partner(name="stray", priority="P3", summary="Strays.", routes=stray_routes)
    with pytest.raises(ValueError, match="stray: route /stray is not on the router"):
        build_admin(oidc_hub.hub, partners=(stray,))


async def test_a_partner_page_outside_its_own_prefix_is_refused(oidc_hub: RunningHub) -> None:
    """A public page elsewhere could shadow the admin API, the panel or another partner."""

    def pages(path: str) -> Callable[[RoutesContext], APIRouter]:
        def build(context: RoutesContext) -> APIRouter:
            router = APIRouter()
            router.add_api_route(path, lambda: {"page": "yes"}, methods=["GET"])
            return router

        return build

    for path in ("/api/cleaners", "/status/login", "/strayer/page"):
        stray = Partner(name="stray", priority="P3", summary="Strays.", pages=pages(path))
        with pytest.raises(ValueError, match=f"stray: page {path} is not under /stray/"):
            build_admin(oidc_hub.hub, partners=(stray,))
    own = Partner(name="stray", priority="P3", summary="Own.", pages=pages("/stray/back"))
    transport = httpx.ASGITransport(app=build_admin(oidc_hub.hub, partners=(own,)))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        answer = await client.get("/stray/back")  # public: no sign-in
    assert (answer.status_code, answer.json()) == (200, {"page": "yes"})
