"""Auth0 organization invitations and doctor's sign-in check, on the Management API client of
calls.py (same token, retries, limits and error mapping).

Create: `POST /api/v2/organizations/{AUTH0_ORGANIZATION_ID}/invitations` with `inviter.name`,
`invitee.email`, `client_id` (AUTH_CLIENT_ID), `roles` (the ids of the Auth0 roles named like
the hub role, `GET /api/v2/roles?name_filter=`), `ttl_sec` and `send_invitation_email`.
Revoke: `DELETE /api/v2/organizations/{org}/invitations/{id}`.
Accept: an organization member role is not a tenant role, and the users-and-roles mirror reads
the tenant roles (`GET /users/{id}/roles`): once the invited user exists, the workflow gives
them the tenant role named like the hub role, `POST /api/v2/users/{user_id}/roles`
`{"roles": [id]}` (assigning a role the user holds already is fine).
Sign-in: `GET /api/v2/guardian/factors` (MFA factors enabled) and the database connections'
passkey policy (`GET /api/v2/connections?strategy=auth0`,
`options.authentication_methods.passkey.enabled`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from temporalio import activity

from integration_hub.connectors.auth0 import ORGANIZATION_ID
from integration_hub.connectors.auth0.calls import HTTP_TIMEOUT_SECONDS, Auth0Management
from integration_hub.connectors.identity_provider import (
    AcceptRequest,
    InvitationRequest,
    ProviderInvitation,
    RevokeRequest,
    SignInPolicy,
)
from integration_hub.connectors.outbound import refuse
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings

PARTNER = "auth0"
MAX_ROLES_MATCHED = 50  # a name filter returns few; never loop over an unbounded answer
MAX_CONNECTIONS = 50
MAX_HELD = 50  # the newest invitations a retry looks through for its own
NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)


def _expires_at(made: dict[str, Any]) -> int | None:
    """Auth0's `expires_at` (ISO 8601) as unix seconds; None when absent or unreadable."""
    expires = made.get("expires_at")
    if not isinstance(expires, str):
        return None
    try:
        return int(datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def _invitation(made: dict[str, Any]) -> ProviderInvitation:
    return ProviderInvitation(provider_invitation_id=str(made["id"]), expires_at=_expires_at(made))


class Auth0Invitations(Auth0Management):
    """Auth0's activities plus organization invitations."""

    def __init__(self, secrets: SecretSource, **kwargs: Any) -> None:
        # The worker keeps its calls classes until the process ends: no pooled connection
        # is left open between (rare) calls.
        kwargs.setdefault("http", httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, limits=NO_KEEPALIVE))
        super().__init__(secrets, **kwargs)
        self._organization = next(iter(secrets.versions(ORGANIZATION_ID)), "")

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            *super().activities(),
            self.create_invitation,
            self.revoke_invitation,
            self.accept_invitation,
        ]

    def _org_path(self, operation: str) -> str:
        if not self._organization:
            raise refuse(PARTNER, operation, f"{ORGANIZATION_ID} not set")
        return f"organizations/{quote(self._organization, safe='')}/invitations"

    def _role_id(self, role: str) -> str:
        found = self._api("roles.find", "GET", "roles", params={"name_filter": role})
        for candidate in (found or [])[:MAX_ROLES_MATCHED]:
            if candidate.get("name") == role:
                return str(candidate["id"])
        raise refuse(PARTNER, "roles.find", f"no Auth0 role is named {role!r}: create it first")

    @activity.defn(name="auth0_create_invitation")
    def create_invitation(self, input: InvitationRequest) -> ProviderInvitation:
        path = self._org_path("invitations.create")
        role_id = self._role_id(input.role)
        # Auth0 takes no idempotency key: a retry (an earlier attempt's answer may have been
        # lost) first looks for the invitation that attempt made, same e-mail and role.
        retried = activity.in_activity() and activity.info().attempt > 1
        held = self._held(path, input.email, role_id) if retried else None
        if held is not None:
            return _invitation(held)
        body = {
            "inviter": {"name": input.inviter},
            "invitee": {"email": input.email},
            "client_id": self._client_id,
            "roles": [role_id],
            "ttl_sec": input.ttl_seconds,
            "send_invitation_email": True,
        }
        return _invitation(self._api("invitations.create", "POST", path, json=body))

    def _held(self, path: str, email: str, role_id: str) -> dict[str, Any] | None:
        """The organization's newest invitations: one of this e-mail with this role that has
        not expired (an expired one is no invitation to adopt)."""
        params = {"page": 0, "per_page": MAX_HELD, "sort": "created_at:-1"}
        listed = self._api("invitations.list", "GET", path, params=params) or []
        for invitation in listed[:MAX_HELD]:
            invitee = str((invitation.get("invitee") or {}).get("email", "")).lower()
            expires = _expires_at(invitation)
            if expires is not None and expires <= self._clock():
                continue
            if invitee == email and invitation.get("roles") == [role_id]:
                return dict(invitation)
        return None

    @activity.defn(name="auth0_revoke_invitation")
    def revoke_invitation(self, input: RevokeRequest) -> None:
        path = self._org_path("invitations.delete")
        self._api(
            "invitations.delete",
            "DELETE",
            f"{path}/{quote(input.provider_invitation_id, safe='')}",
        )

    @activity.defn(name="auth0_accept_invitation")
    def accept_invitation(self, input: AcceptRequest) -> None:
        role_id = self._role_id(input.role)
        path = f"users/{quote(input.user_id, safe='')}/roles"
        self._api("users.roles.assign", "POST", path, json={"roles": [role_id]})

    def sign_in_policy(self) -> SignInPolicy:
        factors = self._api("guardian.factors", "GET", "guardian/factors") or []
        enabled = tuple(str(f["name"]) for f in factors[:MAX_CONNECTIONS] if f.get("enabled"))
        connections = self._api(
            "connections.list", "GET", "connections", params={"strategy": "auth0"}
        )
        passkeys = any(
            ((c.get("options") or {}).get("authentication_methods") or {})
            .get("passkey", {})
            .get("enabled")
            for c in (connections or [])[:MAX_CONNECTIONS]
        )
        return SignInPolicy(passkeys=passkeys, mfa=bool(enabled), factors=enabled)


def sign_in_policy(settings: Settings, secrets: SecretSource, timeout: float) -> SignInPolicy:
    """Doctor's read of the tenant's MFA factors and passkey policy, within `timeout`."""
    with httpx.Client(timeout=timeout) as http:
        return Auth0Invitations(secrets, http=http).sign_in_policy()
