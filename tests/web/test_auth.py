"""Admin sign-in: OIDC access tokens checked against a JWKS served over real HTTP, roles from the
token or the users-and-roles mirror, and what each role may and may not do."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest

from integration_hub.runtime import Hub
from integration_hub.storage import identity
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import identity_users
from integration_hub.web.auth import provider_of_issuer
from tests.helpers import (
    ADMIN_TOKEN,
    RunningHub,
    make_settings,
    partner_secrets,
    serve_hub,
    stripe_delivery,
)
from tests.web.issuer import (
    Issuer,
    bearer,
    clerk_settings,
    issuer,
    new_key,
    oidc_hub,
    twilio_api,
)

__all__ = ["issuer", "oidc_hub", "twilio_api"]  # fixtures

CLEANER = "+13055550142"


async def delivered_event(hub: RunningHub) -> str:
    body, headers = stripe_delivery()
    answer = await hub.http.post("/webhooks/stripe", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["events"][0]["id"])


async def test_viewer_may_read_events_ledger_and_connectors(
    oidc_hub: RunningHub, issuer: Issuer
) -> None:
    event_id = await delivered_event(oidc_hub)
    headers = bearer(issuer.token("viewer"))
    for path in ("/api/events", f"/api/events/stripe/{event_id}", "/api/ledger", "/api/connectors"):
        answer = await oidc_hub.http.get(path, headers=headers)
        assert answer.status_code == 200, (path, answer.text)


async def test_viewer_may_not_replay_or_send_messages(oidc_hub: RunningHub, issuer: Issuer) -> None:
    event_id = await delivered_event(oidc_hub)
    headers = bearer(issuer.token("viewer"))
    refused = [
        await oidc_hub.http.post(f"/api/events/stripe/{event_id}/replay", headers=headers),
        await oidc_hub.http.post("/api/replay", json={}, headers=headers),
        await oidc_hub.http.post(
            "/api/messages",
            json={"message_id": "m-1", "to": CLEANER, "channel": "sms", "body": "Hola"},
            headers=headers,
        ),
    ]
    assert [(r.status_code, r.json()["error"]) for r in refused] == [(403, "forbidden")] * 3


async def test_viewer_may_not_read_raw_bodies(oidc_hub: RunningHub, issuer: Issuer) -> None:
    event_id = await delivered_event(oidc_hub)
    answer = await oidc_hub.http.get(
        f"/api/events/stripe/{event_id}/raw", headers=bearer(issuer.token("viewer"))
    )
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")


async def test_operator_may_replay(oidc_hub: RunningHub, issuer: Issuer) -> None:
    event_id = await delivered_event(oidc_hub)
    answer = await oidc_hub.http.post(
        f"/api/events/stripe/{event_id}/replay", headers=bearer(issuer.token("operator"))
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"requeued": 1}


async def test_operator_may_send_messages(oidc_hub: RunningHub, issuer: Issuer) -> None:
    answer = await oidc_hub.http.post(
        "/api/messages",
        json={"message_id": uuid.uuid4().hex, "to": CLEANER, "channel": "sms", "body": "Hola"},
        headers=bearer(issuer.token("operator")),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["message_sid"] == "SM" + "c" * 32


async def test_operator_may_not_read_raw_bodies_or_the_audit_log(
    oidc_hub: RunningHub, issuer: Issuer
) -> None:
    event_id = await delivered_event(oidc_hub)
    headers = bearer(issuer.token("operator"))
    raw = await oidc_hub.http.get(f"/api/events/stripe/{event_id}/raw", headers=headers)
    audit = await oidc_hub.http.get("/api/audit", headers=headers)
    assert (raw.status_code, audit.status_code) == (403, 403)


async def test_admin_may_read_raw_bodies(oidc_hub: RunningHub, issuer: Issuer) -> None:
    body, headers = stripe_delivery()
    answer = await oidc_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    event_id = answer.json()["events"][0]["id"]
    raw = await oidc_hub.http.get(
        f"/api/events/stripe/{event_id}/raw", headers=bearer(issuer.token("admin"))
    )
    assert raw.status_code == 200, raw.text
    assert raw.json()["body"].encode() == body
    assert raw.json()["body_encoding"] == "utf-8"
    assert raw.json()["body_purged_at"] is None


async def test_signed_in_user_without_a_role_may_read_nothing(
    oidc_hub: RunningHub, issuer: Issuer
) -> None:
    answer = await oidc_hub.http.get("/api/events", headers=bearer(issuer.token(None)))
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")


def _mirror(hub: RunningHub, *, provider: str, user_id: str, role: str) -> None:
    now = datetime.now(UTC)
    with begin_write(hub.hub.engine) as connection:
        identity.upsert_newer(
            connection,
            table=identity_users,
            key=("partner", "user_id"),
            row={
                "partner": provider,
                "user_id": user_id,
                "role": role,
                "deleted": False,
                "source_time": now,
                "updated_at": now,
            },
        )


@pytest.fixture
async def clerk_hub(
    tmp_path: Path, database_url: str, temporal_address: str, issuer: Issuer
) -> AsyncIterator[RunningHub]:
    """A hub whose issuer is Clerk (HUB_AUTH_PROVIDER; a real Clerk issuer host says so)."""
    settings = clerk_settings(tmp_path, database_url, temporal_address, issuer)
    async with serve_hub(Hub(settings, secrets=partner_secrets())) as running:
        yield running


async def test_role_comes_from_the_mirror_when_the_token_has_none(
    clerk_hub: RunningHub, issuer: Issuer
) -> None:
    _mirror(clerk_hub, provider="clerk", user_id="user_mirrored", role="operator")
    headers = bearer(issuer.token(None, subject="user_mirrored"))
    replay = await clerk_hub.http.post("/api/replay", json={"partner": "none"}, headers=headers)
    raw = await clerk_hub.http.get("/api/events/stripe/evt_x/raw", headers=headers)
    assert (replay.status_code, raw.status_code) == (200, 403)


async def test_another_providers_row_for_the_same_id_grants_nothing(
    clerk_hub: RunningHub, issuer: Issuer
) -> None:
    """Auth0 log entries are not signed: a row they wrote under a Clerk user's id must not
    give that Clerk user (or whoever holds the id) a role."""
    _mirror(clerk_hub, provider="auth0", user_id="user_target", role="admin")
    answer = await clerk_hub.http.get(
        "/api/events", headers=bearer(issuer.token(None, subject="user_target"))
    )
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")


async def test_the_mirror_grants_nothing_when_the_provider_is_unknown(
    oidc_hub: RunningHub, issuer: Issuer
) -> None:
    """The issuer here is a local URL and HUB_AUTH_PROVIDER is unset: no provider, no row."""
    for provider in ("clerk", "auth0"):
        _mirror(oidc_hub, provider=provider, user_id="user_unknown", role="admin")
    answer = await oidc_hub.http.get(
        "/api/events", headers=bearer(issuer.token(None, subject="user_unknown"))
    )
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")


def test_the_provider_comes_from_the_issuer() -> None:
    assert provider_of_issuer("https://acme.eu.auth0.com/") == "auth0"
    assert provider_of_issuer("https://clerk.acme.com") == "clerk"
    assert provider_of_issuer("https://fancy-owl-12.clerk.accounts.dev") == "clerk"
    assert provider_of_issuer("https://login.acme.com") is None  # a custom domain: configure it
    assert provider_of_issuer("https://login.acme.com", "auth0") == "auth0"
    assert provider_of_issuer("https://evil.example/.auth0.com") is None  # the host, not the path


async def test_clerk_metadata_role_claim_is_read(oidc_hub: RunningHub, issuer: Issuer) -> None:
    token = issuer.token(None, metadata={"role": "admin"})
    answer = await oidc_hub.http.get("/api/audit", headers=bearer(token))
    assert answer.status_code == 200, answer.text


async def test_expired_token_is_refused(oidc_hub: RunningHub, issuer: Issuer) -> None:
    token = issuer.token("admin", exp=int(datetime.now(UTC).timestamp()) - 600)
    answer = await oidc_hub.http.get("/api/events", headers=bearer(token))
    assert (answer.status_code, answer.json()["error"]) == (401, "token_expired")


async def test_wrong_issuer_is_refused(oidc_hub: RunningHub, issuer: Issuer) -> None:
    token = issuer.token("admin", iss="https://evil.example.com/")
    answer = await oidc_hub.http.get("/api/events", headers=bearer(token))
    assert (answer.status_code, answer.json()["error"]) == (401, "wrong_issuer")


async def test_wrong_audience_is_refused(oidc_hub: RunningHub, issuer: Issuer) -> None:
    token = issuer.token("admin", aud="https://another-api.example.com")
    answer = await oidc_hub.http.get("/api/events", headers=bearer(token))
    assert (answer.status_code, answer.json()["error"]) == (401, "wrong_audience")


async def test_unsigned_token_is_refused(oidc_hub: RunningHub, issuer: Issuer) -> None:
    claims = {**issuer.claims(), "https://integration-hub/roles": ["admin"]}
    token = jwt.encode(claims, None, algorithm="none", headers={"kid": issuer.kid})
    answer = await oidc_hub.http.get("/api/events", headers=bearer(token))
    assert (answer.status_code, answer.json()["error"]) == (401, "bad_algorithm")


async def test_hmac_token_keyed_with_the_public_key_is_refused(
    oidc_hub: RunningHub, issuer: Issuer
) -> None:
    public_pem = issuer.jwks()["keys"][0]["n"]  # any public material: HS* is refused outright
    claims = {**issuer.claims(), "https://integration-hub/roles": ["admin"]}
    token = jwt.encode(claims, public_pem, algorithm="HS256", headers={"kid": issuer.kid})
    answer = await oidc_hub.http.get("/api/events", headers=bearer(token))
    assert (answer.status_code, answer.json()["error"]) == (401, "bad_algorithm")


async def test_token_signed_with_another_key_is_refused(
    oidc_hub: RunningHub, issuer: Issuer
) -> None:
    token = issuer.token("admin", key=new_key())  # same kid, someone else's key
    answer = await oidc_hub.http.get("/api/events", headers=bearer(token))
    assert (answer.status_code, answer.json()["error"]) == (401, "bad_signature")


async def test_token_with_an_unknown_kid_is_refused(oidc_hub: RunningHub, issuer: Issuer) -> None:
    token = issuer.token("admin", key=new_key(), kid="not-published")
    answer = await oidc_hub.http.get("/api/events", headers=bearer(token))
    assert (answer.status_code, answer.json()["error"]) == (401, "unknown_key")


async def test_rotated_key_works_after_one_refetch(oidc_hub: RunningHub, issuer: Issuer) -> None:
    first = await oidc_hub.http.get("/api/events", headers=bearer(issuer.token("viewer")))
    assert first.status_code == 200, first.text
    assert issuer.jwks_fetches == 1

    issuer.rotate()
    rotated = await oidc_hub.http.get("/api/events", headers=bearer(issuer.token("viewer")))
    again = await oidc_hub.http.get("/api/events", headers=bearer(issuer.token("viewer")))

    assert (rotated.status_code, again.status_code) == (200, 200), rotated.text
    assert issuer.jwks_fetches == 2  # one refetch for the new kid, then the cache


async def test_local_admin_token_acts_as_admin_outside_production(
    oidc_hub: RunningHub,
) -> None:
    answer = await oidc_hub.http.get("/api/audit", headers=bearer(ADMIN_TOKEN))
    assert answer.status_code == 200, answer.text


async def test_local_admin_token_is_refused_in_production(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    settings = make_settings(tmp_path, database_url, temporal_address, env="production")
    async with serve_hub(Hub(settings, secrets=partner_secrets())) as running:
        answer = await running.http.get("/api/events", headers=bearer(ADMIN_TOKEN))
    assert (answer.status_code, answer.json()["error"]) == (401, "local_token_refused")
