"""Who is calling the admin API and what they may do.

Two kinds of bearer token:
- OpenID Connect access tokens from the auth provider (Clerk or Auth0): issuer, audience,
  expiry and an RS256/ES256 signature checked against the provider's JWKS (PyJWT's
  `PyJWKClient`: cached for five minutes; a token with an unknown `kid` refetches once, no more
  often than every `HUB_AUTH_JWKS_COOLDOWN_SECONDS`, so key rotation works and random kids cannot
  hammer the provider). The role comes from the token (`https://integration-hub/roles`, or
  Clerk's `metadata.role` when the session token carries `{{user.public_metadata}}`), else from
  the users-and-roles mirror (`identity_users.role`, kept from Clerk's `public_metadata.role`),
  looked up under the provider the token's issuer is (`provider_of_issuer`), never under one
  the caller names: another provider's row for the same user id never grants anything.
  Organization roles (`org_role`, memberships) are the customers' own and grant nothing.
- The static `HUB_ADMIN_TOKEN`, for local use: it acts as `admin` with subject
  `local-admin-token`, and is refused when `HUB_ENV=production`.

Every refusal is an `AuthError` with a reason code; no token or key material is echoed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt import PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError

from integration_hub.connectors.partners import auth_provider_of_issuer

ALGORITHMS = ("RS256", "ES256")  # asymmetric only: never `none`, never HS* with a public key
ROLES_CLAIM = "https://integration-hub/roles"
LOCAL_SUBJECT = "local-admin-token"
JWKS_LIFESPAN_SECONDS = 300
LEEWAY_SECONDS = 30
# The status panel calls the admin API in process (web/panel.py) for the principal of a stored
# session, and hands it over under this ASGI scope key instead of any token. Only code in this
# process can put a key in a scope: a request from the network never carries one.
PANEL_PRINCIPAL_SCOPE_KEY = "integration_hub.panel_principal"


class Role(IntEnum):
    """Each role may do everything the ones below it may."""

    VIEWER = 1  # read events, ledger, connectors
    OPERATOR = 2  # also replay and send messages
    ADMIN = 3  # also raw bodies, the audit log, secrets

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: Role | None  # None: signed in, but no role anywhere
    via: str  # "oidc" or "local"
    provider: str = "local"  # the auth partner (from the token's issuer), "oidc" if unknown
    # The role was read from the token's claims: nothing tells the hub when the provider takes
    # it away (a mirror role is revoked by the mirror), so panel sessions of it are shorter.
    role_from_token: bool = False


def provider_of_issuer(issuer: str, configured: str | None = None) -> str | None:
    """Which auth provider an issuer URL belongs to: the configured one (HUB_AUTH_PROVIDER),
    else the auth partner whose own domains the host is (`Partner.issuer_hosts`); None when it
    cannot be told (custom domains: set HUB_AUTH_PROVIDER)."""
    host = (urlsplit(issuer).hostname or "").lower()
    return auth_provider_of_issuer(host, configured)


# The fingerprint of HUB_ADMIN_TOKEN stored with each session it signed in: scrypt of the token
# (fixed salt, N=2**14, r=8, p=1: ~50 ms and 16 MiB a guess), so a copy of the database cannot
# be brute-forced for a weak token at SHA-256 speed. The salt is fixed and public on purpose:
# every hub process with the same token derives the same fingerprint with no shared secret, and
# a new token matches no stored session. Computed once per process and token (cached).
LOCAL_FINGERPRINT_SALT = b"integration-hub/admin-session/v1"
LOCAL_FINGERPRINT_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@lru_cache(maxsize=4)
def local_credential(token: str) -> str:
    """The fingerprint of sessions signed in with the static admin token (see above)."""
    derived = hashlib.scrypt(
        token.encode(), salt=LOCAL_FINGERPRINT_SALT, dklen=32, **LOCAL_FINGERPRINT_SCRYPT
    )
    return f"local:{derived.hex()[:40]}"


def credential_fingerprint(kind: str, *material: str) -> str:
    """Names the credential a session was made from (never reversible to it): sessions whose
    fingerprint is no longer current (HUB_ADMIN_TOKEN or the issuer changed) sign no one in."""
    digest = hashlib.sha256("\0".join(("integration-hub/session", kind, *material)).encode())
    return f"{kind}:{digest.hexdigest()[:40]}"


class AuthError(Exception):
    def __init__(self, reason: str, detail: str, *, status: int = 401) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.status = reason, detail, status


def highest_role(values: Iterable[object]) -> Role | None:
    """The highest of the known role names among `values`; unknown names are ignored."""
    found = [
        Role[v.upper()] for v in values if isinstance(v, str) and v.upper() in Role.__members__
    ]
    return max(found, default=None)


def role_from_claims(claims: dict[str, Any]) -> Role | None:
    values: list[object] = []
    for value in (claims.get(ROLES_CLAIM), _get(claims, "metadata", "role")):
        values.extend(value if isinstance(value, list) else [value])
    return highest_role(values)


def _get(claims: dict[str, Any], *path: str) -> object:
    value: object = claims
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value


class TokenVerifier:
    """Checks OIDC access tokens of one issuer and audience. `verify` blocks on the network when
    the keys are not cached: call it in a thread."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        cooldown_seconds: float = 10,
        provider: str | None = None,
    ) -> None:
        base = issuer.rstrip("/")
        # Auth0 issuers end in "/", Clerk's do not: accept the configured one either way.
        self.issuers = [base, base + "/"]
        self.audience = audience
        # Tokens verify only against this one issuer, so the provider of a verified token's
        # `iss` is this: None when it cannot be told, and then the mirror grants nothing.
        self.provider = provider_of_issuer(base, provider)
        self.credential = credential_fingerprint("oidc", base, audience)
        self.jwks = PyJWKClient(
            jwks_url or f"{base}/.well-known/jwks.json",
            cache_jwk_set=True,
            lifespan=JWKS_LIFESPAN_SECONDS,
            cooldown_duration=cooldown_seconds,
            timeout=5,
        )

    def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise AuthError("malformed_token", "the bearer token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise AuthError("bad_algorithm", f"alg {algorithm!r} is refused; RS256 or ES256 only")
        # Before any key lookup: a foreign token must not make us fetch keys.
        if unverified.get("iss") not in self.issuers:
            raise AuthError("wrong_issuer", "the token was not issued by the configured issuer")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise AuthError("unknown_key", "the token names no key (kid)")
        try:
            key = self.jwks.get_signing_key(kid)
        except PyJWKClientConnectionError:
            raise AuthError(
                "jwks_unavailable", "the issuer's keys cannot be fetched", status=503
            ) from None
        except (PyJWKClientError, PyJWKSetError):
            raise AuthError("unknown_key", "no key of the issuer matches the token's kid") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuers,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as error:
            reason, detail = _REASONS.get(type(error), ("invalid_token", "the token is not valid"))
            raise AuthError(reason, detail) from None
        return claims


_REASONS: dict[type[Exception], tuple[str, str]] = {
    jwt.ExpiredSignatureError: ("token_expired", "the token has expired"),
    jwt.ImmatureSignatureError: ("token_not_yet_valid", "the token is not valid yet"),
    jwt.InvalidIssuerError: ("wrong_issuer", "the token was not issued by the configured issuer"),
    jwt.InvalidAudienceError: ("wrong_audience", "the token is not meant for this API"),
    jwt.InvalidSignatureError: ("bad_signature", "the token's signature does not verify"),
    jwt.InvalidAlgorithmError: ("bad_algorithm", "the token's algorithm does not fit its key"),
    jwt.MissingRequiredClaimError: ("missing_claim", "the token lacks exp, iss, aud or sub"),
}


class Authenticator:
    """Turns an `Authorization: Bearer` value into a Principal, or raises AuthError.

    `mirror_role(provider, subject)` looks the role up in the users-and-roles mirror
    (blocking)."""

    def __init__(
        self,
        *,
        local_token: str | None,
        local_token_allowed: bool,
        verifier: TokenVerifier | None,
        mirror_role: Callable[[str, str], str | None],
    ) -> None:
        self.local_token = local_token
        self.local_token_allowed = local_token_allowed
        self.verifier = verifier
        self.mirror_role = mirror_role
        # Derived here, at startup: the slow KDF never runs per request.
        self.local_credential = local_credential(local_token) if local_token else "local:off"

    def credential_of(self, principal: Principal) -> str:
        """The fingerprint of the credential kind that signed `principal` in."""
        if principal.via == "local":
            return self.local_credential
        return self.verifier.credential if self.verifier is not None else "oidc:off"

    def current_credentials(self) -> frozenset[str]:
        """Fingerprints a stored session may carry and still sign someone in."""
        current = set()
        if self.local_token and self.local_token_allowed:
            current.add(self.local_credential)
        if self.verifier is not None:
            current.add(self.verifier.credential)
        return frozenset(current)

    def authenticate(self, presented: str) -> Principal:
        if not presented:
            raise AuthError("unauthorized", "send Authorization: Bearer <token>")
        if self.local_token and hmac.compare_digest(presented.encode(), self.local_token.encode()):
            if not self.local_token_allowed:
                raise AuthError(
                    "local_token_refused", "HUB_ADMIN_TOKEN is for local use; sign in instead"
                )
            return Principal(LOCAL_SUBJECT, Role.ADMIN, "local")
        if self.verifier is None or presented.count(".") != 2:
            raise AuthError("unauthorized", "the bearer token is not one this hub accepts")
        claims = self.verifier.verify(presented)
        subject = str(claims["sub"])
        provider = self.verifier.provider
        role = role_from_claims(claims)
        from_token = role is not None
        if role is None and provider is not None:
            role = highest_role([self.mirror_role(provider, subject)])
        return Principal(subject, role, "oidc", provider or "oidc", role_from_token=from_token)
