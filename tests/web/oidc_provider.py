"""A local OpenID Connect provider for the sign-in tests, on a real port (tests/partner_server.py).

It serves discovery, /authorize (a tiny HTML page with Continue and Deny), /approve, /token,
its JWKS and an end-session endpoint, and checks what the hub sends the way a strict provider
does: every parameter of the authorization request, the code single-use, `redirect_uri` equal
to the authorized one, the client's authentication by the method discovery offers, and the PKCE
verifier against the S256 challenge, exactly. Anything off-spec is a 400 and its reason is kept
in `refusals`, which a passing test expects empty.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.partner_server import PartnerServer, RecordedRequest, Reply

CLIENT_ID = "hubPanelClient0001"
CLIENT_SECRET = "panel-client-secret-" + "x" * 24
AUDIENCE = "https://integration-hub.test/api"
ROLES_CLAIM = "https://integration-hub/roles"
JWKS_PATH = "/.well-known/jwks.json"  # where the hub's Authenticator looks by default
VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    code_challenge: str
    scope: str
    audience: str | None
    subject: str = ""


@dataclass
class OidcProvider:
    auth_method: str = "client_secret_basic"
    end_session: bool = True
    # The host the browser reaches the provider's pages at: "localhost" makes the provider
    # another site than the hub at 127.0.0.1, so its redirect back is cross-site, as in life.
    browser_host: str = "127.0.0.1"
    subject: str = "user_oidc_1"
    # Claims added to (or replacing) the ID token's; roles by default.
    claims: dict[str, Any] = field(default_factory=lambda: {ROLES_CLAIM: ["admin"]})
    # Replaces the RS256 signing of the ID token (alg none, HS256, another key...).
    sign: Callable[[dict[str, Any]], str] | None = None
    authorizations: list[Grant] = field(default_factory=list)
    token_requests: list[RecordedRequest] = field(default_factory=list)
    logouts: list[dict[str, str]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "oidc-key-1"
        self._tickets: dict[str, Grant] = {}
        self._codes: dict[str, Grant] = {}
        self.server = PartnerServer(self._answer)
        self.url = self.server.url
        self.front_url = self.url.replace("127.0.0.1", self.browser_host)

    # --- what tests use ---------------------------------------------------------------------

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": grant.client_id,
            "sub": grant.subject,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
            "email": "ana@example.com",  # personal data the hub must not log
            **self.claims,
        }
        if self.sign is not None:
            return self.sign(claims)
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def access_token(self, role: str | None = "admin", subject: str = "user_machine") -> str:
        """An API access token (aud = the hub's API), as a machine or break-glass pastes it."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + 300,
        }  # fmt: skip
        if role is not None:
            claims[ROLES_CLAIM] = [role]
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    @property
    def jwks_fetches(self) -> int:
        return sum(1 for r in self.server.requests if r.path == JWKS_PATH)

    def ticket_of(self, page: str) -> str:
        found = re.search(r'name="ticket" value="([^"]+)"', page)
        assert found is not None, page
        return found.group(1)

    # --- the endpoints ----------------------------------------------------------------------

    def _answer(self, request: RecordedRequest) -> Reply:
        routes: dict[tuple[str, str], Callable[[RecordedRequest], Reply]] = {
            ("GET", "/.well-known/openid-configuration"): self._discovery,
            ("GET", "/authorize"): self._authorize,
            ("GET", "/approve"): self._approve,
            ("POST", "/token"): self._token,
            ("GET", JWKS_PATH): lambda _: Reply(200, self.jwks()),
            ("GET", "/logout"): self._logout,
        }
        route = routes.get((request.method, request.path))
        return route(request) if route else Reply(404, {"error": "not_found"})

    def _refuse(self, why: str, error: str = "invalid_request") -> Reply:
        self.refusals.append(why)
        return Reply(400, {"error": error, "error_description": why})

    def _discovery(self, _: RecordedRequest) -> Reply:
        document = {
            "issuer": self.url,
            "authorization_endpoint": f"{self.front_url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}{JWKS_PATH}",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [self.auth_method],
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        if self.end_session:
            document["end_session_endpoint"] = f"{self.front_url}/logout"
        return Reply(200, document)

    def _authorize(self, request: RecordedRequest) -> Reply:
        q = {k: v[0] for k, v in request.query.items() if len(v) == 1}
        if len(q) != len(request.query):
            return self._refuse("a parameter is repeated")
        checks = (
            (q.get("response_type") == "code", "response_type must be code"),
            (q.get("client_id") == CLIENT_ID, "unknown client_id"),
            (q.get("redirect_uri", "").endswith("/status/login/callback"), "bad redirect_uri"),
            ("openid" in q.get("scope", "").split(), "scope lacks openid"),
            (len(q.get("state", "")) >= 32, "state missing or short"),
            (len(q.get("nonce", "")) >= 32, "nonce missing or short"),
            (q.get("code_challenge_method") == "S256", "code_challenge_method must be S256"),
            (re.fullmatch(r"[A-Za-z0-9_-]{43}", q.get("code_challenge", "")) is not None,
             "code_challenge is not a base64url SHA-256"),
        )  # fmt: skip
        for ok, why in checks:
            if not ok:
                return self._refuse(why)
        grant = Grant(
            client_id=q["client_id"], redirect_uri=q["redirect_uri"], state=q["state"],
            nonce=q["nonce"], code_challenge=q["code_challenge"], scope=q["scope"],
            audience=q.get("audience"),
        )  # fmt: skip
        self.authorizations.append(grant)
        ticket = secrets.token_urlsafe(16)
        self._tickets[ticket] = grant
        page = (
            "<!doctype html><title>Local provider</title><h1>Sign in to the hub?</h1>"
            f'<form method="get" action="{self.front_url}/approve">'
            f'<input type="hidden" name="ticket" value="{html.escape(ticket)}">'
            '<button id="continue" type="submit">Continue</button> '
            '<button id="deny" type="submit" name="deny" value="1">Deny</button></form>'
        )
        return Reply(200, page.encode(), {"content-type": "text/html; charset=utf-8"})

    def _approve(self, request: RecordedRequest) -> Reply:
        grant = self._tickets.pop(request.query.get("ticket", [""])[0], None)
        if grant is None:
            return self._refuse("unknown ticket")
        if request.query.get("deny"):
            answer = {"error": "access_denied", "state": grant.state}
        else:
            code = secrets.token_urlsafe(24)
            grant.subject = self.subject
            self._codes[code] = grant
            answer = {"code": code, "state": grant.state}
        return Reply(302, b"", {"location": f"{grant.redirect_uri}?{urlencode(answer)}"})

    def _client_authenticated(self, request: RecordedRequest, form: dict[str, str]) -> bool:
        if self.auth_method == "client_secret_basic":
            header = request.headers.get("authorization", "")
            if not header.startswith("Basic ") or "client_secret" in form:
                return False
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return (unquote_plus(user), unquote_plus(password)) == (CLIENT_ID, CLIENT_SECRET)
        return (
            "authorization" not in request.headers
            and form.get("client_id") == CLIENT_ID
            and form.get("client_secret") == CLIENT_SECRET
        )

    def _token(self, request: RecordedRequest) -> Reply:
        self.token_requests.append(request)
        raw = request.form()
        form = {k: v[0] for k, v in raw.items()}
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ) or any(len(v) != 1 for v in raw.values()):
            return self._refuse("not a form of single values")
        if form.get("grant_type") != "authorization_code":
            return self._refuse("grant_type", "unsupported_grant_type")
        if not self._client_authenticated(request, form):
            return self._refuse("client authentication", "invalid_client")
        grant = self._codes.pop(form.get("code", ""), None)  # single use
        if grant is None:
            return self._refuse("unknown or used code", "invalid_grant")
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._refuse("redirect_uri differs", "invalid_grant")
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if not VERIFIER.fullmatch(verifier) or challenge != grant.code_challenge:
            return self._refuse("PKCE verifier does not match", "invalid_grant")
        return Reply(
            200,
            {
                "access_token": self.access_token(),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant),
            },
            {"cache-control": "no-store"},
        )

    def _logout(self, request: RecordedRequest) -> Reply:
        q = {k: v[0] for k, v in request.query.items()}
        self.logouts.append(q)
        if q.get("client_id") != CLIENT_ID or not q.get("post_logout_redirect_uri"):
            return self._refuse("end_session needs client_id and post_logout_redirect_uri")
        return Reply(302, b"", {"location": q["post_logout_redirect_uri"]})

    def __enter__(self) -> OidcProvider:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


@pytest.fixture
def oidc_provider() -> Iterator[OidcProvider]:
    with OidcProvider() as provider:
        yield provider
