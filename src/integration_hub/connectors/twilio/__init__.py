"""Twilio: SMS, WhatsApp and the voice IVR. `webhook` takes inbound messages and status
callbacks, and answers calls with the IVR flow (`voice`, `ivr`, `ivr_machine`); `messaging`
sends messages (Temporal activities over the official SDK); `workflows` runs a send;
`account` and `rotation` rotate the Auth Token.

The declaration is static and cheap: the factories import the SDK and the modules that use it
only when the composition root calls them (`hub --help` reads every declaration).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from integration_hub.connectors.partner import (
    CallsContext,
    Partner,
    Rotation,
    RoutesContext,
    Secret,
    UpkeepContext,
    WebhookContext,
)

if TYPE_CHECKING:
    from fastapi import APIRouter
    from temporalio.client import Client

    from integration_hub.connectors.base import Connector
    from integration_hub.connectors.outbound import PartnerCalls

ACCOUNT_SID, AUTH_TOKEN = "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"
WHATSAPP_NUMBER, SMS_FROM = "TWILIO_WHATSAPP_NUMBER", "TWILIO_SMS_FROM"
E164_PATTERN = r"\+[1-9][0-9]{6,14}"
# The shape each secret's value has (regex, matched in full): `preflight` refuses to start on a
# malformed one, and the declaration below uses these for `hub doctor`.
SECRET_FORMATS: Mapping[str, str] = {
    AUTH_TOKEN: r"[0-9a-f]{32}",
    ACCOUNT_SID: r"AC[0-9a-f]{32}",
    WHATSAPP_NUMBER: E164_PATTERN,
    SMS_FROM: rf"{E164_PATTERN}|MG[0-9a-f]{{32}}",  # a number or a Messaging Service
}


WHATSAPP_PREFIX = "whatsapp:"


def whatsapp_number(value: str) -> tuple[str, str | None]:
    """TWILIO_WHATSAPP_NUMBER as +E.164. Twilio's console shows a WhatsApp sender as
    `whatsapp:+13055550100` and that is what users paste; the hub adds the channel prefix
    itself when it sends, so the prefix is dropped here (and the rest still has to be E.164)."""
    if value[: len(WHATSAPP_PREFIX)].lower() == WHATSAPP_PREFIX:
        return value[len(WHATSAPP_PREFIX) :], "whatsapp:+E.164 (read as +E.164)"
    return value, None


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.twilio.ivr import load_flow
    from integration_hub.connectors.twilio.settings import load_twilio_settings
    from integration_hub.connectors.twilio.voice import VoiceCallbacks
    from integration_hub.connectors.twilio.webhook import TwilioWebhookConnector

    # The IVR flow is loaded and checked here, when the hub builds its connectors: a flow file
    # that does not hold together stops the start (FlowError names the problem).
    twilio = load_twilio_settings()
    voice = VoiceCallbacks(
        load_flow(twilio.ivr_file),
        operator=twilio.operator_number,
        contact_language=context.contact_language,
    )
    return TwilioWebhookConnector(voice)


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.twilio.messaging import TwilioMessaging
    from integration_hub.connectors.twilio.settings import TwilioSettings

    # HUB_TWILIO_* are the partner's own settings, read when a worker builds the calls.
    return TwilioMessaging(
        context.settings, context.secrets, context.engine, twilio=TwilioSettings()
    )


def _workflows() -> tuple[type, ...]:
    from integration_hub.connectors.twilio.rotation import RotateTwilioAuthTokenWorkflow
    from integration_hub.connectors.twilio.workflows import TWILIO_WORKFLOWS

    return (*TWILIO_WORKFLOWS, RotateTwilioAuthTokenWorkflow)


def _upkeep(context: UpkeepContext) -> Sequence[Callable[..., Any]]:
    from integration_hub.connectors.twilio.rotation import upkeep

    return upkeep(context)


async def _rotation_schedule(
    client: Client, task_queue: str, value: str | None, every: timedelta
) -> str:
    from integration_hub.connectors.twilio.rotation import ensure_rotation_schedule

    return await ensure_rotation_schedule(client, task_queue, value, every)


def _routes(context: RoutesContext) -> APIRouter:
    from integration_hub.connectors.twilio.routes import message_routes

    return message_routes(context)


PARTNER = Partner(
    name="twilio",
    priority="P0",
    summary="Messaging: SMS and WhatsApp in (messages, status, opt-outs) and out (sends); a "
    "voice IVR (Spanish and English).",
    capabilities=frozenset({"messaging"}),
    secrets=(
        Secret(
            AUTH_TOKEN,
            format=SECRET_FORMATS[AUTH_TOKEN],
            used_for="webhook",
            # Shaped like a Twilio Auth Token (32 hex), so `hub send twilio ...` works locally.
            local=lambda: secrets.token_hex(16),
            source=(
                "Twilio Console > Account Dashboard > Account Info > Auth Token. It signs every "
                "webhook, the voice IVR's too: Phone Numbers > Manage > Active numbers > your "
                "number > Voice Configuration > A call comes in: Webhook, HTTP POST, "
                "HUB_PUBLIC_BASE_URL + /webhooks/twilio/voice; Call status changes: HTTP POST, "
                "HUB_PUBLIC_BASE_URL + /webhooks/twilio/voice?step=status"
            ),
        ),
        Secret(
            ACCOUNT_SID,
            format=SECRET_FORMATS[ACCOUNT_SID],
            source="Twilio Console > Account Dashboard > Account Info > Account SID",
        ),
        Secret(
            WHATSAPP_NUMBER,
            format=SECRET_FORMATS[WHATSAPP_NUMBER],
            source=(
                "Twilio Console > Messaging > Try it out > Send a WhatsApp message (the sandbox "
                "number), or Messaging > Senders > WhatsApp senders; +E.164 or whatsapp:+E.164"
            ),
            normalize=whatsapp_number,
        ),
        # SMS falls back to the WhatsApp number.
        Secret(
            SMS_FROM,
            format=SECRET_FORMATS[SMS_FROM],
            required=False,
            source=(
                "Twilio Console > Phone Numbers > Manage > Active numbers (+E.164), or "
                "Messaging > Services (an MG... Messaging Service SID)"
            ),
        ),
    ),
    webhook=_webhook,
    calls=_calls,
    workflows=_workflows,
    upkeep=_upkeep,
    rotations=(
        Rotation(
            secret=AUTH_TOKEN,
            option="twilio-auth-token",
            help="Also rotate the Twilio Auth Token (secondary, then promote).",
            schedule=_rotation_schedule,
        ),
    ),
    routes=_routes,
)
