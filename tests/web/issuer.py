"""A stand-in OpenID Connect issuer: RSA keys made with `cryptography`, tokens signed with
PyJWT, and its JWKS served by a real local HTTP server (tests/partner_server.py)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from integration_hub.runtime import Hub
from integration_hub.settings import Settings
from tests.helpers import RunningHub, make_settings, partner_secrets, serve_hub
from tests.partner_server import PartnerServer, RecordedRequest, Reply

AUDIENCE = "https://integration-hub.test/api"
JWKS_PATH = "/.well-known/jwks.json"
ROLES_CLAIM = "https://integration-hub/roles"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Issuer:
    """Publishes the public half of `key` under `kid` at {url}/.well-known/jwks.json."""

    def __init__(self) -> None:
        self.key = new_key()
        self.kid = "key-1"
        self.server = PartnerServer(self._answer)
        self.url = self.server.url

    def _answer(self, request: RecordedRequest) -> Reply:
        if request.path != JWKS_PATH:
            return Reply(404, {"error": "not_found"})
        return Reply(200, self.jwks())

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def rotate(self) -> None:
        """A new signing key under a new kid; the old one is no longer published."""
        self.key = new_key()
        self.kid = f"key-{uuid.uuid4().hex[:6]}"

    @property
    def jwks_fetches(self) -> int:
        return sum(1 for r in self.server.requests if r.path == JWKS_PATH)

    def claims(self, subject: str = "user_1", **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + 300,
            **changes,
        }

    def token(
        self,
        role: str | None = None,
        *,
        subject: str = "user_1",
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        **changes: Any,
    ) -> str:
        claims = self.claims(subject, **changes)
        if role is not None:
            claims[ROLES_CLAIM] = [role]
        return jwt.encode(
            claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid}
        )

    def __enter__(self) -> Issuer:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def clerk_settings(
    tmp_path: Path, database_url: str, temporal_address: str, issuer: Issuer, **overrides: Any
) -> Settings:
    """Settings whose sign-in issuer is Clerk (HUB_AUTH_PROVIDER; a real Clerk host says so)."""
    return make_settings(
        tmp_path,
        database_url,
        temporal_address,
        auth_issuer=issuer.url,
        auth_audience=AUDIENCE,
        auth_provider="clerk",
        **overrides,
    )


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with Issuer() as running:
        yield running


@pytest.fixture
def twilio_api() -> Iterator[PartnerServer]:
    with PartnerServer(Reply(201, {"sid": "SM" + "c" * 32, "status": "queued"})) as server:
        yield server


@pytest.fixture
async def oidc_hub(
    tmp_path: Path,
    database_url: str,
    temporal_address: str,
    issuer: Issuer,
    twilio_api: PartnerServer,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[RunningHub]:
    """A hub that accepts the issuer's tokens (and, not being production, the local token)."""
    # The partner's own setting, read from the environment when the hub builds its calls.
    monkeypatch.setenv("HUB_TWILIO_API_BASE_URL", twilio_api.url)
    settings = make_settings(
        tmp_path,
        database_url,
        temporal_address,
        auth_issuer=issuer.url,
        auth_audience=AUDIENCE,
        auth_jwks_cooldown_seconds=0,
    )
    async with serve_hub(Hub(settings, secrets=partner_secrets())) as running:
        yield running
