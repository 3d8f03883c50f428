"""What an auth provider offers the core's invitations and doctor's sign-in check.

The core never names a provider: it picks one with `provider_for("auth")` and runs the
activities that provider's calls class registers under the agreed names
(`invitation_activity(provider, "create")`: `<provider>_create_invitation`, "revoke", and
"accept": once the invited user exists, give them the hub role where the users-and-roles
mirror reads it, idempotently, or nothing when the invitation carried it already),
with these dataclasses as their input and result. A provider declares what inviting needs and
how its sign-in policy is read in `Partner.identity` (an `IdentityProvider`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from integration_hub.secrets import SecretSource
    from integration_hub.settings import Settings


def invitation_activity(provider: str, action: Literal["create", "revoke", "accept"]) -> str:
    """The activity name a provider's calls class registers for an invitation action."""
    return f"{provider}_{action}_invitation"


@dataclass(frozen=True)
class InvitationRequest:
    invitation_id: str  # the hub's (inv_...)
    email: str  # lower-cased, validated
    # The hub role (viewer, operator, admin), set at the provider (Clerk `public_metadata.role`,
    # the Auth0 role of that name), where the users-and-roles mirror reads it back.
    role: str
    redirect_url: str  # where the invitation link lands: the panel's sign-in
    ttl_seconds: int  # at most 30 days (Auth0's limit; HUB_INVITATION_TTL_SECONDS)
    inviter: str  # a display name for the invitation e-mail (Auth0's inviter.name)


@dataclass(frozen=True)
class ProviderInvitation:
    provider_invitation_id: str
    expires_at: int | None = None  # unix seconds, when the provider said


@dataclass(frozen=True)
class RevokeRequest:
    invitation_id: str
    provider_invitation_id: str


@dataclass(frozen=True)
class AcceptRequest:
    invitation_id: str
    provider_invitation_id: str
    user_id: str  # the provider's id of the user the invitation was accepted by
    role: str  # the hub role to give them


@dataclass(frozen=True)
class SignInPolicy:
    """What the provider's settings say about sign-in; None: could not be read (`reason`)."""

    passkeys: bool | None
    mfa: bool | None
    factors: tuple[str, ...] = ()  # the enabled second factors, the provider's names
    reason: str = ""  # why a value is None; never a secret


# (settings, secrets, timeout seconds) -> the policy as the provider reports it now. Raising is
# allowed (an unreachable provider): doctor reports "unknown" with the error's type.
SignInCheck = Callable[["Settings", "SecretSource", float], SignInPolicy]


@dataclass(frozen=True)
class IdentityProvider:
    """`Partner.identity`: an auth provider's part in invitations and doctor's sign-in check."""

    # The secrets inviting needs (the admin API answers 422 while one is not set).
    invitation_secrets: tuple[str, ...]
    sign_in_check: SignInCheck
