"""Twilio: SMS and WhatsApp. `webhook` takes inbound messages and status callbacks; `messaging`
sends messages (Temporal activities over the official SDK); `workflows` runs a send;
`account` rotates the Auth Token."""

from __future__ import annotations

import secrets

from integration_hub.connectors.partner import Partner, Secret
from integration_hub.connectors.twilio.messaging import E164, TwilioMessaging
from integration_hub.connectors.twilio.webhook import TwilioWebhookConnector
from integration_hub.connectors.twilio.workflows import TWILIO_WORKFLOWS

PARTNER = Partner(
    name="twilio",
    priority="P0",
    summary="Messaging: SMS and WhatsApp in (messages, status, opt-outs) and out (sends).",
    capabilities=frozenset({"messaging"}),
    secrets=(
        Secret(
            "TWILIO_AUTH_TOKEN",
            format=r"[0-9a-f]{32}",
            used_for="webhook",
            # Shaped like a Twilio Auth Token (32 hex), so `hub send twilio ...` works locally.
            local=lambda: secrets.token_hex(16),
        ),
        Secret("TWILIO_ACCOUNT_SID", format=r"AC[0-9a-f]{32}"),
        Secret("TWILIO_WHATSAPP_NUMBER", format=E164.pattern),
        # SMS falls back to the WhatsApp number.
        Secret("TWILIO_SMS_FROM", format=rf"{E164.pattern}|MG[0-9a-f]{{32}}", required=False),
    ),
    webhook=lambda context: TwilioWebhookConnector(),
    calls=lambda context: TwilioMessaging(context.settings, context.secrets, context.engine),
    workflows=TWILIO_WORKFLOWS,
)
