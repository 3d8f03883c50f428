"""Stripe: payments in (webhooks through to the payments ledger) and out (customers,
PaymentIntents, Connect transfers to cleaners, invoices). `webhook` verifies and normalizes,
`calls` holds the activities, `workflows` the workflows that run them.

The declaration is static and cheap: the factories import the SDK and the modules that use it
only when the composition root calls them (`hub --help` reads every declaration).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from integration_hub.connectors.partner import CallsContext, Partner, Secret, WebhookContext

if TYPE_CHECKING:
    from integration_hub.connectors.base import Connector
    from integration_hub.connectors.outbound import PartnerCalls

API_KEY = "STRIPE_SECRET_KEY"


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.stripe.webhook import StripeConnector

    return StripeConnector(tolerance_seconds=context.tolerance_seconds)


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.stripe.calls import StripeCalls

    return StripeCalls(context.secrets, env=context.settings.env)


def _workflows() -> tuple[type, ...]:
    from integration_hub.connectors.stripe.workflows import STRIPE_WORKFLOWS

    return STRIPE_WORKFLOWS


PARTNER = Partner(
    name="stripe",
    priority="P0",
    summary="Payments: webhooks to the ledger; customers, PaymentIntents, Connect, invoices out.",
    capabilities=frozenset({"payments"}),
    secrets=(
        Secret(
            "STRIPE_WEBHOOK_SECRET",
            format=r"whsec_[0-9A-Za-z+/=_]{16,}",
            used_for="webhook",
            local=lambda: "whsec_" + secrets.token_hex(24),
            source=(
                "Stripe Dashboard (test mode for the sandbox) > Developers > Webhooks > "
                "your endpoint > Signing secret; `stripe listen` prints one when forwarding"
            ),
        ),
        Secret(
            API_KEY,
            format=r"(sk|rk)_(test|live)_[0-9A-Za-z]{10,}",
            source=(
                "Stripe Dashboard (test mode for the sandbox) > Developers > API keys > "
                "Secret key, or a restricted key (rk_) with only the permissions used"
            ),
        ),
    ),
    webhook=_webhook,
    calls=_calls,
    workflows=_workflows,
)
