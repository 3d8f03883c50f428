"""Auth0 organization invitations and the sign-in policy read, with httpx against a local
stand-in for the tenant that checks the exact documented requests."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from integration_hub.connectors.auth0.invitations import Auth0Invitations
from integration_hub.connectors.identity_provider import (
    AcceptRequest,
    InvitationRequest,
    RevokeRequest,
)
from integration_hub.secrets import EnvSecretSource
from tests.partner_server import PartnerServer, RecordedRequest, Reply, partner_server

CLIENT_ID = "hubM2MClientId0123456789abcdefAB"
CLIENT_SECRET = "hub-m2m-client-secret-0123456789abcdefghijklmnopqrstuv"
ORG = "org_W30s9GkUqVMTYKXK"
INVITATIONS = f"/api/v2/organizations/{ORG}/invitations"
REQUEST = InvitationRequest(
    invitation_id="inv_" + "b" * 32,
    email="ana@example.org",
    role="operator",
    redirect_url="https://hub.example.com/status/login",
    ttl_seconds=86400,
    inviter="Integration Hub",
)


def tenant(request: RecordedRequest) -> Reply:
    if request.path == "/oauth/token":
        return Reply(body={"access_token": f"mgmt-{uuid.uuid4().hex[:8]}", "expires_in": 86400})
    if request.path == "/api/v2/roles":
        name = request.query.get("name_filter", [""])[0]
        roles = [{"id": "rol_op", "name": "operator"}, {"id": "rol_op2", "name": "operator-x"}]
        return Reply(body=[r for r in roles if r["name"].startswith(name)])
    if request.method == "POST" and request.path == INVITATIONS:
        return Reply(201, {"id": "uinv_0000000000000001", "expires_at": "2026-12-08T20:00:00.000Z"})
    if request.method == "GET" and request.path == INVITATIONS:
        return Reply(body=HELD)
    if request.method == "DELETE" and request.path.startswith(INVITATIONS + "/"):
        return Reply(204, b"")
    if request.method == "POST" and request.path.startswith("/api/v2/users/"):
        return Reply(204, b"")  # Auth0 answers 204 No Content, also for a role held already
    if request.path == "/api/v2/guardian/factors":
        return Reply(body=FACTORS)
    if request.path == "/api/v2/connections":
        return Reply(body=CONNECTIONS)
    return Reply(404, {"statusCode": 404, "error": "Not Found", "errorCode": "not_found"})


FACTORS: list[dict[str, Any]] = []
HELD = [
    {"id": "uinv_other_role", "invitee": {"email": "ana@example.org"}, "roles": ["rol_admin"]},
    {"id": "uinv_expired", "invitee": {"email": "ana@example.org"}, "roles": ["rol_op"],
     "expires_at": "2020-01-01T00:00:00.000Z"},  # same e-mail and role, but over: skipped
    {"id": "uinv_first_attempt", "invitee": {"email": "Ana@example.org"}, "roles": ["rol_op"],
     "expires_at": "2026-12-08T20:00:00.000Z"},
]  # fmt: skip
CONNECTIONS: list[dict[str, Any]] = []


@pytest.fixture
def auth0_api() -> Iterator[PartnerServer]:
    yield from partner_server(tenant)


@pytest.fixture
def opened() -> Iterator[list[Auth0Invitations]]:
    made: list[Auth0Invitations] = []
    yield made
    for calls in made:
        calls.close()


def _calls(server: PartnerServer, made: list[Auth0Invitations], **extra: str) -> Auth0Invitations:
    environ = {
        "AUTH_ISSUER": server.url,
        "AUTH_CLIENT_ID": CLIENT_ID,
        "AUTH_CLIENT_SECRET": CLIENT_SECRET,
        "AUTH0_ORGANIZATION_ID": ORG,
        **extra,
    }
    made.append(Auth0Invitations(EnvSecretSource(environ={k: v for k, v in environ.items() if v})))
    return made[-1]


def test_create_looks_up_the_role_and_invites_to_the_organization(
    auth0_api: PartnerServer, opened: list[Auth0Invitations]
) -> None:
    made = _calls(auth0_api, opened).create_invitation(REQUEST)

    assert made.provider_invitation_id == "uinv_0000000000000001"
    assert made.expires_at == 1_796_760_000  # 2026-12-08T20:00:00Z
    token, roles, create = auth0_api.requests
    assert token.path == "/oauth/token"
    assert (roles.method, roles.path, roles.query) == (
        "GET",
        "/api/v2/roles",
        {"name_filter": ["operator"]},
    )
    assert (create.method, create.path) == ("POST", INVITATIONS)
    assert create.headers["authorization"].startswith("Bearer mgmt-")
    assert create.headers["content-type"] == "application/json"
    assert create.json() == {
        "inviter": {"name": "Integration Hub"},
        "invitee": {"email": "ana@example.org"},
        "client_id": CLIENT_ID,
        "roles": ["rol_op"],  # the exact name, not the prefix match
        "ttl_sec": 86400,
        "send_invitation_email": True,
    }


def test_accepting_gives_the_user_the_tenant_role_the_mirror_reads(
    auth0_api: PartnerServer, opened: list[Auth0Invitations]
) -> None:
    accept = AcceptRequest(
        "inv_" + "b" * 32, "uinv_0000000000000001", "auth0|6410f0c0a5b4c1d2e3f40516", "operator"
    )

    _calls(auth0_api, opened).accept_invitation(accept)

    token, roles, assign = auth0_api.requests
    assert token.path == "/oauth/token"
    assert (roles.path, roles.query) == ("/api/v2/roles", {"name_filter": ["operator"]})
    assert (assign.method, assign.path) == (
        "POST",
        "/api/v2/users/auth0%7C6410f0c0a5b4c1d2e3f40516/roles",
    )
    assert assign.headers["authorization"].startswith("Bearer mgmt-")
    assert assign.json() == {"roles": ["rol_op"]}  # a tenant role, not an organization one


def test_a_retried_attempt_adopts_the_invitation_an_earlier_attempt_made(
    auth0_api: PartnerServer, opened: list[Auth0Invitations]
) -> None:
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, attempt=2)

    made = retry.run(_calls(auth0_api, opened).create_invitation, REQUEST)

    assert (made.provider_invitation_id, made.expires_at) == ("uinv_first_attempt", 1_796_760_000)
    listing = auth0_api.requests[-1]
    assert (listing.method, listing.path) == ("GET", INVITATIONS)
    assert listing.query == {"page": ["0"], "per_page": ["50"], "sort": ["created_at:-1"]}
    assert not any(r.method == "POST" and r.path == INVITATIONS for r in auth0_api.requests)


def test_a_retry_that_finds_none_invites(
    auth0_api: PartnerServer, opened: list[Auth0Invitations]
) -> None:
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, attempt=3)

    made = retry.run(
        _calls(auth0_api, opened).create_invitation,
        dataclasses.replace(REQUEST, email="new@example.org"),
    )

    assert made.provider_invitation_id == "uinv_0000000000000001"
    assert [r.method for r in auth0_api.requests if r.path == INVITATIONS] == ["GET", "POST"]


def test_an_unknown_role_is_refused_before_inviting(
    auth0_api: PartnerServer, opened: list[Auth0Invitations]
) -> None:
    with pytest.raises(ApplicationError) as raised:
        _calls(auth0_api, opened).create_invitation(
            InvitationRequest(**{**REQUEST.__dict__, "role": "admin"})
        )
    assert raised.value.type == "CallRefused"
    assert not any(r.path == INVITATIONS for r in auth0_api.requests)


def test_without_an_organization_nothing_is_sent(
    auth0_api: PartnerServer, opened: list[Auth0Invitations]
) -> None:
    with pytest.raises(ApplicationError) as raised:
        _calls(auth0_api, opened, AUTH0_ORGANIZATION_ID="").create_invitation(REQUEST)
    assert "AUTH0_ORGANIZATION_ID" in raised.value.message
    assert auth0_api.requests == []


def test_a_429_carries_retry_after_then_the_retry_succeeds(
    auth0_api: PartnerServer, opened: list[Auth0Invitations]
) -> None:
    calls = _calls(auth0_api, opened)
    calls.revoke_invitation(RevokeRequest(REQUEST.invitation_id, "uinv_1"))  # token cached
    auth0_api.reply(Reply(429, {"statusCode": 429, "errorCode": "too_many_requests"},
                          {"Retry-After": "3"}))  # fmt: skip

    with pytest.raises(ApplicationError) as raised:
        calls.revoke_invitation(RevokeRequest(REQUEST.invitation_id, "uinv_1"))
    assert raised.value.next_retry_delay == timedelta(seconds=3)
    calls.revoke_invitation(RevokeRequest(REQUEST.invitation_id, "uinv_1"))

    deletes = [r for r in auth0_api.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == [f"{INVITATIONS}/uinv_1"] * 3


def test_sign_in_policy_reads_factors_and_the_passkey_policy(
    auth0_api: PartnerServer, opened: list[Auth0Invitations], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        f"{__name__}.FACTORS",
        [{"name": "webauthn-roaming", "enabled": True}, {"name": "sms", "enabled": False},
         {"name": "otp", "enabled": True}],
    )  # fmt: skip
    passkey = {"authentication_methods": {"passkey": {"enabled": True}}}
    monkeypatch.setattr(f"{__name__}.CONNECTIONS", [{"name": "db", "options": passkey}])

    policy = _calls(auth0_api, opened).sign_in_policy()

    assert (policy.passkeys, policy.mfa, policy.factors) == (
        True,
        True,
        ("webauthn-roaming", "otp"),
    )
    connections = [r for r in auth0_api.requests if r.path == "/api/v2/connections"]
    assert connections[0].query == {"strategy": ["auth0"]}


def test_sign_in_policy_disabled(auth0_api: PartnerServer, opened: list[Auth0Invitations]) -> None:
    policy = _calls(auth0_api, opened).sign_in_policy()

    assert (policy.passkeys, policy.mfa, policy.factors) == (False, False, ())
