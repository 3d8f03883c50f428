"""A small OpenID Connect client: authorization code flow with PKCE (RFC 7636, S256).

One issuer and one client (AUTH_ISSUER, AUTH_CLIENT_ID, AUTH_CLIENT_SECRET). Discovery
(`{issuer}/.well-known/openid-configuration`) is fetched on first use and kept for
`DISCOVERY_TTL`; its body is bounded. The ID token is checked here: RS256/ES256 only, the
signature against the issuer's JWKS (the Authenticator's cached `PyJWKClient` when it serves the
same `jwks_uri`, with its cooldown on unknown kids; else one built once here the same way),
`iss` equal to the issuer, `aud` containing the client id (and `azp` equal to it when there are
several), `exp`/`iat` with the hub's leeway, and `nonce` equal to the pending sign-in's.

Nothing here logs or returns a token in an error; `SignInError.reason` is a metric label.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
import jwt
from jwt import PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError

from integration_hub.web.auth import ALGORITHMS, JWKS_LIFESPAN_SECONDS, LEEWAY_SECONDS

DISCOVERY_TTL = 3600.0
MAX_DOCUMENT_BYTES = 64 * 1024  # discovery and token answers: a few KiB in practice
TIMEOUT = httpx.Timeout(10.0)


_SECRET_METHODS = ("client_secret_basic", "client_secret_post")  # in order of preference


class SignInError(Exception):
    def __init__(self, reason: str, detail: str, *, status: int = 400) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.status = reason, detail, status


def new_verifier() -> str:
    """A PKCE code_verifier: 43 characters of the unreserved set (256 random bits)."""
    return secrets.token_urlsafe(32)


def s256(verifier: str) -> str:
    """The S256 code_challenge of a verifier (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Discovery:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    token_auth_methods: tuple[str, ...]

    @classmethod
    def parse(cls, issuer: str, document: Any) -> Discovery:
        if not isinstance(document, dict):
            raise SignInError("discovery_invalid", "discovery is not a JSON object", status=502)
        if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
            raise SignInError("discovery_invalid", "discovery names another issuer", status=502)
        urls = {}
        # An https issuer's endpoints are https too (a plain-http issuer is a local test one).
        schemes = ("https://",) if issuer.startswith("https://") else ("https://", "http://")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(name)
            if not isinstance(value, str) or not value.startswith(schemes):
                raise SignInError("discovery_invalid", f"discovery lacks {name}", status=502)
            urls[name] = value
        end_session = document.get("end_session_endpoint")
        if isinstance(end_session, str) and not end_session.startswith(schemes):
            end_session = None
        methods = document.get("token_endpoint_auth_methods_supported")
        return cls(
            **urls,
            end_session_endpoint=end_session if isinstance(end_session, str) else None,
            # The spec's default when the list is absent.
            token_auth_methods=tuple(m for m in methods if isinstance(m, str))
            if isinstance(methods, list)
            else ("client_secret_basic",),
        )


@dataclass(frozen=True, slots=True)
class ClientConfig:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    audience: str | None  # Auth0 issues an API access token only when asked for an audience
    # client_secret_basic | client_secret_post | auto (by discovery)
    token_auth: str = "auto"  # noqa: S105 (a method's name, not a secret)


class OidcClient:
    def __init__(
        self, config: ClientConfig, *, jwks: PyJWKClient | None = None, cooldown: float = 10
    ) -> None:
        self.config = config
        self._cooldown = cooldown
        self._shared_jwks = jwks
        self._own_jwks: PyJWKClient | None = None
        self._discovery: tuple[float, Discovery] | None = None
        self._lock = asyncio.Lock()

    async def discovery(self) -> Discovery:
        cached = self._discovery
        if cached is not None and time.monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1]
        async with self._lock:
            cached = self._discovery
            if cached is not None and time.monotonic() - cached[0] < DISCOVERY_TTL:
                return cached[1]
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            found = Discovery.parse(self.config.issuer, await _get_json(url))
            self._discovery = (time.monotonic(), found)
            return found

    async def authorization_url(
        self,
        *,
        redirect_uri: str,
        state: str,
        nonce: str,
        verifier: str,
        extra: Mapping[str, str] | None = None,
    ) -> str:
        """The provider's /authorize URL; `extra` adds parameters (an invitation's), never
        over the flow's own."""
        endpoint = (await self.discovery()).authorization_endpoint
        query = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.config.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
        if self.config.audience:
            query["audience"] = self.config.audience
        query = {**(extra or {}), **query}
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    async def exchange(self, *, code: str, redirect_uri: str, verifier: str) -> str:
        """The code for tokens at the token endpoint; returns the ID token."""
        found = await self.discovery()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        auth: httpx.BasicAuth | None = None
        method = self.config.token_auth
        if method == "auto":
            offered = [m for m in _SECRET_METHODS if m in found.token_auth_methods]
            if not offered:
                raise SignInError(
                    "token_exchange_failed",
                    "the provider offers no client_secret method",
                    status=502,
                )
            method = offered[0]
        if method == "client_secret_basic":
            # RFC 6749 section 2.3.1: both parts form-urlencoded before Basic.
            auth = httpx.BasicAuth(
                quote_plus(self.config.client_id), quote_plus(self.config.client_secret)
            )
        else:
            form |= {"client_id": self.config.client_id, "client_secret": self.config.client_secret}
        try:
            status, body = await _request("POST", found.token_endpoint, data=form, auth=auth)
        except (httpx.HTTPError, ValueError):
            raise SignInError(
                "token_exchange_failed", "the token endpoint did not answer", status=502
            ) from None
        if status != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else status
            raise SignInError(
                "token_exchange_failed",
                f"the token endpoint refused the code ({str(error)[:64]})",
                status=502,
            )
        id_token = body.get("id_token")
        if not isinstance(id_token, str) or len(id_token) > 16 * 1024:
            raise SignInError(
                "token_exchange_failed", "the provider returned no ID token", status=502
            )
        return id_token

    def _jwks(self, found: Discovery) -> PyJWKClient:
        shared = self._shared_jwks
        if shared is not None and shared.uri == found.jwks_uri:
            return shared
        if self._own_jwks is None or self._own_jwks.uri != found.jwks_uri:
            self._own_jwks = PyJWKClient(
                found.jwks_uri,
                cache_jwk_set=True,
                lifespan=JWKS_LIFESPAN_SECONDS,
                cooldown_duration=self._cooldown,
                timeout=5,
            )
        return self._own_jwks

    async def validate(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token's claims once every check passes (SignInError otherwise). Blocks on the
        JWKS only when the key is not cached (in a thread)."""
        jwks = self._jwks(await self.discovery())
        return await asyncio.to_thread(self._validate, jwks, id_token, nonce)

    def _validate(self, jwks: PyJWKClient, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.InvalidTokenError:
            raise SignInError("id_token_invalid", "the ID token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise SignInError("id_token_invalid", "the ID token's alg is not RS256 or ES256")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise SignInError("id_token_invalid", "the ID token names no key (kid)")
        try:
            key = jwks.get_signing_key(kid)
        except PyJWKClientConnectionError:
            raise SignInError(
                "jwks_unavailable", "the issuer's keys cannot be fetched", status=503
            ) from None
        except (PyJWKClientError, PyJWKSetError):
            raise SignInError(
                "id_token_invalid", "no key of the issuer matches the ID token"
            ) from None
        base = self.config.issuer.rstrip("/")
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.config.client_id,
                issuer=[base, base + "/"],
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as error:
            raise SignInError("id_token_invalid", _why(error)) from None
        audience = claims["aud"]
        if (
            isinstance(audience, list)
            and len(audience) > 1
            and claims.get("azp") != self.config.client_id
        ):
            raise SignInError("id_token_invalid", "the ID token's azp is not this client")
        presented = claims.get("nonce")
        if not isinstance(presented, str) or not hmac.compare_digest(
            presented.encode(), nonce.encode()
        ):
            raise SignInError("nonce_mismatch", "the ID token's nonce is not this sign-in's")
        return claims

    async def logout_url(self, *, return_to: str) -> str | None:
        """The provider's RP-initiated logout URL (client_id and the return URL), if it has one."""
        try:
            endpoint = (await self.discovery()).end_session_endpoint
        except SignInError:
            return None
        if endpoint is None:
            return None
        query = urlencode(
            {"client_id": self.config.client_id, "post_logout_redirect_uri": return_to}
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def _why(error: jwt.InvalidTokenError) -> str:
    if isinstance(error, jwt.ExpiredSignatureError):
        return "the ID token has expired"
    if isinstance(error, jwt.InvalidAudienceError):
        return "the ID token is not meant for this client"
    if isinstance(error, jwt.InvalidIssuerError):
        return "the ID token was not issued by the configured issuer"
    if isinstance(error, jwt.InvalidSignatureError):
        return "the ID token's signature does not verify"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return "the ID token lacks exp, iat, iss, aud or sub"
    return "the ID token is not valid"


async def _get_json(url: str) -> Any:
    try:
        status, body = await _request("GET", url)
    except (httpx.HTTPError, ValueError):
        raise SignInError(
            "discovery_unavailable", "discovery cannot be fetched", status=503
        ) from None
    if status != 200:
        raise SignInError("discovery_unavailable", f"discovery answered {status}", status=503)
    return body


@cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every call: building one loads the CA bundle (~200 ms here), which
    a new httpx client per call would otherwise do on every sign-in."""
    return ssl.create_default_context()


async def _request(method: str, url: str, **options: Any) -> tuple[int, Any]:
    """(status, parsed JSON or None); reads at most MAX_DOCUMENT_BYTES (ValueError past it)."""
    chunks: list[bytes] = []
    size = 0
    async with (
        httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, verify=_tls()) as client,
        client.stream(method, url, headers={"Accept": "application/json"}, **options) as answer,
    ):
        async for chunk in answer.aiter_bytes():
            size += len(chunk)
            if size > MAX_DOCUMENT_BYTES:
                raise ValueError("answer too large")
            chunks.append(chunk)
        status = answer.status_code
    try:
        return status, json.loads(b"".join(chunks))
    except ValueError:
        return status, None
