"""Sign-in sessions of the status panel: the cookie holds a random id, the database the rest.

Signing in with `HUB_ADMIN_TOKEN`, an OIDC access token or through the provider
(web/oidc_signin.py, credential kind "signin") checks it once and stores a session
(storage/sessions.py): who, from which provider, with which role, made from which credential
kind. The raw token is never kept, in the cookie or anywhere else. Every hub process on the
same database honours the session until its absolute lifetime (`HUB_SESSION_LIFETIME_HOURS`),
its idle timeout (`HUB_SESSION_IDLE_MINUTES`), logout, a change of the user's role, or a change
of the credential it was made from (a new `HUB_ADMIN_TOKEN`, another issuer, audience or client
id).

A role read from the OIDC token's claims has no such signal: the provider does not tell the hub
when it takes the role away, and the token's own expiry is no guide (Clerk's last a minute,
Auth0's a day). Such a session lasts `HUB_SESSION_CLAIMS_HOURS` (1) at most, so a removed role
is noticed within that; a mirror role is revoked by the mirror, and keeps the full lifetime.

The cookie: HttpOnly, SameSite=Strict, Path=/, Max-Age of the lifetime, and Secure whenever
`HUB_PUBLIC_BASE_URL` is https (behind a TLS-terminating proxy the hub itself sees http) or the
request came over https.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from starlette.requests import Request
from starlette.responses import Response

from integration_hub import metrics
from integration_hub.runtime import Hub
from integration_hub.storage import sessions
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import utcnow
from integration_hub.web.auth import Authenticator, Principal, highest_role

SESSION_COOKIE = "hub_session"
LOCAL_PROVIDER = "local"

log = structlog.get_logger(__name__)


class PanelSessions:
    def __init__(
        self, hub: Hub, authenticator: Authenticator, *, signin_credential: str | None = None
    ) -> None:
        self._engine = hub.engine
        self._authenticator = authenticator
        # Sessions made by the provider sign-in (web/oidc_signin.py): a fingerprint of the
        # issuer and client id, current while both stay configured.
        self.signin_credential = signin_credential
        self.lifetime = timedelta(hours=hub.settings.session_lifetime_hours)
        self.idle_timeout = timedelta(minutes=hub.settings.session_idle_minutes)
        self.claims_lifetime = min(
            self.lifetime, timedelta(hours=hub.settings.session_claims_hours)
        )
        base = (hub.settings.public_base_url or "").strip().lower()
        self._public_https = base.startswith("https://")

    def secure(self, request: Request) -> bool:
        return self._public_https or request.url.scheme == "https"

    def lifetime_for(self, principal: Principal) -> timedelta:
        """How long a session of `principal` may last (see the module's docstring)."""
        return self.claims_lifetime if principal.role_from_token else self.lifetime

    def current_credentials(self) -> frozenset[str]:
        current = self._authenticator.current_credentials()
        return current | {self.signin_credential} if self.signin_credential else current

    async def start(self, principal: Principal, *, credential: str | None = None) -> str:
        """Store a session for a principal just authenticated (by the credential kind
        `credential`, else the Authenticator's); returns the cookie's id."""

        def store() -> str:
            with begin_write(self._engine) as connection:
                return sessions.create(
                    connection,
                    subject=principal.subject,
                    provider=LOCAL_PROVIDER if principal.via == "local" else principal.provider,
                    role=principal.role.label if principal.role else None,
                    credential=credential or self._authenticator.credential_of(principal),
                    lifetime=self.lifetime_for(principal),
                )

        session_id = await asyncio.to_thread(store)
        metrics.PANEL_SESSIONS.labels("created").inc()
        log.info("panel_session_started", subject=principal.subject, via=principal.via)
        return session_id

    async def resolve(self, session_id: str) -> Principal | None:
        """The principal of a live session, or None (logged and counted with the reason)."""
        if not session_id:
            return None
        return await asyncio.to_thread(self._resolve, session_id)

    def _resolve(self, session_id: str) -> Principal | None:
        now = utcnow()
        with self._engine.connect().execution_options(read_only=True) as connection:
            stored = sessions.find(connection, session_id=session_id)
        if stored is None:
            reason: str | None = "session_unknown"
        else:
            reason = stored.refusal(now=now, idle_timeout=self.idle_timeout)
            if reason is None and stored.credential not in self.current_credentials():
                reason = "credential_changed"
        if reason is not None or stored is None:
            metrics.PANEL_SESSIONS.labels(reason or "session_unknown").inc()
            log.info("panel_session_refused", reason=reason)
            return None
        if stored.needs_touch(now):
            with begin_write(self._engine) as connection:
                sessions.touch(connection, session_id=session_id, now=now)
        local = stored.provider == LOCAL_PROVIDER
        return Principal(
            stored.subject,
            highest_role([stored.role]),
            "local" if local else "oidc",
            stored.provider,
        )

    async def end(self, session_id: str) -> str | None:
        """Logout: the session is revoked on the server, whichever process it reaches next.
        Returns the credential kind the ended session was made from (None: no live session)."""

        def revoke() -> str | None:
            with begin_write(self._engine) as connection:
                stored = sessions.find(connection, session_id=session_id)
                if stored is None:
                    return None
                revoked = sessions.revoke(connection, session_id=session_id, reason="logout")
                return stored.credential if revoked else None

        if not session_id:
            return None
        credential = await asyncio.to_thread(revoke)
        if credential is not None:
            metrics.PANEL_SESSIONS.labels("revoked").inc()
            log.info("panel_session_ended", reason="logout")
        return credential

    def set_cookie(
        self,
        response: Response,
        request: Request,
        session_id: str,
        *,
        lifetime: timedelta | None = None,
    ) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int((lifetime or self.lifetime).total_seconds()),
            path="/",
            httponly=True,
            secure=self.secure(request),
            samesite="strict",
        )

    def clear_cookie(self, response: Response, request: Request) -> None:
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, secure=self.secure(request), samesite="strict"
        )
