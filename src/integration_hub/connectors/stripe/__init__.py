"""Stripe: payments in (webhooks through to the payments ledger) and out (customers,
PaymentIntents, Connect transfers to cleaners, invoices). `webhook` verifies and normalizes,
`calls` holds the activities, `workflows` the workflows that run them; `connect` and `routes`
onboard cleaners to Connect (`POST /api/cleaners/{id}/stripe-account`); `catalog` and `cli`
reconcile the services' products and prices (`hub stripe sync-catalog`).

The declaration is static and cheap: the factories import the SDK and the modules that use it
only when the composition root calls them (`hub --help` reads every declaration).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from integration_hub.connectors.partner import (
    CallsContext,
    Partner,
    RoutesContext,
    Secret,
    WebhookContext,
)

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from integration_hub.connectors.base import Connector
    from integration_hub.connectors.outbound import PartnerCalls

API_KEY = "STRIPE_SECRET_KEY"


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.stripe.webhook import StripeConnector

    return StripeConnector(tolerance_seconds=context.tolerance_seconds)


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.stripe.calls import DEFAULT_API_BASE
    from integration_hub.connectors.stripe.connect import StripeConnectCalls
    from integration_hub.connectors.stripe.settings import StripeSettings

    # HUB_STRIPE_* are the partner's own settings, read when a worker builds the calls.
    return StripeConnectCalls(
        context.secrets,
        env=context.settings.env,
        engine=context.engine,
        api_base=StripeSettings().api_base_url or DEFAULT_API_BASE,
    )


def _workflows() -> tuple[type, ...]:
    from integration_hub.connectors.stripe.workflows import STRIPE_WORKFLOWS

    return STRIPE_WORKFLOWS


def _routes(context: RoutesContext) -> APIRouter:
    from integration_hub.connectors.stripe.routes import connect_routes

    return connect_routes(context)


def _pages(context: RoutesContext) -> APIRouter:
    from integration_hub.connectors.stripe.pages import onboarding_pages

    return onboarding_pages(context)


def _cli() -> typer.Typer:
    from integration_hub.connectors.stripe.cli import stripe_app

    return stripe_app()


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
    routes=_routes,
    pages=_pages,
    cli_name="stripe",
    cli=_cli,
)
