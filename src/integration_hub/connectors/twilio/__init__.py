"""Twilio: SMS and WhatsApp. `webhook` takes inbound messages and status callbacks; `messaging`
sends messages (Temporal activities over the official SDK); `workflows` runs a send;
`account` and `rotation` rotate the Auth Token."""

from __future__ import annotations

import secrets

from integration_hub.connectors.partner import Partner, Secret
from integration_hub.connectors.twilio import rotation
from integration_hub.connectors.twilio.messaging import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SECRET_FORMATS,
    SMS_FROM,
    WHATSAPP_NUMBER,
    TwilioMessaging,
)
from integration_hub.connectors.twilio.routes import message_routes
from integration_hub.connectors.twilio.settings import TwilioSettings
from integration_hub.connectors.twilio.webhook import TwilioWebhookConnector
from integration_hub.connectors.twilio.workflows import TWILIO_WORKFLOWS

PARTNER = Partner(
    name="twilio",
    priority="P0",
    summary="Messaging: SMS and WhatsApp in (messages, status, opt-outs) and out (sends).",
    capabilities=frozenset({"messaging"}),
    secrets=(
        Secret(
            AUTH_TOKEN,
            format=SECRET_FORMATS[AUTH_TOKEN],
            used_for="webhook",
            # Shaped like a Twilio Auth Token (32 hex), so `hub send twilio ...` works locally.
            local=lambda: secrets.token_hex(16),
        ),
        Secret(ACCOUNT_SID, format=SECRET_FORMATS[ACCOUNT_SID]),
        Secret(WHATSAPP_NUMBER, format=SECRET_FORMATS[WHATSAPP_NUMBER]),
        # SMS falls back to the WhatsApp number.
        Secret(SMS_FROM, format=SECRET_FORMATS[SMS_FROM], required=False),
    ),
    webhook=lambda context: TwilioWebhookConnector(),
    # HUB_TWILIO_* are the partner's own settings, read when a worker builds the calls.
    calls=lambda context: TwilioMessaging(
        context.settings, context.secrets, context.engine, twilio=TwilioSettings()
    ),
    workflows=(*TWILIO_WORKFLOWS, rotation.RotateTwilioAuthTokenWorkflow),
    upkeep=rotation.upkeep,
    rotations=(rotation.ROTATION,),
    routes=message_routes,
)
