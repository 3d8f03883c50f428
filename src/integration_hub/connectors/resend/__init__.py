"""Resend: transactional email. `webhook` takes its events (delivered through Svix: the shared
Standard Webhooks scheme); `calls` sends through `POST /emails` with an Idempotency-Key;
`workflows` runs a send; `dns` names the records doctor looks for.

The declaration is static and cheap: the factories import the modules only when called.
"""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING

from integration_hub.connectors.partner import CallsContext, Partner, Secret, WebhookContext

if TYPE_CHECKING:
    from collections.abc import Sequence

    from integration_hub.connectors.base import Connector
    from integration_hub.connectors.outbound import PartnerCalls
    from integration_hub.connectors.partner import DomainRecord

API_KEY, WEBHOOK_SECRET = "RESEND_API_KEY", "RESEND_WEBHOOK_SECRET"
API_KEY_FORMAT = r"re_[A-Za-z0-9_]{16,64}"


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.resend.webhook import ResendConnector

    return ResendConnector(tolerance_seconds=context.tolerance_seconds)


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.resend.calls import ResendEmail
    from integration_hub.connectors.resend.settings import ResendSettings

    return ResendEmail(context.settings, context.secrets, context.engine, ResendSettings())


def _workflows() -> tuple[type, ...]:
    from integration_hub.connectors.resend.workflows import ResendSendEmailWorkflow

    return (ResendSendEmailWorkflow,)


def _domain_records(domain: str) -> Sequence[DomainRecord]:
    from integration_hub.connectors.resend.dns import domain_records

    return domain_records(domain)


PARTNER = Partner(
    name="resend",
    priority="P1",
    summary="Email: sends (POST /emails, idempotent) and delivery events (Svix webhooks).",
    capabilities=frozenset({"email"}),
    secrets=(
        Secret(
            API_KEY,
            format=API_KEY_FORMAT,
            source="Resend Dashboard > API Keys > Create API Key (Sending access, your domain)",
        ),
        Secret(
            WEBHOOK_SECRET,
            format=r"whsec_(?:[0-9A-Za-z+/]{4}){4,}(?:[0-9A-Za-z+/]{2}==|[0-9A-Za-z+/]{3}=|[0-9A-Za-z+/]{2,3})?",
            used_for="webhook",
            # Svix secrets are base64 after the prefix.
            local=lambda: "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
            source="Resend Dashboard > Webhooks > your endpoint > Signing Secret",
        ),
    ),
    webhook=_webhook,
    calls=_calls,
    workflows=_workflows,
    domain_records=_domain_records,
)
