"""Invitations end to end: `POST /api/invitations` on a served hub, the invitation workflow on
the session's Temporal dev server calling a local stand-in for the provider (checking the
exact requests), then the provider's signed user-created webhook through the edge, the
normalizer and the invitations handler closing it; expiry, revocation and the refusals."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from integration_hub.cli.app import app
from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from integration_hub.testing import connector, sign_as
from tests.helpers import (
    ADMIN_TOKEN,
    AUTH0_TOKEN,
    CLERK_SECRET,
    RunningHub,
    hub_with,
    local_secrets,
    make_settings,
    serve_hub,
    wait_until,
)
from tests.partner_server import PartnerServer, RecordedRequest, Reply, partner_server
from tests.web.issuer import AUDIENCE, Issuer, bearer

PUBLIC = "https://hub.example.com"
CLERK_KEY = "sk_test_HubInvitationsKey0123456789"
ORG = "org_W30s9GkUqVMTYKXK"
AUTH0_INVITATIONS = f"/api/v2/organizations/{ORG}/invitations"


def _clerk_made(expires_in_seconds: float) -> Reply:
    expires_ms = int((time.time() + expires_in_seconds) * 1000)  # Clerk's unix milliseconds
    made = {"object": "invitation", "id": f"inv_clerk{uuid.uuid4().hex[:12]}",
            "status": "pending", "expires_at": expires_ms}  # fmt: skip
    return Reply(body=made)


def clerk_backend(request: RecordedRequest) -> Reply:
    if request.method == "POST" and request.path == "/v1/invitations":
        return _clerk_made(30 * 86400)
    if request.method == "POST" and request.path.endswith("/revoke"):
        return Reply(body={"object": "invitation", "status": "revoked", "revoked": True})
    return Reply(404, {"errors": [{"code": "resource_not_found", "message": "no route"}]})


def auth0_tenant(request: RecordedRequest) -> Reply:
    if request.path == "/oauth/token":
        return Reply(body={"access_token": "mgmt-token-1", "expires_in": 86400})
    if request.path == "/api/v2/roles":
        return Reply(body=[{"id": "rol_operator", "name": "operator"}])
    if request.method == "POST" and request.path == AUTH0_INVITATIONS:
        return Reply(201, {"id": "uinv_0000000000000001", "expires_at": "2030-01-01T00:00:00Z"})
    if request.method == "POST" and request.path.startswith("/api/v2/users/"):
        return Reply(204, b"")
    return Reply(404, {"statusCode": 404, "errorCode": "not_found"})


@pytest.fixture
def clerk_api() -> Iterator[PartnerServer]:
    yield from partner_server(clerk_backend)


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with Issuer() as running:
        yield running


async def _clerk_hub(
    tmp_path: Path, database_url: str, temporal_address: str, issuer: Issuer, **overrides: Any
) -> AsyncIterator[RunningHub]:
    settings = make_settings(
        tmp_path, database_url, temporal_address, auth_provider="clerk", public_base_url=PUBLIC,
        auth_issuer=issuer.url, auth_audience=AUDIENCE, **overrides,
    )  # fmt: skip
    secrets = EnvSecretSource(environ={**local_secrets(), "CLERK_SECRET_KEY": CLERK_KEY})
    async with serve_hub(Hub(settings, secrets=secrets)) as running:
        yield running


@pytest.fixture
async def hub(
    tmp_path: Path,
    database_url: str,
    temporal_address: str,
    clerk_api: PartnerServer,
    issuer: Issuer,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[RunningHub]:
    # Clerk's own setting, read from the environment when the hub builds its calls.
    monkeypatch.setenv("HUB_CLERK_API_BASE_URL", f"{clerk_api.url}/v1")
    async for running in _clerk_hub(tmp_path, database_url, temporal_address, issuer):
        yield running


async def _invite(running: RunningHub, email: str, role: str = "operator") -> dict[str, Any]:
    answer = await running.admin.post("/api/invitations", json={"email": email, "role": role})
    assert answer.status_code == 202, answer.text
    invitation: dict[str, Any] = answer.json()
    return invitation


async def _status(running: RunningHub, invitation_id: str, *wanted: str) -> dict[str, Any]:
    answer = await wait_until(
        lambda: running.admin.get(f"/api/invitations/{invitation_id}"),
        lambda r: r.json()["status"] in wanted,
    )
    found: dict[str, Any] = answer.json()
    return found


async def _workflow_result(running: RunningHub, workflow_id: str) -> str:
    client = running.hub.temporal_client
    assert client is not None
    result: str = await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), 30)
    return result


def _clerk_user_created(email: str) -> tuple[bytes, dict[str, str]]:
    event = orjson.loads(connector("clerk").sample("user.created"))
    event["data"]["email_addresses"][0]["email_address"] = email
    event["data"]["id"] = f"user_{uuid.uuid4().hex[:16]}"
    body = orjson.dumps(event)
    return body, sign_as("clerk", body, secret=CLERK_SECRET)


def _creates(server: PartnerServer, path: str) -> list[RecordedRequest]:
    return [r for r in server.requests if r.method == "POST" and r.path == path]


async def test_invite_then_the_user_signs_up_and_it_is_accepted(
    hub: RunningHub, clerk_api: PartnerServer
) -> None:
    # A 429 first: the workflow's activity retries after Retry-After, then succeeds.
    clerk_api.reply(Reply(429, {"errors": [{"code": "too_many_requests"}]}, {"Retry-After": "1"}))
    invitation = await _invite(hub, "Invitee@Example.ORG")

    assert (invitation["email"], invitation["role"], invitation["status"]) == (
        "invitee@example.org",
        "operator",
        "pending",
    )
    assert invitation["workflow_id"] == f"invitation/{invitation['id']}"
    sent = await _status(hub, invitation["id"], "sent", "failed")
    assert sent["status"] == "sent", sent
    assert sent["provider_invitation_id"].startswith("inv_clerk")
    first, second = _creates(clerk_api, "/v1/invitations")
    assert second.at - first.at >= 0.9  # Retry-After honoured
    assert second.headers["authorization"] == f"Bearer {CLERK_KEY}"
    assert second.json() == {
        "email_address": "invitee@example.org",
        "public_metadata": {"role": "operator"},
        "redirect_url": f"{PUBLIC}/status/login",
        "notify": True,
        "expires_in_days": 7,
        "ignore_existing": False,
    }

    again = await hub.admin.post(
        "/api/invitations", json={"email": "invitee@example.org", "role": "admin"}
    )
    assert (again.status_code, again.json()["error"]) == (409, "invitation_open")
    assert invitation["id"] in again.json()["detail"]

    body, headers = _clerk_user_created("INVITEE@example.org")
    assert (await hub.http.post("/webhooks/clerk", content=body, headers=headers)).is_success
    accepted = await _status(hub, invitation["id"], "accepted")
    assert accepted["reason"].startswith("user_created (user_")
    assert accepted["closed_at"] is not None
    assert await _workflow_result(hub, invitation["workflow_id"]) == "accepted"
    assert len(_creates(clerk_api, "/v1/invitations")) == 2  # the 429 and the one that took
    listed = (await hub.admin.get("/api/invitations", params={"status": "accepted"})).json()
    assert [i["id"] for i in listed["items"]] == [invitation["id"]]


async def test_a_user_of_another_email_closes_nothing(hub: RunningHub) -> None:
    invitation = await _invite(hub, "ana@example.org")
    await _status(hub, invitation["id"], "sent")

    body, headers = _clerk_user_created("someone-else@example.org")
    event_id = headers["svix-id"]
    assert (await hub.http.post("/webhooks/clerk", content=body, headers=headers)).is_success
    detail = await wait_until(
        lambda: hub.admin.get(f"/api/events/clerk/{event_id}"),
        lambda r: r.status_code == 200 and r.json()["status"] in {"processed", "failed"},
    )
    runs = {r["handler"]: r for r in detail.json()["events"][0]["handlers"]}
    assert runs["invitations"]["status"] == "skipped"
    assert "no_open_invitation" in runs["invitations"]["last_error"]
    assert "@" not in runs["invitations"]["last_error"]  # no e-mail in the detail
    assert (await hub.admin.get(f"/api/invitations/{invitation['id']}")).json()["status"] == "sent"


async def test_revoke_reaches_the_provider_and_closes(
    hub: RunningHub, clerk_api: PartnerServer
) -> None:
    invitation = await _invite(hub, "bob@example.org", role="viewer")
    sent = await _status(hub, invitation["id"], "sent")

    answer = await hub.admin.delete(f"/api/invitations/{invitation['id']}")

    assert answer.status_code == 202, answer.text
    # Closed in the DELETE's transaction; the workflow then revokes it at the provider.
    assert answer.json()["status"] == "revoked"
    assert await _workflow_result(hub, invitation["workflow_id"]) == "revoked"
    revoked = await _status(hub, invitation["id"], "revoked")
    assert revoked["reason"] == "revoked by local-admin-token"  # the principal subject
    [revoke] = [r for r in clerk_api.requests if r.path.endswith("/revoke")]
    assert revoke.path == f"/v1/invitations/{sent['provider_invitation_id']}/revoke"
    assert revoke.headers["authorization"] == f"Bearer {CLERK_KEY}"
    closed = await hub.admin.delete(f"/api/invitations/{invitation['id']}")
    assert (closed.status_code, closed.json()["error"]) == (409, "invitation_closed")
    missing = await hub.admin.delete("/api/invitations/inv_" + "0" * 32)
    assert missing.status_code == 404


async def test_a_refused_invitation_fails_with_the_reason(
    hub: RunningHub, clerk_api: PartnerServer
) -> None:
    refusal = {"errors": [{"code": "form_identifier_exists", "message": "taken"}]}
    clerk_api.reply(Reply(422, refusal))
    invitation = await _invite(hub, "taken@example.org")

    failed = await _status(hub, invitation["id"], "failed")

    assert failed["reason"].startswith("clerk.form_identifier_exists: ")
    assert "taken@" not in failed["reason"]
    assert await _workflow_result(hub, invitation["workflow_id"]) == "failed"
    assert len(_creates(clerk_api, "/v1/invitations")) == 1  # a 4xx is not retried
    assert (await _invite(hub, "taken@example.org"))["status"] == "pending"  # closed: again


async def test_an_invitation_expires(
    tmp_path: Path,
    database_url: str,
    temporal_address: str,
    clerk_api: PartnerServer,
    issuer: Issuer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_CLERK_API_BASE_URL", f"{clerk_api.url}/v1")
    hubs = _clerk_hub(tmp_path, database_url, temporal_address, issuer, invitation_ttl_seconds=2)
    async for running in hubs:
        invitation = await _invite(running, "carla@example.org")
        expired = await _status(running, invitation["id"], "expired")
        assert expired["reason"] == "the invitation's time ran out"
        assert await _workflow_result(running, invitation["workflow_id"]) == "expired"
        [create] = _creates(clerk_api, "/v1/invitations")
        assert create.json()["expires_in_days"] == 1  # Clerk counts whole days
        # ... so the hub revokes it there when its own (shorter) time runs out.
        [revoke] = [r for r in clerk_api.requests if r.path.endswith("/revoke")]
        assert revoke.path == f"/v1/invitations/{expired['provider_invitation_id']}/revoke"
        # Closed: the same e-mail may be invited again.
        assert (await _invite(running, "carla@example.org"))["id"] != invitation["id"]


async def test_refusals(hub: RunningHub, issuer: Issuer) -> None:
    bad = [
        {"email": "not-an-email", "role": "operator"},
        {"email": "a@b", "role": "operator"},
        {"email": "\u212aim@example.org", "role": "operator"},  # Kelvin sign: ASCII only
        {"email": "x" * 250 + "@example.org", "role": "operator"},
        {"email": "ana@example.org", "role": "owner"},
        {"email": "ana@example.org"},
    ]
    for body in bad:
        answer = await hub.admin.post("/api/invitations", json=body)
        assert (answer.status_code, answer.json()["error"]) == (422, "bad_body"), body
        assert "example.org" not in answer.text  # the value is never echoed

    operator = issuer.token(role="operator")
    answer = await hub.http.post(
        "/api/invitations", json={"email": "ana@example.org", "role": "viewer"},
        headers=bearer(operator),
    )  # fmt: skip
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")
    # Invitees' e-mails and roles are for admins only, reads included.
    for role in ("viewer", "operator"):
        for path in ("/api/invitations", "/api/invitations/inv_" + "0" * 32):
            read = await hub.http.get(path, headers=bearer(issuer.token(role=role)))
            assert (read.status_code, read.json()["error"]) == (403, "forbidden"), (role, path)
    assert (await hub.http.post("/api/invitations", json={})).status_code == 401
    assert (await hub.admin.get("/api/invitations")).json()["items"] == []
    for path, params, error in (
        ("/api/invitations", {"status": "bogus"}, "bad_status"),
        ("/api/invitations", {"limit": 501}, "bad_limit"),
        ("/api/invitations", {"cursor": "inv_x"}, "bad_cursor"),
        ("/api/invitations/not-an-id", {}, "bad_invitation_id"),
    ):
        answer = await hub.admin.get(path, params=params)
        assert (answer.status_code, answer.json()["error"]) == (400, error), (path, params)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"public_base_url": PUBLIC}, "auth_provider_missing"),  # two providers, none chosen
        ({"public_base_url": PUBLIC, "auth_provider": "clerk"}, "provider_secret_missing"),
        ({"auth_provider": "auth0"}, "provider_secret_missing"),
    ],
)
async def test_unconfigured_provider_is_refused(
    tmp_path: Path, database_url: str, temporal_address: str, overrides: dict[str, Any], error: str
) -> None:
    async with hub_with(tmp_path, database_url, temporal_address, **overrides) as running:
        answer = await running.admin.post(
            "/api/invitations", json={"email": "ana@example.org", "role": "viewer"}
        )
    assert (answer.status_code, answer.json()["error"]) == (422, error)
    assert "ana@" not in answer.text


async def test_auth0_organization_invitation_closes_on_signup(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    with PartnerServer(auth0_tenant) as tenant:
        secrets = EnvSecretSource(environ={
            **local_secrets(), "AUTH_ISSUER": tenant.url,
            "AUTH_CLIENT_ID": "hubM2MClientId0123456789abcdefAB",
            "AUTH_CLIENT_SECRET": "hub-m2m-client-secret-0123456789abcdefghijklmnopqrstuv",
            "AUTH0_ORGANIZATION_ID": ORG,
        })  # fmt: skip
        settings = make_settings(
            tmp_path, database_url, temporal_address, auth_provider="auth0", public_base_url=PUBLIC
        )
        async with serve_hub(Hub(settings, secrets=secrets)) as running:
            invitation = await _invite(running, "dana@example.org")
            sent = await _status(running, invitation["id"], "sent")
            assert sent["provider_invitation_id"] == "uinv_0000000000000001"
            [create] = _creates(tenant, AUTH0_INVITATIONS)
            assert create.headers["authorization"] == "Bearer mgmt-token-1"
            assert create.json()["roles"] == ["rol_operator"]
            assert create.json()["invitee"] == {"email": "dana@example.org"}

            entries = orjson.loads(connector("auth0").sample("ss"))
            entries[0]["data"]["user_name"] = "Dana@example.org"
            entries[0]["data"]["details"] = {"email_verified": True}
            body = orjson.dumps(entries)
            headers = sign_as("auth0", body, secret=AUTH0_TOKEN)
            delivered = await running.http.post("/webhooks/auth0", content=body, headers=headers)
            assert delivered.is_success, delivered.text

            accepted = await _status(running, invitation["id"], "accepted")
            assert accepted["reason"].startswith("user_created (auth0|")
            assert await _workflow_result(running, invitation["workflow_id"]) == "accepted"
            # The organization role is not a tenant role: the workflow gives the tenant role
            # the users-and-roles mirror reads.
            [assign] = [r for r in tenant.requests if r.path.startswith("/api/v2/users/")]
            user_id = entries[0]["data"]["user_id"].replace("|", "%7C")
            assert (assign.method, assign.path) == ("POST", f"/api/v2/users/{user_id}/roles")
            assert assign.json() == {"roles": ["rol_operator"]}


def _printed_json(output: str) -> Any:
    """The JSON document a command printed (one write), among the served hub's log lines,
    which share this process's stdout."""
    lines = output.splitlines()
    start = lines.index("{")
    end = lines.index("}", start)
    return json.loads("\n".join(lines[start : end + 1]))


async def test_hub_users_invite_list_and_revoke(
    hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_ADMIN_TOKEN", ADMIN_TOKEN)
    runner = CliRunner()
    url = ["--url", hub.base_url]

    invited = await asyncio.to_thread(
        runner.invoke, app, ["users", "invite", "eva@example.org", "--role", "admin", *url]
    )
    assert invited.exit_code == 0, invited.output
    made = _printed_json(invited.output)
    assert (made["email"], made["role"]) == ("eva@example.org", "admin")
    await _status(hub, made["id"], "sent")

    listed = await asyncio.to_thread(runner.invoke, app, ["users", "invitations", *url])
    assert listed.exit_code == 0, listed.output
    assert [i["id"] for i in _printed_json(listed.output)["items"]] == [made["id"]]

    revoked = await asyncio.to_thread(runner.invoke, app, ["users", "revoke", made["id"], *url])
    assert revoked.exit_code == 0, revoked.output
    await _status(hub, made["id"], "revoked")

    refused = await asyncio.to_thread(
        runner.invoke, app, ["users", "invite", "eva@example.org", "--role", "owner", *url]
    )
    assert refused.exit_code == 1
    assert "bad_body" in refused.stderr


async def test_the_providers_sooner_expiry_sizes_the_timer_and_the_hubs_is_shown(
    hub: RunningHub, clerk_api: PartnerServer
) -> None:
    clerk_api.reply(_clerk_made(2))  # the provider ends its invitation in 2 s, the hub in 7 days
    invitation = await _invite(hub, "dora@example.org")

    expired = await _status(hub, invitation["id"], "expired")

    assert expired["expires_at"] == invitation["expires_at"]  # the hub's, not the provider's
    assert await _workflow_result(hub, invitation["workflow_id"]) == "expired"


async def test_a_revoke_the_provider_refuses_is_recorded_failed_not_revoked(
    hub: RunningHub, clerk_api: PartnerServer
) -> None:
    invitation = await _invite(hub, "erin@example.org")
    await _status(hub, invitation["id"], "sent")
    clerk_api.reply(Reply(400, {"errors": [{"code": "revoke_not_allowed", "message": "no"}]}))

    answer = await hub.admin.delete(f"/api/invitations/{invitation['id']}")

    assert (answer.status_code, answer.json()["status"]) == (202, "revoked")
    failed = await _status(hub, invitation["id"], "failed")
    assert failed["reason"].startswith("revoke_failed: clerk.revoke_not_allowed")
    assert await _workflow_result(hub, invitation["workflow_id"]) == "failed"


async def test_revoke_closes_the_row_even_when_its_workflow_is_gone(hub: RunningHub) -> None:
    invitation = await _invite(hub, "finn@example.org")
    await _status(hub, invitation["id"], "sent")
    client = hub.hub.temporal_client
    assert client is not None
    await client.get_workflow_handle(invitation["workflow_id"]).terminate("test: gone")

    answer = await hub.admin.delete(f"/api/invitations/{invitation['id']}")

    assert (answer.status_code, answer.json()["status"]) == (202, "revoked")
    stored = (await hub.admin.get(f"/api/invitations/{invitation['id']}")).json()
    assert stored["status"] == "revoked" and stored["closed_at"] is not None
    assert (await _invite(hub, "finn@example.org"))["id"] != invitation["id"]  # no 409
