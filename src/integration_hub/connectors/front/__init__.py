"""Front: the support inbox (capability `support`). Application webhooks come in (`webhook.py`:
HMAC-SHA256 over the millisecond timestamp and the body, the setup challenge answered); the
escalation flow's activities go out (`calls.py`: the contact by phone, the message imported
into HUB_FRONT_INBOX_ID, tags on the conversation, hub tags as contact lists).

The declaration is static and cheap: the factories import the modules only when called.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from integration_hub.connectors.partner import CallsContext, Partner, Secret, WebhookContext

if TYPE_CHECKING:
    from integration_hub.connectors.base import Connector
    from integration_hub.connectors.outbound import PartnerCalls

WEBHOOK_SECRET = "FRONT_WEBHOOK_SECRET"  # noqa: S105 (a variable name, not a value)
API_TOKEN = "FRONT_API_TOKEN"  # noqa: S105 (a variable name, not a value)
# Front's API tokens are JWTs (header.payload.signature, base64url).
API_TOKEN_FORMAT = r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"  # noqa: S105 (a shape)


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.front.settings import FrontSettings
    from integration_hub.connectors.front.webhook import FrontConnector

    return FrontConnector(
        tolerance_seconds=context.tolerance_seconds, company_id=FrontSettings().company_id
    )


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.front.calls import FrontCalls
    from integration_hub.connectors.front.settings import FrontSettings

    # HUB_FRONT_* are the partner's own settings, read when a worker builds the calls.
    return FrontCalls(context.secrets, FrontSettings())


PARTNER = Partner(
    name="front",
    priority="P2",
    summary="Support inbox: escalations imported as conversations, tags synced; app webhooks in.",
    capabilities=frozenset({"support"}),
    secrets=(
        Secret(
            WEBHOOK_SECRET,
            format=r"[A-Za-z0-9_+/=-]{16,128}",
            used_for="webhook",
            local=lambda: secrets.token_hex(16),
            source=(
                "Front > Settings > Developers > your app > Basic information > App secret "
                "(the signing key); then Features > Application webhooks: URL "
                "HUB_PUBLIC_BASE_URL + /webhooks/front (Front sends a signed challenge when "
                "it is saved), events Inbound message received, Outbound message sent, "
                "Conversation archived, Conversation reopened, Assignee changed, Tag added, "
                "scoped to the escalation inbox"
            ),
        ),
        Secret(
            API_TOKEN,
            format=API_TOKEN_FORMAT,
            source=(
                "Front > Settings > Developers > API tokens > Create API token (scopes: "
                "shared resources; contacts, conversations, messages, tags read and write)"
            ),
        ),
    ),
    webhook=_webhook,
    calls=_calls,
)
