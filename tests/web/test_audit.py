"""The audit log: admin actions that change something or read raw bodies leave one append-only
row each (who, what, when, from where, outcome), readable by admins only."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DatabaseError

from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import audit_log
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
