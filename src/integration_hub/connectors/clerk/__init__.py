"""Clerk: users, organization memberships (roles) and sign-ins, delivered through Svix, into
the users-and-roles mirror; out, invitations (Backend API) and doctor's sign-in check
(Frontend API). The modules doing the work are imported when a factory is called."""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING

from integration_hub.connectors.identity_provider import IdentityProvider, SignInPolicy
from integration_hub.connectors.partner import CallsContext, Partner, Secret, WebhookContext

if TYPE_CHECKING:
    from integration_hub.connectors.base import Connector
    from integration_hub.connectors.outbound import PartnerCalls
    from integration_hub.secrets import SecretSource
    from integration_hub.settings import Settings

SECRET_KEY = "CLERK_SECRET_KEY"  # noqa: S105 (a variable name, not a value)
FRONTEND_ISSUER = "AUTH_ISSUER"  # the instance's Frontend API is its OIDC issuer


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.clerk.webhook import ClerkConnector

    return ClerkConnector(tolerance_seconds=context.tolerance_seconds)


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.clerk.calls import ClerkBackend
    from integration_hub.connectors.clerk.settings import ClerkSettings

    return ClerkBackend(context.secrets, api_base=ClerkSettings().api_base_url)


def _sign_in_policy(settings: Settings, secrets: SecretSource, timeout: float) -> SignInPolicy:
    from integration_hub.connectors.clerk.calls import sign_in_policy

    return sign_in_policy(settings, secrets, timeout)


PARTNER = Partner(
    name="clerk",
    display_name="Clerk",
    priority="P0",
    summary="Auth provider: users, memberships and sessions (Svix webhooks) to the roles mirror.",
    capabilities=frozenset({"auth"}),
    issuer_hosts=("clerk.", ".clerk.accounts.dev", ".clerk.com"),
    secrets=(
        Secret(
            "CLERK_WEBHOOK_SECRET",
            format=r"whsec_(?:[0-9A-Za-z+/]{4}){4,}(?:[0-9A-Za-z+/]{2}==|[0-9A-Za-z+/]{3}=|[0-9A-Za-z+/]{2,3})?",
            used_for="webhook",
            # Svix secrets are base64 after the prefix.
            local=lambda: "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
            source="Clerk Dashboard > Configure > Webhooks > your endpoint > Signing Secret",
        ),
        Secret(
            SECRET_KEY,
            format=r"sk_(?:test|live)_[0-9A-Za-z]{16,}",
            required=False,  # only inviting users needs it
            source="Clerk Dashboard > Configure > API keys > Secret keys",
        ),
        # Panel sign-in with Clerk as the OpenID provider (web/oidc_signin.py); optional: the
        # panel also takes a pasted token. The issuer (HUB_AUTH_ISSUER) is the Frontend API URL.
        Secret(
            "AUTH_CLIENT_ID",
            format=r"[0-9A-Za-z]{16,}",
            required=False,
            source="Clerk Dashboard > Configure > OAuth applications > Add (redirect URI "
            "HUB_PUBLIC_BASE_URL/status/login/callback; scopes openid profile email) > "
            "Client ID",
        ),
        Secret(
            "AUTH_CLIENT_SECRET",
            format=r"[0-9A-Za-z_-]{32,}",
            required=False,
            source="the same OAuth application > Client Secret (shown once)",
        ),
    ),
    webhook=_webhook,
    calls=_calls,
    identity=IdentityProvider(invitation_secrets=(SECRET_KEY,), sign_in_check=_sign_in_policy),
)
