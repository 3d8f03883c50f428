"""Stripe: payments in (webhooks through to the payments ledger) and out (customers,
PaymentIntents, Connect transfers to cleaners, invoices). `webhook` verifies and normalizes,
`calls` holds the activities, `workflows` the workflows that run them."""

from __future__ import annotations

import secrets

from integration_hub.connectors.partner import Partner, Secret
from integration_hub.connectors.stripe.calls import API_KEY, StripeCalls
from integration_hub.connectors.stripe.webhook import StripeConnector
from integration_hub.connectors.stripe.workflows import STRIPE_WORKFLOWS

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
        ),
        Secret(API_KEY, format=r"(sk|rk)_(test|live)_[0-9A-Za-z]{10,}"),
    ),
    webhook=lambda context: StripeConnector(tolerance_seconds=context.tolerance_seconds),
    calls=lambda context: StripeCalls(context.secrets, env=context.settings.env),
    workflows=STRIPE_WORKFLOWS,
)
