"""Clerk: users, organization memberships (roles) and sign-ins, delivered through Svix, into
the users-and-roles mirror. Inbound only. The connector is imported when the edge builds it."""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING

from integration_hub.connectors.partner import Partner, Secret, WebhookContext

if TYPE_CHECKING:
    from integration_hub.connectors.base import Connector


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.clerk.webhook import ClerkConnector

    return ClerkConnector(tolerance_seconds=context.tolerance_seconds)


PARTNER = Partner(
    name="clerk",
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
    ),
    webhook=_webhook,
)
