"""Panel sign-in through the auth provider: OpenID Connect authorization code flow with PKCE.

`GET /status/login/oidc?next=` stores a pending sign-in (state, nonce, PKCE verifier, next;
storage/pending_authorizations.py) and redirects to the provider. Starts are rate-limited per
client address (`SIGNIN_STARTS_PER_CLIENT`, the admission limiter, the address as
web/forwarded.py tells it; 429 with Retry-After), and the table caps rows per address, so one
address cannot fill it for everyone. An invitation link's `invitation` and `organization`
(validated) go on to the provider's /authorize. The browser gets only the sign-in cookie
(freshly random at every start, never a value the browser presented: no login CSRF by a tossed
cookie; `__Host-hub_signin` on https, `hub_signin` on plain-http local runs; HttpOnly,
SameSite=Lax: the provider's redirect back is a cross-site navigation, on which the Strict
session cookie is not sent), whose hash the row holds. `GET /status/login/callback` consumes the row (once), requires the same cookie, exchanges
the code with the verifier and the client secret, validates the ID token (web/oidc.py), reads
the role like the Authenticator does (the token's claims, else the users-and-roles mirror under
the issuer's provider) and starts a panel session (credential kind "signin": it ends when the
issuer or the client id changes). No role: no session, a page that says so. Sign-out of such a
session also ends the provider's (its `end_session_endpoint`, else the provider's own
`Partner.logout_url`).

Every outcome is counted (`hub_oidc_signins_total`) and logged by reason; no token, code,
state or e-mail is logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from integration_hub import metrics
from integration_hub.admission import IngestRateLimiter
from integration_hub.connectors.partners import auth_display_name, auth_logout_url
from integration_hub.runtime import Hub
from integration_hub.storage import pending_authorizations as pending
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import utcnow
from integration_hub.web.audit import client_address
from integration_hub.web.auth import (
    Authenticator,
    Principal,
    credential_fingerprint,
    highest_role,
    provider_of_issuer,
    role_from_claims,
)
from integration_hub.web.forwarded import parse_address
from integration_hub.web.oidc import ClientConfig, OidcClient, SignInError, new_verifier
from integration_hub.web.panel_sessions import PanelSessions

SIGNIN_COOKIE = "hub_signin"  # plain http (local runs): a __Host- cookie needs Secure
SECURE_SIGNIN_COOKIE = f"__Host-{SIGNIN_COOKIE}"  # https: no subdomain can set or shadow it
# Sign-in starts per client address (an IPv6 address's /64), in each hub process.
SIGNIN_STARTS_PER_CLIENT = "10/minute"
# An Auth0 invitation link's parameters, passed on to /authorize.
INVITATION = re.compile(r"[A-Za-z0-9_-]{1,64}")
ORGANIZATION = re.compile(r"org_[A-Za-z0-9]{1,64}")
CALLBACK_PATH = "/status/login/callback"
LOGIN_PATH = "/status/login"
MAX_STATE = 128
MAX_CODE = 2048

log = structlog.get_logger(__name__)

# What the login page says for each refusal (the reason code is shown too).
MESSAGES = {
    "state_unknown": "This sign-in was already used or is unknown: start again.",
    "state_expired": "The sign-in took longer than 10 minutes: start again.",
    "cookie_mismatch": "The sign-in was started in another browser or its cookie is gone: "
    "start again here.",
    "provider_error": "The provider did not sign you in.",
    "token_exchange_failed": "The provider did not accept the sign-in code.",
    "id_token_invalid": "The provider's ID token did not pass the checks.",
    "nonce_mismatch": "The provider's ID token belongs to another sign-in.",
    "no_role": "You are signed in at the provider, but your account has no role in the hub "
    "(viewer, operator or admin). Ask an admin to grant one.",
    "too_many_pending": "Too many sign-ins are in progress: try again in a few minutes.",
    "too_many_signins": "Too many sign-ins were started from your address: try again in a minute.",
    "invitation_invalid": "The invitation link is malformed: open it again from the e-mail.",
    "organization_invalid": "The invitation link's organization is malformed: open it again "
    "from the e-mail.",
    "discovery_unavailable": "The provider cannot be reached: try again, or paste a token.",
    "discovery_invalid": "The provider's configuration does not fit the issuer (AUTH_ISSUER).",
    "jwks_unavailable": "The provider's keys cannot be fetched: try again, or paste a token.",
}


def first_secret(hub: Hub, name: str) -> str | None:
    return next(iter(hub.secrets.versions(name)), None)


@dataclass(frozen=True, slots=True)
class OidcSignIn:
    hub: Hub
    authenticator: Authenticator
    client: OidcClient
    provider: str | None  # the auth partner the issuer is (None: cannot be told)
    credential: str
    # Sign-in starts per client address (in process: one budget per hub process).
    limiter: IngestRateLimiter

    @property
    def label(self) -> str:
        return auth_display_name(self.provider) or "your provider"

    def secure(self, request: Request) -> bool:
        return request.url.scheme == "https" or self.base_url(request).startswith("https://")

    def cookie(self, request: Request) -> tuple[str, str]:
        """The sign-in cookie's name and path: `__Host-` (Secure, Path=/) on https."""
        return (SECURE_SIGNIN_COOKIE, "/") if self.secure(request) else (SIGNIN_COOKIE, LOGIN_PATH)

    def base_url(self, request: Request) -> str:
        configured = self.hub.settings.public_base_url
        return (configured or str(request.base_url)).rstrip("/")


def build_signin(hub: Hub, authenticator: Authenticator) -> OidcSignIn | None:
    """Sign-in through the provider when AUTH_ISSUER, AUTH_CLIENT_ID and AUTH_CLIENT_SECRET
    are all set; None otherwise (the login page then offers the pasted token only)."""
    settings = hub.settings
    issuer = settings.auth_issuer or first_secret(hub, "AUTH_ISSUER")
    client_id = first_secret(hub, "AUTH_CLIENT_ID")
    client_secret = first_secret(hub, "AUTH_CLIENT_SECRET")
    if not (issuer and client_id and client_secret):
        return None
    if not settings.public_base_url:
        # The redirect URI then comes from each request's Host: fine locally, and the provider
        # refuses one it does not know, but behind a proxy it is the proxy's inner address.
        log.warning("oidc_signin_without_public_base_url", detail="set HUB_PUBLIC_BASE_URL")
    config = ClientConfig(
        issuer=issuer,
        client_id=client_id,
        client_secret=client_secret,
        scopes=settings.oidc_scopes,
        audience=settings.auth_audience,
        token_auth=settings.oidc_token_auth,
    )
    verifier = authenticator.verifier
    client = OidcClient(
        config,
        jwks=verifier.jwks if verifier is not None else None,
        cooldown=settings.auth_jwks_cooldown_seconds,
    )
    return OidcSignIn(
        hub=hub,
        authenticator=authenticator,
        client=client,
        provider=provider_of_issuer(issuer, settings.auth_provider),
        credential=credential_fingerprint("signin", issuer.rstrip("/"), client_id),
        # In process, not on HUB_REDIS_URL: nothing closes it but the process's end.
        limiter=IngestRateLimiter(
            per_partner=None,
            per_client=SIGNIN_STARTS_PER_CLIENT,
            strategy=settings.rate_limit_strategy,
            key_prefix="hub-signin",
        ),
    )


def client_key(request: Request, trusted_proxies: frozenset[str]) -> str:
    """The client address (web/forwarded.py's rule); an IPv6 address as its /64, which one
    client holds whole."""
    address = client_address(request.scope, trusted_proxies) or "unknown"
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return address


LoginPage = Callable[..., Response]


def refused(
    login_page: LoginPage, request: Request, reason: str, *, status: int = 400, extra: str = ""
) -> Response:
    metrics.OIDC_SIGNINS.labels(reason).inc()
    log.info("oidc_signin_refused", reason=reason)
    message = MESSAGES.get(reason, "The sign-in failed.") + (f" ({extra})" if extra else "")
    return login_page(request, status, error=reason, message=message)


async def start(
    signin: OidcSignIn, request: Request, next_url: str, login_page: LoginPage
) -> Response:
    """Store the pending sign-in and send the browser to the provider."""
    client = client_key(request, signin.hub.settings.trusted_proxies)
    if limited := await signin.limiter.admit_client(client):
        response = refused(login_page, request, "too_many_signins", status=429)
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    extra: dict[str, str] = {}
    for name, pattern in (("invitation", INVITATION), ("organization", ORGANIZATION)):
        value = request.query_params.get(name)
        if value is not None:
            if not pattern.fullmatch(value):
                return refused(login_page, request, f"{name}_invalid")
            extra[name] = value
    # Always a fresh value, never one the browser presented: a cookie tossed in by a sibling
    # domain must not bind the attacker's sign-in to the victim's browser. (A second tab's
    # start replaces the first's cookie: the first tab then starts again.)
    browser = secrets.token_urlsafe(32)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), new_verifier()
    try:
        target = await signin.client.authorization_url(
            redirect_uri=signin.base_url(request) + CALLBACK_PATH,
            state=state,
            nonce=nonce,
            verifier=verifier,
            extra=extra,
        )
    except SignInError as error:
        return refused(login_page, request, error.reason, status=error.status)

    def store() -> None:
        with begin_write(signin.hub.engine) as connection:
            pending.create(
                connection,
                state=state,
                browser=browser,
                client=client,
                purpose="signin",
                nonce=nonce,
                code_verifier=verifier,
                next_url=next_url,
            )

    try:
        await asyncio.to_thread(store)
    except pending.TooManyPending:
        return refused(login_page, request, "too_many_pending", status=503)
    metrics.OIDC_SIGNINS.labels("started").inc()
    response = RedirectResponse(target, status_code=302)
    name, path = signin.cookie(request)
    response.set_cookie(
        name, browser, max_age=int(pending.LIFETIME.total_seconds()), path=path, httponly=True,
        secure=signin.secure(request), samesite="lax",
    )  # fmt: skip
    return response


async def callback(
    signin: OidcSignIn,
    sessions: PanelSessions,
    request: Request,
    login_page: LoginPage,
    page: Callable[..., Response],
) -> Response:
    """The provider's redirect back: every check, then a panel session. `page(template,
    request, **context)` renders a panel page."""
    params = request.query_params
    state = params.get("state", "")
    if not state or len(state) > MAX_STATE:
        return refused(login_page, request, "state_unknown")

    def take() -> pending.Pending | None:
        with begin_write(signin.hub.engine) as connection:
            return pending.consume(connection, state=state)

    found = await asyncio.to_thread(take)
    if found is None or found.purpose != "signin":
        return refused(login_page, request, "state_unknown")
    if utcnow() >= found.expires_at:
        return refused(login_page, request, "state_expired")
    cookie_name, cookie_path = signin.cookie(request)
    if not found.browser_matches(request.cookies.get(cookie_name, "")):
        return refused(login_page, request, "cookie_mismatch")
    error = params.get("error")
    if error is not None:
        # The provider's own code (access_denied, login_required, ...), trimmed to its charset.
        code = "".join(c for c in error[:64] if c.isalnum() or c in "_-.")
        return refused(login_page, request, "provider_error", extra=code or "error")
    code = params.get("code", "")
    if not code or len(code) > MAX_CODE:
        return refused(login_page, request, "provider_error", extra="no code")
    try:
        id_token = await signin.client.exchange(
            code=code,
            redirect_uri=signin.base_url(request) + CALLBACK_PATH,
            verifier=found.code_verifier,
        )
        claims = await signin.client.validate(id_token, nonce=found.nonce)
    except SignInError as failure:
        return refused(login_page, request, failure.reason, status=failure.status)
    principal = await principal_of(signin, claims)
    if principal.role is None:
        return refused(login_page, request, "no_role", status=403)
    session_id = await sessions.start(principal, credential=signin.credential)
    metrics.OIDC_SIGNINS.labels("signed_in").inc()
    log.info("oidc_signed_in", subject=principal.subject, provider=principal.provider)
    # A page that moves on by itself, not a redirect: the provider's redirect back is a
    # cross-site navigation, and a browser sends no SameSite=Strict cookie anywhere along its
    # redirect chain; the page's own navigation is same-site, so the new session cookie goes.
    response = page("signed_in.html", request, next=found.next_url)
    response.headers["Referrer-Policy"] = "no-referrer"  # the callback URL holds the code
    lifetime = sessions.lifetime_for(principal)
    sessions.set_cookie(response, request, session_id, lifetime=lifetime)
    response.delete_cookie(
        cookie_name,
        path=cookie_path,
        secure=signin.secure(request),
        httponly=True,
        samesite="lax",
    )
    return response


async def principal_of(signin: OidcSignIn, claims: dict[str, Any]) -> Principal:
    """The role from the ID token's claims (the Authenticator's rules), else from the mirror
    under the issuer's provider; the mirror grants nothing when the provider cannot be told."""
    subject = str(claims["sub"])
    role = role_from_claims(claims)
    from_token = role is not None
    if role is None and signin.provider is not None:
        mirrored = await asyncio.to_thread(
            signin.authenticator.mirror_role, signin.provider, subject
        )
        role = highest_role([mirrored])
    return Principal(subject, role, "oidc", signin.provider or "oidc", role_from_token=from_token)


async def provider_logout(signin: OidcSignIn, request: Request) -> str | None:
    """Where to send the browser to end the provider's session too (None: nowhere known)."""
    return_to = signin.base_url(request) + LOGIN_PATH
    found = await signin.client.logout_url(return_to=return_to)
    if found is not None:
        return found
    config = signin.client.config
    return auth_logout_url(
        config.issuer, config.client_id, return_to, signin.hub.settings.auth_provider
    )
