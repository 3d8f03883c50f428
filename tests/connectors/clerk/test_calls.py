"""Clerk calls out: the Backend API's invitations and the Frontend API's environment (doctor's
sign-in check), with httpx against a local stand-in checking the exact documented requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.clerk.calls import ClerkBackend, sign_in_policy
from integration_hub.connectors.identity_provider import InvitationRequest, RevokeRequest
from integration_hub.secrets import EnvSecretSource
from tests.helpers import make_settings
from tests.partner_server import PartnerServer, RecordedRequest, Reply, partner_server

CLERK_KEY = "sk_test_HubInvitationsKey0123456789"
CREATED = {
    "object": "invitation",
    "id": "inv_2b8iSRUrJp5hUWqyYW6ke4BRy1H",
    "email_address": "ana@example.org",
    "public_metadata": {"role": "operator"},
    "status": "pending",
    "expires_at": 1_765_000_000_123,
}
REQUEST = InvitationRequest(
    invitation_id="inv_" + "a" * 32,
    email="ana@example.org",
    role="operator",
    redirect_url="https://hub.example.com/status/login",
    ttl_seconds=3 * 86400 + 1,
    inviter="Integration Hub",
)


def backend_api(request: RecordedRequest) -> Reply:
    if request.path == "/v1/invitations":
        return Reply(body=CREATED)
    if request.path.endswith("/revoke"):
        return Reply(body={**CREATED, "status": "revoked", "revoked": True})
    return Reply(404, {"errors": [{"code": "resource_not_found", "message": "not found"}]})


@pytest.fixture
def clerk_api() -> Iterator[PartnerServer]:
    yield from partner_server(backend_api)


@pytest.fixture
def backends() -> Iterator[list[ClerkBackend]]:
    made: list[ClerkBackend] = []
    yield made
    for backend in made:
        backend.close()


def _backend(
    server: PartnerServer, made: list[ClerkBackend], key: str | None = CLERK_KEY
) -> ClerkBackend:
    environ = {"CLERK_SECRET_KEY": key} if key else {}
    made.append(ClerkBackend(EnvSecretSource(environ=environ), api_base=f"{server.url}/v1"))
    return made[-1]


def test_create_invitation_sends_the_documented_request(
    clerk_api: PartnerServer, backends: list[ClerkBackend]
) -> None:
    made = _backend(clerk_api, backends).create_invitation(REQUEST)

    assert (made.provider_invitation_id, made.expires_at) == (CREATED["id"], 1_765_000_000)
    [sent] = clerk_api.requests
    assert (sent.method, sent.path) == ("POST", "/v1/invitations")
    assert sent.headers["authorization"] == f"Bearer {CLERK_KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == {
        "email_address": "ana@example.org",
        "public_metadata": {"role": "operator"},
        "redirect_url": "https://hub.example.com/status/login",
        "notify": True,
        "expires_in_days": 4,  # whole days, rounded up
        "ignore_existing": False,
    }


def test_revoke_posts_to_the_invitations_revoke_path(
    clerk_api: PartnerServer, backends: list[ClerkBackend]
) -> None:
    _backend(clerk_api, backends).revoke_invitation(RevokeRequest("inv_" + "a" * 32, CREATED["id"]))

    [sent] = clerk_api.requests
    assert (sent.method, sent.path) == ("POST", f"/v1/invitations/{CREATED['id']}/revoke")
    assert sent.headers["authorization"] == f"Bearer {CLERK_KEY}"


def test_a_429_is_retryable_after_retry_after_then_the_retry_succeeds(
    clerk_api: PartnerServer, backends: list[ClerkBackend]
) -> None:
    clerk_api.reply(Reply(429, {"errors": [{"code": "too_many_requests"}]}, {"Retry-After": "7"}))
    backend = _backend(clerk_api, backends)

    with pytest.raises(ApplicationError) as raised:
        backend.create_invitation(REQUEST)
    assert not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=7)
    assert raised.value.type == "clerk.too_many_requests"
    assert backend.create_invitation(REQUEST).provider_invitation_id == CREATED["id"]
    assert [r.path for r in clerk_api.requests] == ["/v1/invitations", "/v1/invitations"]


DUPLICATE = Reply(400, {"errors": [{"code": "duplicate_record", "message": "dup"}]})


def test_a_retry_after_a_lost_answer_adopts_the_pending_invitation(
    clerk_api: PartnerServer, backends: list[ClerkBackend]
) -> None:
    other_role = {**CREATED, "id": "inv_other", "public_metadata": {"role": "admin"}}
    clerk_api.reply(DUPLICATE, Reply(body=[other_role, CREATED]))

    made = _backend(clerk_api, backends).create_invitation(REQUEST)

    assert made.provider_invitation_id == CREATED["id"]
    create, listing = clerk_api.requests
    assert (create.method, create.path) == ("POST", "/v1/invitations")
    assert (listing.method, listing.path) == ("GET", "/v1/invitations")
    assert listing.query == {"status": ["pending"], "query": [REQUEST.email], "limit": ["10"]}
    assert listing.headers["authorization"] == f"Bearer {CLERK_KEY}"


def test_a_duplicate_with_no_matching_pending_invitation_is_refused(
    clerk_api: PartnerServer, backends: list[ClerkBackend]
) -> None:
    clerk_api.reply(DUPLICATE, Reply(body={"data": [], "total_count": 0}))

    with pytest.raises(ApplicationError) as raised:
        _backend(clerk_api, backends).create_invitation(REQUEST)
    assert raised.value.non_retryable
    assert raised.value.type == "clerk.duplicate_record"
    assert [r.method for r in clerk_api.requests] == ["POST", "GET"]


def test_without_the_secret_key_nothing_is_sent(
    clerk_api: PartnerServer, backends: list[ClerkBackend]
) -> None:
    with pytest.raises(ApplicationError) as raised:
        _backend(clerk_api, backends, key=None).create_invitation(REQUEST)
    assert raised.value.type == "CallRefused"
    assert "CLERK_SECRET_KEY" in raised.value.message
    assert clerk_api.requests == []


def _environment(passkey: bool, totp: bool) -> Reply:
    attributes = {
        "email_address": {"enabled": True, "used_for_first_factor": True},
        "passkey": {"enabled": passkey, "used_for_first_factor": passkey},
        "totp": {"enabled": totp, "used_for_second_factor": totp, "second_factors": ["totp"]},
        "backup_code": {"enabled": totp, "used_for_second_factor": totp},
        "phone_number": {"enabled": True, "used_for_second_factor": False},
    }
    return Reply(body={"user_settings": {"attributes": attributes}})


@pytest.mark.parametrize(
    ("passkey", "totp", "expected"),
    [(True, True, (True, True, ("totp", "backup_code"))), (False, False, (False, False, ()))],
)
def test_sign_in_policy_reads_the_frontend_environment(
    clerk_api: PartnerServer,
    tmp_path: object,
    passkey: bool,
    totp: bool,
    expected: tuple[bool, bool, tuple[str, ...]],
) -> None:
    clerk_api.reply(_environment(passkey, totp))
    settings = make_settings(tmp_path, "sqlite://", "127.0.0.1:1", auth_issuer=clerk_api.url)  # type: ignore[arg-type]

    policy = sign_in_policy(settings, EnvSecretSource(environ={}), 2.0)

    assert (policy.passkeys, policy.mfa, policy.factors) == expected
    [sent] = clerk_api.requests
    assert (sent.method, sent.path) == ("GET", "/v1/environment")
