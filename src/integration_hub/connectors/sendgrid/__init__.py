"""SendGrid: transactional email. `webhook` takes the Event Webhook (a signed JSON array of
delivery, bounce, complaint, engagement and unsubscribe events); `calls` sends through the v3
Mail Send API; `workflows` runs a send; `dns` names the records doctor looks for.

The declaration is static and cheap: the factories import the modules only when called.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from integration_hub.connectors.partner import CallsContext, Partner, Secret, WebhookContext

if TYPE_CHECKING:
    from collections.abc import Sequence

    from integration_hub.connectors.base import Connector
    from integration_hub.connectors.outbound import PartnerCalls
    from integration_hub.connectors.partner import DomainRecord

API_KEY, WEBHOOK_PUBLIC_KEY = "SENDGRID_API_KEY", "SENDGRID_WEBHOOK_PUBLIC_KEY"
API_KEY_FORMAT = r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{32,64}"
# A P-256 SubjectPublicKeyInfo is 91 bytes: its base64 always starts with the same algorithm
# identifiers and ends in `==`.
PUBLIC_KEY_FORMAT = r"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE[A-Za-z0-9+/]{86}=="
# Only SendGrid holds the private key, so a local `hub send` cannot sign for the real public
# key: `hub init` makes a signing seed instead, from which the hub derives a key pair (see
# webhook.py). Never the value in production: SendGrid's deliveries verify only with its key.
LOCAL_SEED_PREFIX = "sglocal_"
LOCAL_SEED_FORMAT = rf"{LOCAL_SEED_PREFIX}[A-Za-z0-9_-]{{43}}"


PEM_HEADER, PEM_FOOTER = "-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----"


def public_key_value(value: str) -> tuple[str, str | None]:
    """The key as base64 DER. SendGrid's console shows exactly that, but its SDK (and users)
    wrap it in PEM lines: the wrapping is dropped. A local seed is noted (never shown)."""
    stripped = value.strip()
    if stripped.startswith(PEM_HEADER) and stripped.endswith(PEM_FOOTER):
        body = stripped[len(PEM_HEADER) : -len(PEM_FOOTER)]
        return "".join(body.split()), "PEM (read as base64 DER)"
    if value.startswith(LOCAL_SEED_PREFIX):
        return value, "a local signing seed (hub send only; SendGrid's events need its key)"
    return value, None


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.sendgrid.webhook import SendGridConnector

    return SendGridConnector(tolerance_seconds=context.tolerance_seconds)


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.sendgrid.calls import SendGridEmail
    from integration_hub.connectors.sendgrid.settings import SendGridSettings

    return SendGridEmail(context.settings, context.secrets, context.engine, SendGridSettings())


def _workflows() -> tuple[type, ...]:
    from integration_hub.connectors.sendgrid.workflows import SendGridSendEmailWorkflow

    return (SendGridSendEmailWorkflow,)


def _domain_records(domain: str) -> Sequence[DomainRecord]:
    from integration_hub.connectors.sendgrid.dns import domain_records

    return domain_records(domain)


PARTNER = Partner(
    name="sendgrid",
    priority="P1",
    summary="Email: sends (v3 Mail Send) and delivery events (signed Event Webhook).",
    capabilities=frozenset({"email"}),
    secrets=(
        Secret(
            API_KEY,
            format=API_KEY_FORMAT,
            source="SendGrid > Settings > API Keys > Create API Key (Restricted: Mail Send)",
        ),
        Secret(
            WEBHOOK_PUBLIC_KEY,
            format=rf"{PUBLIC_KEY_FORMAT}|{LOCAL_SEED_FORMAT}",
            used_for="webhook",
            local=lambda: LOCAL_SEED_PREFIX + secrets.token_urlsafe(32),
            source=(
                "SendGrid > Settings > Mail Settings > Event Webhook > your webhook > "
                "Signature Verification (enable) > Verification Key"
            ),
            normalize=public_key_value,
        ),
    ),
    webhook=_webhook,
    calls=_calls,
    workflows=_workflows,
    domain_records=_domain_records,
)
