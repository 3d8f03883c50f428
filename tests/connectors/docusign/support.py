"""A local stand-in for DocuSign's OAuth host and eSignature API that checks what DocuSign
documents: the JWT assertion's RS256 signature (with the app's public key) and claims, the
grant type, the bearer token on API calls, and the account in the path."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.partner_server import RecordedRequest, Reply

CLIENT_ID = "7b1f0c2e-9d4a-4e3b-8f6a-1c2d3e4f5a6b"
USER_ID = "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
ACCOUNT_ID = "8f3c2b1a-5d4e-4f60-9a7b-0c1d2e3f4a5b"
TEMPLATE_ES = "11111111-2222-4333-8444-555555555555"
TEMPLATE_EN = "66666666-7777-4888-9999-000000000000"
TEMPLATES = {"cleaner_agreement": {"es": TEMPLATE_ES, "en": TEMPLATE_EN,
                                   "role_name": "Cleaner", "valid_days": 365}}  # fmt: skip
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_KEY_PEM = _KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.TraditionalOpenSSL,  # "BEGIN RSA PRIVATE KEY", as DocuSign shows it
    serialization.NoEncryption(),
).decode()
PUBLIC_KEY = _KEY.public_key()


def docusign_secrets() -> dict[str, str]:
    return {
        "DOCUSIGN_CLIENT_ID": CLIENT_ID,
        "DOCUSIGN_USER_ID": USER_ID,
        "DOCUSIGN_ACCOUNT_ID": ACCOUNT_ID,
        # As a .env line holds it: one line with \n escapes (the declaration normalizes it).
        "DOCUSIGN_PRIVATE_KEY": PRIVATE_KEY_PEM.strip().replace("\n", "\\n"),
    }


@dataclass
class FakeDocuSign:
    """Answers token, userinfo and envelope requests; `base_uri` is the server's own URL."""

    base_uri: str = ""
    token_lifetime: int = 3600
    consent_given: bool = True
    assertions: list[dict[str, Any]] = field(default_factory=list)
    envelopes: list[dict[str, Any]] = field(default_factory=list)
    tokens_issued: int = 0
    lose_answers: int = 0
    api_reply: Callable[[RecordedRequest], Reply | None] | None = None

    def __call__(self, request: RecordedRequest) -> Reply:
        if request.path == "/oauth/token":
            return self._token(request)
        if request.path == "/oauth/userinfo":
            if request.headers.get("authorization") != f"Bearer token-{self.tokens_issued}":
                return Reply(401, {"error": "invalid_token"})
            return Reply(body={"sub": USER_ID, "accounts": [
                {"account_id": "00000000-0000-4000-8000-000000000000", "is_default": True,
                 "base_uri": "https://na4.docusign.net"},
                {"account_id": ACCOUNT_ID, "is_default": False, "base_uri": self.base_uri},
            ]})  # fmt: skip
        if not request.headers.get("authorization", "").startswith("Bearer token-"):
            return Reply(401, {"errorCode": "AUTHORIZATION_INVALID_TOKEN"})
        if self.api_reply is not None and (reply := self.api_reply(request)) is not None:
            return reply
        if (request.method, request.path) == (
            "POST",
            f"/restapi/v2.1/accounts/{ACCOUNT_ID}/envelopes",
        ):
            envelope_id = f"0e0e0e0e-0000-4000-8000-{len(self.envelopes):012d}"
            self.envelopes.append({"envelopeId": envelope_id, **json.loads(request.body)})
            if self.lose_answers > 0:  # made, but the answer never reaches the hub
                self.lose_answers -= 1
                return Reply(503, {"errorCode": "SERVICE_UNAVAILABLE"})
            return Reply(201, {"envelopeId": envelope_id, "uri": f"/envelopes/{envelope_id}",
                               "statusDateTime": "2026-12-01T10:00:00.0000000Z", "status": "sent"})  # fmt: skip
        if (request.method, request.path) == (
            "GET",
            f"/restapi/v2.1/accounts/{ACCOUNT_ID}/envelopes",
        ):
            (wanted,) = request.query["custom_field"]
            name, _, value = wanted.partition("=")
            found = [
                {
                    "envelopeId": e["envelopeId"],
                    "status": "sent",
                    "sentDateTime": "2026-12-01T10:00:00Z",
                }
                for e in self.envelopes
                if {"name": name, "value": value, "show": "false", "required": "false"}
                in e["customFields"]["textCustomFields"]
            ]
            return Reply(body={"resultSetSize": str(len(found)), "envelopes": found})
        return Reply(404, {"errorCode": "INVALID_REQUEST_PARAMETER", "message": "no such route"})

    def _token(self, request: RecordedRequest) -> Reply:
        form = parse_qs(request.body.decode())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return Reply(400, {"error": "unsupported_grant_type"})
        (assertion,) = form["assertion"]
        try:
            claims = jwt.decode(assertion, PUBLIC_KEY, algorithms=["RS256"],
                                audience="account-d.docusign.com", issuer=CLIENT_ID,
                                leeway=3600 * 2,  # a test's clock may run ahead; the bounds are below
                                options={"require": ["iss", "sub", "aud", "iat", "exp"]})  # fmt: skip
        except jwt.PyJWTError as error:
            return Reply(400, {"error": "invalid_grant", "error_description": str(error)})
        self.assertions.append({"header": jwt.get_unverified_header(assertion), **claims})
        if claims["sub"] != USER_ID or claims.get("scope") != "signature impersonation":
            return Reply(400, {"error": "invalid_grant"})
        if claims["exp"] - claims["iat"] > 3600 or abs(claims["iat"] - time.time()) > 3600 * 48:
            return Reply(400, {"error": "invalid_grant", "error_description": "expired"})
        if not self.consent_given:
            return Reply(400, {"error": "consent_required"})
        self.tokens_issued += 1
        return Reply(body={"access_token": f"token-{self.tokens_issued}", "token_type": "Bearer",
                           "expires_in": self.token_lifetime})  # fmt: skip
