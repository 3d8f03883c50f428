"""Clerk calls out: invitations through the Backend API, and the instance's sign-in settings
(passkeys, second factors) from the Frontend API's environment, for doctor.

Invitations: `POST /v1/invitations` with the invited e-mail, the hub role in
`public_metadata.role` (Clerk copies it to the user it creates, where the users-and-roles
mirror reads it), the panel's sign-in URL as `redirect_url`, `notify` and `expires_in_days`;
`POST /v1/invitations/{id}/revoke`. Authorization: `Bearer CLERK_SECRET_KEY`. Each call is a
Temporal activity: 429 (after Retry-After) and 5xx are retried, other 4xx are not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NoReturn
from urllib.parse import quote

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.clerk import FRONTEND_ISSUER, SECRET_KEY
from integration_hub.connectors.identity_provider import (
    AcceptRequest,
    InvitationRequest,
    ProviderInvitation,
    RevokeRequest,
    SignInPolicy,
)
from integration_hub.connectors.outbound import CallLimiter, call_failed, refuse, timed_call
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings

PARTNER = "clerk"
HTTP_TIMEOUT_SECONDS = 20.0  # under CALL_TIMEOUT: the call gives up before Temporal does
# Clerk limits invitation creation to 100 per hour per instance; keep well under it per minute.
DEFAULT_PER_MINUTE = 20
SECONDS_PER_DAY = 86400
DUPLICATE = f"{PARTNER}.duplicate_record"  # Clerk's code for an e-mail invited already
# Invitations are rare, and the worker keeps its calls classes until the process ends: no
# pooled connection is left open between calls.
NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)
# Attributes of `user_settings.attributes` that can be a second factor.
SECOND_FACTORS = ("totp", "backup_code", "phone_number")


def _error_code(response: httpx.Response) -> str | int:
    try:
        body = response.json()
    except ValueError:
        return response.status_code
    errors = body.get("errors") if isinstance(body, dict) else None
    code = errors[0].get("code") if isinstance(errors, list) and errors else None
    return code if isinstance(code, str) else response.status_code


def _invitation(made: dict[str, Any]) -> ProviderInvitation:
    expires_ms = made.get("expires_at")
    return ProviderInvitation(
        provider_invitation_id=str(made["id"]),
        expires_at=int(expires_ms) // 1000 if isinstance(expires_ms, int) else None,
    )


class ClerkBackend:
    """Clerk's activities; built once per worker with the secrets. `http` is for tests."""

    def __init__(
        self,
        secrets: SecretSource,
        *,
        api_base: str,
        http: httpx.Client | None = None,
        per_minute: int = DEFAULT_PER_MINUTE,
    ) -> None:
        self._key = next(iter(secrets.versions(SECRET_KEY)), "")
        self._api_base = api_base.rstrip("/")
        self._http = http or httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, limits=NO_KEEPALIVE)
        self._limiter = CallLimiter(PARTNER, {"invitations": per_minute})

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.create_invitation, self.revoke_invitation, self.accept_invitation]

    def preflight(self) -> None:
        """Nothing unsafe to start with; a missing key fails the invitation, not the hub."""

    def close(self) -> None:
        self._http.close()

    def _raise(self, operation: str, response: httpx.Response) -> NoReturn:
        raise call_failed(
            PARTNER,
            operation,
            status=response.status_code,
            message=response.reason_phrase,
            code=_error_code(response),
            retry_after=response.headers.get("retry-after"),
        )

    def _api(
        self,
        operation: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, str | int] | None = None,
    ) -> Any:
        """POST `body` to `path` (GET with `params` when there is no body)."""
        if not self._key:
            raise refuse(PARTNER, operation, f"{SECRET_KEY} not set")
        self._limiter.acquire("invitations")
        headers = {"Authorization": f"Bearer {self._key}"}
        url = f"{self._api_base}/{path}"
        try:
            with timed_call(PARTNER, operation):
                if body is None and params is not None:
                    response = self._http.get(url, params=params, headers=headers)
                else:
                    response = self._http.post(url, json=body, headers=headers)
                if not response.is_success:
                    self._raise(operation, response)
        except httpx.HTTPError as error:  # no answer: connection refused, reset, timed out
            raise call_failed(
                PARTNER, operation, status=None, message=type(error).__name__
            ) from None
        return response.json()

    @activity.defn(name="clerk_create_invitation")
    def create_invitation(self, input: InvitationRequest) -> ProviderInvitation:
        body = {
            "email_address": input.email,
            "public_metadata": {"role": input.role},
            "redirect_url": input.redirect_url,
            "notify": True,
            "expires_in_days": max(1, math.ceil(input.ttl_seconds / SECONDS_PER_DAY)),
            # An existing invitation or user of this e-mail is refused (Clerk's 4xx), not
            # invited twice: the hub holds one open invitation per e-mail itself.
            "ignore_existing": False,
        }
        try:
            made = self._api("invitations.create", "invitations", body)
        except ApplicationError as error:
            # Clerk takes no idempotency key: a retry after an answer that was lost finds
            # the invitation the first attempt made. The same e-mail and role pending is it.
            held = self._pending(input) if error.type == DUPLICATE else None
            if held is None:
                raise
            made = held
        return _invitation(made)

    def _pending(self, input: InvitationRequest) -> dict[str, Any] | None:
        """A pending invitation of this e-mail with this role, if Clerk holds one."""
        params: dict[str, str | int] = {"status": "pending", "query": input.email, "limit": 10}
        found = self._api("invitations.list", "invitations", params=params)
        listed = found.get("data") if isinstance(found, dict) else found
        for invitation in (listed or [])[:10]:
            if (
                str(invitation.get("email_address", "")).lower() == input.email
                and (invitation.get("public_metadata") or {}).get("role") == input.role
            ):
                return dict(invitation)
        return None

    @activity.defn(name="clerk_revoke_invitation")
    def revoke_invitation(self, input: RevokeRequest) -> None:
        path = f"invitations/{quote(input.provider_invitation_id, safe='')}/revoke"
        self._api("invitations.revoke", path)

    @activity.defn(name="clerk_accept_invitation")
    def accept_invitation(self, input: AcceptRequest) -> None:
        """Nothing to do: Clerk copied the invitation's `public_metadata.role` to the user."""


def sign_in_policy(settings: Settings, secrets: SecretSource, timeout: float) -> SignInPolicy:
    """The instance's sign-in settings from the Frontend API (the issuer's host serves it):
    `GET {issuer}/v1/environment`, `user_settings.attributes`."""
    issuer = settings.auth_issuer or next(iter(secrets.versions(FRONTEND_ISSUER)), "")
    if not issuer:
        return SignInPolicy(None, None, reason=f"{FRONTEND_ISSUER} not set")
    with httpx.Client(timeout=timeout) as http:
        response = http.get(f"{issuer.rstrip('/')}/v1/environment")
    if not response.is_success:
        return SignInPolicy(None, None, reason=f"environment answered {response.status_code}")
    attributes = (response.json().get("user_settings") or {}).get("attributes") or {}
    passkey = attributes.get("passkey") or {}
    factors = tuple(
        name
        for name in SECOND_FACTORS
        if (attributes.get(name) or {}).get("enabled")
        and (attributes.get(name) or {}).get("used_for_second_factor")
    )
    return SignInPolicy(passkeys=bool(passkey.get("enabled")), mfa=bool(factors), factors=factors)
